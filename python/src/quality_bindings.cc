// Data-quality bindings: expectation suites (strata.quality.Suite) over Arrow streams and
// tables. Results cross as plain dicts; failing sample values as Arrow arrays (C data capsules)
// so that Python gets them with their types (timestamps, decimals) intact.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cmath>

#include <arrow/array.h>
#include <arrow/c/bridge.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include "bind_util.h"
#include "strata/quality/suite.h"

namespace strata_py {

namespace {

using namespace nb::literals;
using strata::quality::ExpectationResult;
using strata::quality::Report;
using strata::quality::Suite;
using strata::quality::Value;

[[noreturn]] void InvalidArgument(const std::string& msg) {
  Raise(strata::Error(strata::ErrorCode::kInvalidArgument, msg));
}

/// A Python value (from a dict describing an expectation) as a Value.
Value ToValue(nb::handle h, int depth = 0) {
  if (depth > 64) InvalidArgument("expectation arguments nest too deeply");
  if (h.is_none()) return Value();
  if (nb::isinstance<nb::bool_>(h)) return Value::Bool(nb::cast<bool>(h));
  if (nb::isinstance<nb::int_>(h)) {
    int64_t v;
    if (nb::try_cast<int64_t>(h, v)) return Value::Int(v);
    return Value::Double(nb::cast<double>(nb::float_(h)));
  }
  if (nb::isinstance<nb::float_>(h)) return Value::Double(nb::cast<double>(h));
  if (nb::isinstance<nb::str>(h)) return Value::String(nb::cast<std::string>(h));
  if (nb::isinstance<nb::dict>(h)) {
    Value::Map m;
    for (auto [k, v] : nb::borrow<nb::dict>(h)) {
      if (!nb::isinstance<nb::str>(k)) InvalidArgument("expectation argument names must be strings");
      m.emplace_back(nb::cast<std::string>(k), ToValue(v, depth + 1));
    }
    return Value::MakeMap(std::move(m));
  }
  if (nb::hasattr(h, "isoformat")) return Value::String(nb::cast<std::string>(h.attr("isoformat")()));  // dates
  if (nb::isinstance<nb::list>(h) || nb::isinstance<nb::tuple>(h) || nb::isinstance<nb::set>(h) ||
      nb::isinstance<nb::frozenset>(h)) {
    Value::List l;
    for (auto item : h) l.push_back(ToValue(item, depth + 1));
    return Value::MakeList(std::move(l));
  }
  if (nb::hasattr(h, "tolist")) return ToValue(h.attr("tolist")(), depth + 1);  // numpy arrays and scalars
  InvalidArgument("unsupported expectation argument value: " + nb::cast<std::string>(nb::repr(h)));
}

nb::object FromValue(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull: return nb::none();
    case Value::Kind::kBool: return nb::bool_(v.as_bool());
    case Value::Kind::kInt: return nb::int_(v.as_int());
    case Value::Kind::kDouble: return nb::float_(v.as_double());
    case Value::Kind::kString: return nb::str(v.as_string().c_str(), v.as_string().size());
    case Value::Kind::kList: {
      nb::list l;
      for (const auto& x : v.as_list()) l.append(FromValue(x));
      return l;
    }
    case Value::Kind::kMap: {
      nb::dict d;
      for (const auto& [k, x] : v.as_map()) d[nb::str(k.c_str(), k.size())] = FromValue(x);
      return d;
    }
  }
  return nb::none();
}

/// (schema capsule, array capsule) of an array, for pyarrow.Array._import_from_c_capsule.
nb::object ExportArray(const std::shared_ptr<arrow::Array>& array) {
  auto* schema = new ArrowSchema;
  auto* arr = new ArrowArray;
  auto st = arrow::ExportArray(*array, arr, schema);
  if (!st.ok()) {
    delete schema;
    delete arr;
    Raise(st);
  }
  PyObject* sc = PyCapsule_New(schema, "arrow_schema", [](PyObject* c) {
    auto* s = static_cast<ArrowSchema*>(PyCapsule_GetPointer(c, "arrow_schema"));
    if (s == nullptr) {
      PyErr_Clear();
      return;
    }
    if (s->release != nullptr) s->release(s);
    delete s;
  });
  PyObject* ac = PyCapsule_New(arr, "arrow_array", [](PyObject* c) {
    auto* a = static_cast<ArrowArray*>(PyCapsule_GetPointer(c, "arrow_array"));
    if (a == nullptr) {
      PyErr_Clear();
      return;
    }
    if (a->release != nullptr) a->release(a);
    delete a;
  });
  return nb::make_tuple(nb::steal(sc), nb::steal(ac));
}

strata::quality::ValidateOptions Options(int max_samples, int threads, std::optional<int64_t> now_us) {
  strata::quality::ValidateOptions o;
  o.max_samples = max_samples;
  o.threads = threads;
  o.now_us = now_us;
  return o;
}

class PyReport {
 public:
  explicit PyReport(Report r) : r_(std::move(r)) {}
  bool success() const { return r_.success; }
  int64_t row_count() const { return r_.row_count; }
  std::string suite_name() const { return r_.suite_name; }
  std::optional<std::string> table_path() const {
    return r_.table_path.empty() ? std::nullopt : std::optional<std::string>(r_.table_path);
  }
  std::optional<int64_t> table_version() const { return r_.table_version; }
  double elapsed_seconds() const { return r_.elapsed_seconds; }
  std::string to_json() const { return r_.ToJson(); }
  std::string to_string() const { return r_.ToString(); }

