// Online retrieval in-process (features/online_serving.h): the same code the feature server runs,
// so `FeatureStore.get_online_features` and `POST /get-online-features` cannot disagree.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bind_util.h"
#include "strata/features/online_serving.h"
#include "strata/features/registry.h"

namespace strata_py {

namespace {

using namespace nb::literals;
using strata::online::FeatureValue;
using strata::online::JoinKeyValue;

[[noreturn]] void InvalidArgument(const std::string& msg) {
  Raise(strata::Error(strata::ErrorCode::kInvalidArgument, msg));
}

bool IsInt(PyObject* o) { return !PyBool_Check(o) && (PyLong_Check(o) || PyIndex_Check(o)); }

int64_t ToInt64(PyObject* o, const std::string& where) {
  PyObject* idx = PyNumber_Index(o);
  if (idx == nullptr) throw nb::python_error();
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(idx, &overflow);
  Py_DECREF(idx);
  if (overflow != 0) InvalidArgument(where + " is out of the int64 range");
  if (v == -1 && PyErr_Occurred()) throw nb::python_error();
  return v;
}

std::string TypeName(nb::handle h) { return nb::cast<std::string>(nb::str(nb::handle(reinterpret_cast<PyObject*>(Py_TYPE(h.ptr()))).attr("__name__"))); }

FeatureValue ToValue(nb::handle h, const std::string& where) {
  PyObject* o = h.ptr();
  if (h.is_none()) return FeatureValue{};
  if (PyBool_Check(o)) return FeatureValue(o == Py_True);
  if (IsInt(o)) return FeatureValue(ToInt64(o, where));
  if (PyFloat_Check(o)) return FeatureValue(PyFloat_AsDouble(o));
  if (PyUnicode_Check(o)) return FeatureValue(nb::cast<std::string>(h));
  if (PyBytes_Check(o)) return FeatureValue(std::string(PyBytes_AsString(o), static_cast<size_t>(PyBytes_Size(o))));
  if (nb::hasattr(h, "dtype") && nb::hasattr(h, "item") && !nb::hasattr(h, "__len__")) {
    return ToValue(h.attr("item")(), where);  // a numpy scalar
  }
  if (PyList_Check(o) || PyTuple_Check(o) || nb::hasattr(h, "tolist")) {
    nb::object seq = nb::hasattr(h, "tolist") ? h.attr("tolist")() : nb::borrow(h);
    std::vector<float> out;
    size_t i = 0;
    for (nb::handle x : seq) {
      if (!(PyFloat_Check(x.ptr()) || IsInt(x.ptr())) || PyBool_Check(x.ptr())) {
        InvalidArgument(where + "[" + std::to_string(i) + "] is " + TypeName(x) + "; a list value must hold numbers");
      }
      double d = PyFloat_AsDouble(x.ptr());
      if (d == -1.0 && PyErr_Occurred()) throw nb::python_error();
      out.push_back(static_cast<float>(d));
      ++i;
    }
    return FeatureValue(std::move(out));
  }
  if (PyFloat_Check(o) || nb::hasattr(h, "__float__")) {
    double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) throw nb::python_error();
    return FeatureValue(d);
  }
  InvalidArgument(where + " has unsupported type " + TypeName(h));
}

std::vector<nb::handle> Items(nb::handle column, const std::string& where) {
  if (PyUnicode_Check(column.ptr()) || PyBytes_Check(column.ptr()) || !nb::hasattr(column, "__iter__")) {
    InvalidArgument(where + " must be a list of values, got " + TypeName(column));
  }
  std::vector<nb::handle> out;
  nb::object seq = nb::hasattr(column, "to_pylist") ? column.attr("to_pylist")() : nb::borrow(column);
  for (nb::handle x : seq) out.push_back(x);
  return out;
}

/// entities: join key columns (all ints or all strings); any other column counts as request data.
void AddEntities(nb::dict entities, strata::features::OnlineRequest* req, std::vector<nb::object>* keep) {
  for (auto [k, v] : entities) {
    std::string name = nb::cast<std::string>(nb::str(k));
    nb::object seq = nb::hasattr(v, "to_pylist") ? v.attr("to_pylist")() : nb::borrow(v);
    keep->push_back(seq);
    std::vector<nb::handle> items = Items(seq, "entity '" + name + "'");
    bool all_int = !items.empty(), all_str = !items.empty();
    for (nb::handle x : items) {
      all_int &= IsInt(x.ptr());
      all_str &= PyUnicode_Check(x.ptr()) != 0;
    }
    if (all_int || all_str || items.empty()) {
      std::vector<JoinKeyValue> values;
      values.reserve(items.size());
      for (size_t i = 0; i < items.size(); ++i) {
        if (all_int) {
          values.emplace_back(ToInt64(items[i].ptr(), "entity '" + name + "' value " + std::to_string(i)));
        } else {
          values.emplace_back(nb::cast<std::string>(items[i]));
        }
      }
      req->entities.emplace_back(std::move(name), std::move(values));
      continue;
    }
    std::vector<FeatureValue> values;
    values.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      values.push_back(ToValue(items[i], "entity '" + name + "' value " + std::to_string(i)));
    }
    req->request_data.emplace_back(std::move(name), std::move(values));
  }
}

