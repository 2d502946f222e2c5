// Feature-store bindings: the point-in-time (as-of) join behind training-set retrieval
// (strata/exec/asof_join.h). Frames cross as Arrow C streams; each feature view is a plain dict.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/table.h>

#include "bind_util.h"
#include "strata/exec/asof_join.h"

namespace strata_py {

namespace {

using namespace nb::literals;

[[noreturn]] void InvalidArgument(const std::string& msg) {
  Raise(strata::Error(strata::ErrorCode::kInvalidArgument, msg));
}

/// An Arrow stream from a PyCapsule "arrow_array_stream" or from any object with
/// __arrow_c_stream__ (pyarrow tables and readers, polars, DuckDB results).
std::shared_ptr<arrow::RecordBatchReader> StreamOf(nb::handle obj, const std::string& what) {
  if (PyCapsule_CheckExact(obj.ptr())) return ImportReader(nb::borrow(obj));
  if (nb::hasattr(obj, "__arrow_c_stream__")) return ImportReader(obj.attr("__arrow_c_stream__")());
  InvalidArgument(what + " must be an Arrow C stream capsule or have __arrow_c_stream__");
}

std::vector<std::string> Strings(nb::handle v, const std::string& what) {
  if (nb::isinstance<nb::str>(v)) return {nb::cast<std::string>(v)};
  std::vector<std::string> out;
  if (!nb::try_cast(v, out)) InvalidArgument(what + " must be a list of strings");
  return out;
}

const std::set<std::string>& ViewKeys() {
  static const std::set<std::string> keys = {"name",
                                             "data",
                                             "join_keys",
                                             "entity_keys",
                                             "timestamp_column",
                                             "created_timestamp_column",
                                             "ttl_us",
                                             "features",
                                             "output_names"};
  return keys;
}

/// One view dict as an AsOfView (its "data" stream imported).
strata::exec::AsOfView ToView(nb::handle h, size_t index) {
  if (!nb::isinstance<nb::dict>(h)) InvalidArgument("views[" + std::to_string(index) + "] must be a dict");
  auto d = nb::borrow<nb::dict>(h);
  for (auto [k, v] : d) {
    std::string key = nb::cast<std::string>(nb::str(k));
    if (!ViewKeys().count(key)) {
      InvalidArgument("views[" + std::to_string(index) + "]: unknown key '" + key +
                      "' (known: name, data, join_keys, entity_keys, timestamp_column, created_timestamp_column, "
                      "ttl_us, features, output_names)");
    }
  }
  auto get = [&](const char* key, bool required) -> nb::object {
    if (d.contains(key) && !d[key].is_none()) return d[key];
    if (required) InvalidArgument("views[" + std::to_string(index) + "]: missing '" + key + "'");
    return nb::none();
  };
  strata::exec::AsOfView v;
  v.name = nb::cast<std::string>(get("name", true));
  std::string what = "feature view '" + v.name + "'";
  v.join_keys = Strings(get("join_keys", true), what + ": join_keys");
  if (auto e = get("entity_keys", false); !e.is_none()) v.entity_keys = Strings(e, what + ": entity_keys");
  v.timestamp_column = nb::cast<std::string>(get("timestamp_column", true));
  if (auto c = get("created_timestamp_column", false); !c.is_none()) {
    v.created_timestamp_column = nb::cast<std::string>(c);
  }
  if (auto t = get("ttl_us", false); !t.is_none()) {
    int64_t ttl = 0;
    if (!nb::try_cast(t, ttl)) InvalidArgument(what + ": ttl_us must be an integer (microseconds)");
    v.ttl_us = ttl;
  }
  v.features = Strings(get("features", true), what + ": features");
  if (auto o = get("output_names", false); !o.is_none()) v.output_names = Strings(o, what + ": output_names");
  v.rows = StreamOf(get("data", true), what + ": data");
  return v;
}

nb::object PointInTimeJoin(nb::object entity, nb::list views, const std::string& entity_timestamp_column,
                           bool full_feature_names, std::optional<int64_t> memory_budget_bytes,
                           std::optional<int> partitions, std::optional<int> parallelism,
                           std::optional<std::string> spill_dir, bool return_stats) {
  strata::exec::AsOfJoinOptions o;
  o.entity_timestamp_column = entity_timestamp_column;
  o.full_feature_names = full_feature_names;
  if (memory_budget_bytes) o.memory_budget_bytes = *memory_budget_bytes;
  if (partitions) o.partitions = *partitions;
  if (parallelism) o.parallelism = *parallelism;
  if (spill_dir) o.spill_dir = *spill_dir;
  std::vector<strata::exec::AsOfView> vs;
  for (size_t i = 0; i < views.size(); ++i) vs.push_back(ToView(views[i], i));
  auto reader = StreamOf(entity, "entity");
  strata::exec::AsOfJoinStats stats;
  std::shared_ptr<arrow::Table> out;
  {
    nb::gil_scoped_release release;
    out = Unwrap(strata::exec::PointInTimeJoin(std::move(reader), std::move(vs), o, &stats));
  }
  nb::object capsule = ExportReader(std::make_shared<arrow::TableBatchReader>(out));
  if (!return_stats) return capsule;
  nb::dict s;
  s["entity_rows"] = stats.entity_rows;
  s["feature_rows"] = stats.feature_rows;
  s["views_spilled"] = stats.views_spilled;
  s["spill_files"] = stats.spill_files;
  s["spill_bytes"] = stats.spill_bytes;
  s["max_spill_depth"] = stats.max_spill_depth;
  return nb::make_tuple(capsule, s);
}

}  // namespace

void BindFeatures(nb::module_& m) {
  m.def("point_in_time_join", &PointInTimeJoin, "entity"_a, "views"_a,
        "entity_timestamp_column"_a = "event_timestamp", "full_feature_names"_a = false,
        "memory_budget_bytes"_a = nb::none(), "partitions"_a = nb::none(), "parallelism"_a = nb::none(),
        "spill_dir"_a = nb::none(), "return_stats"_a = false,
        "Point-in-time join of an entity frame with feature views (strata/exec/asof_join.h). entity: an "
        "Arrow C stream capsule or an object with __arrow_c_stream__. views: dicts with keys name, data "
        "(stream), join_keys, entity_keys (optional, default join_keys), timestamp_column, "
        "created_timestamp_column (optional), ttl_us (optional, microseconds), features, output_names "
        "(optional). Returns an Arrow C stream capsule, or (capsule, stats dict) with return_stats=True.");
}

}  // namespace strata_py