  nb::list results() const {
    nb::list out;
    for (const auto& x : r_.results) {
      nb::dict d;
      d["type"] = x.type;
      d["name"] = x.name;
      d["column"] = x.column.empty() ? nb::none() : nb::cast(x.column);
      d["columns"] = nb::cast(x.columns);
      d["kwargs"] = FromValue(x.kwargs);
      d["origin"] = x.origin.empty() ? nb::none() : nb::cast(x.origin);
      d["success"] = x.success;
      d["element_count"] = x.element_count ? nb::cast(*x.element_count) : nb::none();
      d["unexpected_count"] = x.unexpected_count ? nb::cast(*x.unexpected_count) : nb::none();
      d["unexpected_percent"] = x.unexpected_percent ? nb::cast(*x.unexpected_percent) : nb::none();
      d["observed_value"] = FromValue(x.observed_value);
      d["samples"] = x.unexpected_samples ? ExportArray(x.unexpected_samples) : nb::none();
      d["error"] = x.error.empty() ? nb::none() : nb::cast(x.error);
      out.append(d);
    }
    return out;
  }

 private:
  Report r_;
};

class PySuite {
 public:
  explicit PySuite(Suite s) : s_(std::move(s)) {}

  static PySuite FromYamlFile(const std::string& path) { return PySuite(Unwrap(Suite::FromYamlFile(path))); }
  static PySuite FromYamlString(const std::string& text, const std::string& source) {
    return PySuite(Unwrap(Suite::FromYamlString(text, source)));
  }
  /// expectations: a list of dicts, each with "type" and its arguments.
  static PySuite Make(const std::string& name, nb::list expectations, const std::string& base_dir) {
    std::vector<strata::quality::ExpectationSpec> specs;
    int i = 0;
    for (auto item : expectations) {
      ++i;
      if (!nb::isinstance<nb::dict>(item)) {
        InvalidArgument("expectation " + std::to_string(i) + " must be a dict such as {'type': 'not_null', 'column': 'id'}");
      }
      strata::quality::ExpectationSpec spec;
      Value::Map args;
      for (auto [k, v] : nb::borrow<nb::dict>(item)) {
        if (!nb::isinstance<nb::str>(k)) InvalidArgument("expectation " + std::to_string(i) + ": keys must be strings");
        std::string key = nb::cast<std::string>(k);
        if (key == "type") {
          if (!nb::isinstance<nb::str>(v)) InvalidArgument("expectation " + std::to_string(i) + ": 'type' must be a string");
          spec.type = nb::cast<std::string>(v);
        } else {
          args.emplace_back(key, ToValue(v));
        }
      }
      spec.args = Value::MakeMap(std::move(args));
      specs.push_back(std::move(spec));
    }
    return PySuite(Unwrap(Suite::Make(name, std::move(specs), base_dir)));
  }

  std::string name() const { return s_.name(); }
  std::vector<std::string> required_columns() const { return s_.RequiredColumns(); }
  nb::list expectations() const {
    nb::list out;
    for (const auto& e : s_.expectations()) {
      nb::dict d;
      d["type"] = e.type;
      for (const auto& [k, v] : e.args.as_map()) d[nb::str(k.c_str(), k.size())] = FromValue(v);
      out.append(d);
    }
    return out;
  }
  std::vector<std::string> origins() const {
    std::vector<std::string> out;
    for (const auto& e : s_.expectations()) out.push_back(e.origin);
    return out;
  }