nb::object ToPython(const std::optional<FeatureValue>& v) {
  using strata::online::ValueType;
  if (!v) return nb::none();
  switch (strata::online::TypeOf(*v)) {
    case ValueType::kNull: return nb::none();
    case ValueType::kBool: return nb::bool_(std::get<bool>(*v));
    case ValueType::kInt64: return nb::int_(std::get<int64_t>(*v));
    case ValueType::kDouble: return nb::float_(std::get<double>(*v));
    case ValueType::kString: {
      const auto& s = std::get<std::string>(*v);
      PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
      if (o == nullptr) throw nb::python_error();
      return nb::steal(o);
    }
    case ValueType::kFloatList: {
      nb::list out;
      for (float f : std::get<std::vector<float>>(*v)) out.append(nb::float_(static_cast<double>(f)));
      return out;
    }
  }
  return nb::none();
}

/// One OnlineServing with the store it reads.
class PyOnlineServing {
 public:
  PyOnlineServing(const std::string& registry_json, const std::string& root, std::optional<nb::dict> store_config) {
    strata::features::Repository repo = Unwrap(strata::features::RepositoryFromJson(registry_json, root));
    strata::online::OnlineStoreConfig config = repo.online;
    if (store_config) {
      for (auto [k, v] : *store_config) {
        std::string key = nb::cast<std::string>(nb::str(k));
        if (key == "type") {
          config.type = nb::cast<std::string>(v);
        } else if (key == "path") {
          config.path = nb::cast<std::string>(v);
        } else if (key == "url") {
          config.url = nb::cast<std::string>(v);
        } else if (key == "key_prefix") {
          config.key_prefix = nb::cast<std::string>(v);
        } else if (key == "read_only") {
          config.read_only = nb::cast<bool>(v);
        } else {
          InvalidArgument("store_config: unknown key '" + key + "' (type, path, url, key_prefix, read_only)");
        }
      }
    }
    Init(std::move(repo), config, -1);
  }

  static PyOnlineServing* Open(const std::string& repo_root, bool read_only, std::optional<int64_t> version) {
    auto* self = new PyOnlineServing();
    try {
      strata::features::RegistryStore registry(repo_root);
      strata::features::RegistryVersion v;
      {
        nb::gil_scoped_release release;
        if (version) {
          v = Unwrap(registry.Get(*version));
        } else {
          auto latest = Unwrap(registry.Latest());
          if (!latest) {
            InvalidArgument("no registry applied in " + repo_root + " yet: run `strata apply` first");
          }
          v = std::move(*latest);
        }
      }
      strata::features::Repository repo = Unwrap(strata::features::RepositoryFromJson(v.json, registry.root()));
      strata::online::OnlineStoreConfig config = repo.online;
      config.read_only = read_only && config.type == "rocksdb";
      self->Init(std::move(repo), config, v.version);
    } catch (...) {
      delete self;
      throw;
    }
    return self;
  }

