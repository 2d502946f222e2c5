// Helpers shared by the binding files of the strata._strata extension: error translation and
// Arrow C stream/schema capsules. Each binding file registers its functions through a Bind*()
// function declared at the bottom and called from module.cc.
#pragma once

#include <nanobind/nanobind.h>

#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <memory>
#include <string>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"

namespace strata_py {

namespace nb = nanobind;

/// Carries a failed Status to the exception translator.
struct StrataError : std::exception {
  std::string code;
  std::string message;
  StrataError(std::string c, std::string m) : code(std::move(c)), message(std::move(m)) {}
  const char* what() const noexcept override { return message.c_str(); }
};

[[noreturn]] inline void Raise(const arrow::Status& st) {
  auto* d = strata::GetDetail(st);
  std::string code = d ? strata::ErrorCodeName(d->code()) : (st.IsInvalid() ? "InvalidArgument" : "Error");
  if (!d && st.IsIOError()) code = "IOError";
  throw StrataError(code, st.message());
}

inline void Check(const arrow::Status& st) {
  if (!st.ok()) Raise(st);
}

template <typename T>
T Unwrap(arrow::Result<T> r) {
  if (!r.ok()) Raise(r.status());
  return std::move(r).ValueUnsafe();
}

inline void ReleaseStreamCapsule(PyObject* capsule) {
  auto* stream = static_cast<ArrowArrayStream*>(PyCapsule_GetPointer(capsule, "arrow_array_stream"));
  if (stream == nullptr) {
    PyErr_Clear();
    return;
  }
  if (stream->release != nullptr) stream->release(stream);
  delete stream;
}

inline nb::object ExportReader(std::shared_ptr<arrow::RecordBatchReader> reader) {
  auto* stream = new ArrowArrayStream;
  auto st = arrow::ExportRecordBatchReader(std::move(reader), stream);
  if (!st.ok()) {
    delete stream;
    Raise(st);
  }
  PyObject* cap = PyCapsule_New(stream, "arrow_array_stream", ReleaseStreamCapsule);
  if (cap == nullptr) {
    stream->release(stream);
    delete stream;
    throw nb::python_error();
  }
  return nb::steal(cap);
}

inline std::shared_ptr<arrow::RecordBatchReader> ImportReader(nb::object capsule) {
  auto* stream = static_cast<ArrowArrayStream*>(PyCapsule_GetPointer(capsule.ptr(), "arrow_array_stream"));
  if (stream == nullptr) throw nb::python_error();
  // Moves the stream out of the capsule: the capsule's destructor then sees a released stream.
  return Unwrap(arrow::ImportRecordBatchReader(stream));
}

inline nb::object ExportSchema(const arrow::Schema& schema) {
  auto* c = new ArrowSchema;
  auto st = arrow::ExportSchema(schema, c);
  if (!st.ok()) {
    delete c;
    Raise(st);
  }
  PyObject* cap = PyCapsule_New(c, "arrow_schema", [](PyObject* capsule) {
    auto* s = static_cast<ArrowSchema*>(PyCapsule_GetPointer(capsule, "arrow_schema"));
    if (s == nullptr) {
      PyErr_Clear();
      return;
    }
    if (s->release != nullptr) s->release(s);
    delete s;
  });
  return nb::steal(cap);
}

inline std::shared_ptr<strata::storage::ObjectStore> Store(const std::string& path) {
  return Unwrap(strata::storage::OpenStore(path));
}

/// Registers the data-quality functions (quality_bindings.cc).
void BindQuality(nb::module_& m);
/// Registers the data-contract functions (contract_bindings.cc).
void BindContract(nb::module_& m);
/// Registers the point-in-time join (features_bindings.cc).
void BindFeatures(nb::module_& m);
/// Registers the profiling and drift functions (profile_bindings.cc).
void BindProfile(nb::module_& m);
/// Registers the run-monitoring functions (monitor_bindings.cc).
void BindMonitor(nb::module_& m);
/// Registers online retrieval, the class OnlineServing (serving_bindings.cc).
void BindServing(nb::module_& m);

}  // namespace strata_py