  PyReport ValidateStream(nb::object capsule, int max_samples, int threads, std::optional<int64_t> now_us) const {
    auto reader = ImportReader(std::move(capsule));
    auto o = Options(max_samples, threads, now_us);
    nb::gil_scoped_release release;
    return PyReport(Unwrap(s_.Validate(std::move(reader), o)));
  }

  PyReport ValidateTable(const std::string& path, std::optional<int64_t> version, int max_samples, int threads,
                         std::optional<int64_t> now_us) const {
    auto store = Store(path);
    auto o = Options(max_samples, threads, now_us);
    nb::gil_scoped_release release;
    return PyReport(Unwrap(s_.ValidateTable(store, version, o)));
  }

  /// A stream of (failed: bool, reasons: string) batches, one per input batch.
  nb::object FailingRows(nb::object capsule) const {
    auto reader = ImportReader(std::move(capsule));
    std::shared_ptr<arrow::Table> out;
    {
      nb::gil_scoped_release release;
      auto checker = Unwrap(s_.MakeRowChecker(reader->schema()));
      auto schema = arrow::schema({arrow::field("failed", arrow::boolean(), false), arrow::field("reasons", arrow::utf8())});
      arrow::RecordBatchVector batches;
      while (true) {
        auto batch = Unwrap(reader->Next());
        if (!batch) break;
        auto f = Unwrap(checker->Check(batch));
        batches.push_back(arrow::RecordBatch::Make(schema, batch->num_rows(), arrow::ArrayVector{f.failed, f.reasons}));
      }
      out = Unwrap(arrow::Table::FromRecordBatches(schema, batches));
    }
    return ExportReader(std::make_shared<arrow::TableBatchReader>(out));
  }

 private:
  Suite s_;
};

nb::list ExpectationTypes() {
  nb::list out;
  for (const auto& t : strata::quality::ExpectationTypes()) {
    nb::dict d;
    d["name"] = t.name;
    d["kind"] = t.kind == strata::quality::ExpectationKind::kRow         ? "row"
                : t.kind == strata::quality::ExpectationKind::kAggregate ? "aggregate"
                                                                         : "schema";
    d["doc"] = t.doc;
    nb::list args;
    for (const auto& a : t.arguments) {
      nb::dict ad;
      ad["name"] = a.name;
      ad["type"] = a.type;
      ad["required"] = a.required;
      ad["doc"] = a.doc;
      args.append(ad);
    }
    d["arguments"] = args;
    out.append(d);
  }
  return out;
}

}  // namespace

void BindQuality(nb::module_& m) {
  nb::class_<PyReport>(m, "_QualityReport")
      .def_prop_ro("success", &PyReport::success)
      .def_prop_ro("row_count", &PyReport::row_count)
      .def_prop_ro("suite_name", &PyReport::suite_name)
      .def_prop_ro("table_path", &PyReport::table_path)
      .def_prop_ro("table_version", &PyReport::table_version)
      .def_prop_ro("elapsed_seconds", &PyReport::elapsed_seconds)
      .def("results", &PyReport::results)
      .def("to_json", &PyReport::to_json)
      .def("to_string", &PyReport::to_string);

  nb::class_<PySuite>(m, "_QualitySuite")
      .def_static("from_yaml_file", &PySuite::FromYamlFile, "path"_a)
      .def_static("from_yaml_string", &PySuite::FromYamlString, "text"_a, "source"_a = "<string>")
      .def_static("make", &PySuite::Make, "name"_a, "expectations"_a, "base_dir"_a = "")
      .def_prop_ro("name", &PySuite::name)
      .def("required_columns", &PySuite::required_columns)
      .def("expectations", &PySuite::expectations)
      .def("origins", &PySuite::origins)
      .def("validate_stream", &PySuite::ValidateStream, "stream"_a, "max_samples"_a = 5, "threads"_a = 0,
           "now_us"_a = nb::none())
      .def("validate_table", &PySuite::ValidateTable, "path"_a, "version"_a = nb::none(), "max_samples"_a = 5,
           "threads"_a = 0, "now_us"_a = nb::none())
      .def("failing_rows", &PySuite::FailingRows, "stream"_a);

  m.def("expectation_types", &ExpectationTypes);
}

}  // namespace strata_py