  nb::dict Get(std::optional<std::vector<std::string>> features, std::optional<std::string> feature_service,
               nb::dict entities, std::optional<nb::dict> request_data, bool full_feature_names,
               std::optional<int64_t> now_us) {
    strata::features::OnlineRequest req;
    if (features) req.features = std::move(*features);
    if (feature_service) req.feature_service = std::move(*feature_service);
    std::vector<nb::object> keep;  // the sequences whose items we hold handles to
    AddEntities(entities, &req, &keep);
    if (request_data) {
      for (auto [k, v] : *request_data) {
        std::string name = nb::cast<std::string>(nb::str(k));
        nb::object seq = nb::hasattr(v, "to_pylist") ? v.attr("to_pylist")() : nb::borrow(v);
        std::vector<FeatureValue> values;
        size_t i = 0;
        for (nb::handle x : Items(seq, "request data '" + name + "'")) {
          values.push_back(ToValue(x, "request data '" + name + "' value " + std::to_string(i++)));
        }
        req.request_data.emplace_back(std::move(name), std::move(values));
      }
    }
    req.full_feature_names = full_feature_names;
    req.now_us = now_us;
    auto serving = Current();
    strata::features::OnlineResponse res;
    {
      nb::gil_scoped_release release;
      res = Unwrap(serving->Get(req));
    }
    nb::list names, values, statuses, stamps;
    for (size_t c = 0; c < res.columns.size(); ++c) {
      const auto& col = res.columns[c];
      names.append(nb::str(res.feature_names[c].c_str()));
      nb::list v, s, t;
      for (size_t r = 0; r < res.num_rows; ++r) {
        v.append(ToPython(col.values[r]));
        s.append(nb::str(strata::online::FeatureStatusName(col.statuses[r])));
        t.append(nb::int_(col.event_ts_us[r]));
      }
      values.append(v);
      statuses.append(s);
      stamps.append(t);
    }
    nb::dict d;
    d["feature_names"] = names;
    d["values"] = values;
    d["statuses"] = statuses;
    d["event_timestamps"] = stamps;
    d["num_entity_columns"] = res.num_entity_columns;
    return d;
  }

  /// Catches a read-only RocksDB store up with its writer (a no-op for other stores).
  void Refresh() {
    auto serving = Current();
    nb::gil_scoped_release release;
    Check(serving->store().Refresh());
  }

  void Close() {
    std::shared_ptr<strata::online::OnlineStore> store;
    {
      std::lock_guard<std::mutex> lock(mu_);
      serving_.reset();
      store = std::move(store_);
    }
    if (store) {
      nb::gil_scoped_release release;
      Check(store->Close());
    }
  }

  int64_t registry_version() const { return version_; }
  std::string store_kind() {
    return std::string(Current()->store().kind());
  }
  std::string project() { return Current()->repository().project; }

 private:
  PyOnlineServing() = default;

  void Init(strata::features::Repository repo, const strata::online::OnlineStoreConfig& config, int64_t version) {
    auto shared = std::make_shared<const strata::features::Repository>(std::move(repo));
    std::shared_ptr<strata::online::OnlineStore> store;
    std::unique_ptr<strata::features::OnlineServing> serving;
    {
      nb::gil_scoped_release release;
      store = Unwrap(strata::features::OpenServingStore(config));
      serving = Unwrap(strata::features::OnlineServing::Make(shared, store));
    }
    std::lock_guard<std::mutex> lock(mu_);
    store_ = std::move(store);
    serving_ = std::move(serving);
    version_ = version;
  }

  std::shared_ptr<const strata::features::OnlineServing> Current() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!serving_) InvalidArgument("this OnlineServing is closed");
    return serving_;
  }

  std::mutex mu_;
  std::shared_ptr<strata::online::OnlineStore> store_;
  std::shared_ptr<const strata::features::OnlineServing> serving_;
  int64_t version_ = -1;
};

}  // namespace

void BindServing(nb::module_& m) {
  nb::class_<PyOnlineServing>(m, "OnlineServing",
                              "Online retrieval over a registry and its online store (features/online_serving.h).")
      .def(nb::init<const std::string&, const std::string&, std::optional<nb::dict>>(), "registry_json"_a, "root"_a,
           "store_config"_a = nb::none(),
           "From a registry's canonical JSON; store_config overrides its online block (type, path, url, "
           "key_prefix, read_only).")
      .def_static("open", &PyOnlineServing::Open, "repo_root"_a, "read_only"_a = true, "version"_a = nb::none(),
                  nb::rv_policy::take_ownership,
                  "The repository's applied registry (latest, or `version`) with its online store; read_only "
                  "opens RocksDB as a secondary that follows the writing process (see refresh()).")
      .def("get", &PyOnlineServing::Get, "features"_a = nb::none(), "feature_service"_a = nb::none(),
           "entities"_a, "request_data"_a = nb::none(), "full_feature_names"_a = false, "now_us"_a = nb::none(),
           "Online features for entity columns {name: [values]} -> {feature_names, values, statuses, "
           "event_timestamps (microseconds; 0 when none), num_entity_columns}, one list per column, entity "
           "columns first. Columns that are not all ints or all strings count as request data.")
      .def("refresh", &PyOnlineServing::Refresh)
      .def("close", &PyOnlineServing::Close)
      .def_prop_ro("registry_version", &PyOnlineServing::registry_version)
      .def_prop_ro("store_kind", &PyOnlineServing::store_kind)
      .def_prop_ro("project", &PyOnlineServing::project);
}

}  // namespace strata_py
