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

#include <nanobind/stl/function.h>

#include "bind_util.h"
#include "strata/exec/asof_join.h"
#include "strata/expr/expr.h"
#include "strata/features/materialize.h"
#include "strata/features/registry.h"

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

// ---- registry ---------------------------------------------------------------------------------

std::string RegistryLoad(const std::string& dir, bool validate_sources) {
  nb::gil_scoped_release release;
  auto repo = Unwrap(strata::features::LoadRepository(dir));
  if (validate_sources) Check(strata::features::ValidateSources(repo));
  return repo.ToJson();
}

nb::dict RegistryApply(const std::string& dir, bool dry_run) {
  strata::features::ApplyResult r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(strata::features::Apply(dir, dry_run));
  }
  nb::list plan;
  for (const auto& item : r.plan) plan.append(item.ToString());
  nb::dict d;
  d["plan"] = plan;
  d["version"] = r.version;
  return d;
}

nb::dict VersionDict(const strata::features::RegistryVersion& v) {
  nb::dict d;
  d["version"] = v.version;
  d["applied_at_us"] = v.applied_at_us;
  d["project"] = v.project;
  d["registry_json"] = v.json;
  nb::list plan;
  for (const auto& p : v.plan) plan.append(p);
  d["plan"] = plan;
  return d;
}

nb::list RegistryHistory(const std::string& root) {
  std::vector<strata::features::RegistryVersion> all;
  {
    nb::gil_scoped_release release;
    all = Unwrap(strata::features::RegistryStore(root).History());
  }
  nb::list out;
  for (const auto& v : all) out.append(VersionDict(v));
  return out;
}

nb::object RegistryGet(const std::string& root, std::optional<int64_t> version) {
  if (version) {
    strata::features::RegistryVersion v;
    {
      nb::gil_scoped_release release;
      v = Unwrap(strata::features::RegistryStore(root).Get(*version));
    }
    return VersionDict(v);
  }
  std::optional<strata::features::RegistryVersion> v;
  {
    nb::gil_scoped_release release;
    v = Unwrap(strata::features::RegistryStore(root).Latest());
  }
  if (!v) return nb::none();
  return VersionDict(*v);
}

// ---- materialization ---------------------------------------------------------------------------

nb::dict RunDict(const strata::features::ViewMaterialization& r) {
  nb::dict d;
  d["view"] = r.view;
  d["start_us"] = r.start_us ? nb::cast(*r.start_us) : nb::none();
  d["end_us"] = r.end_us;
  d["source_version"] = r.source_version;
  d["rows_read"] = r.rows_read;
  d["rows_written"] = r.rows_written;
  d["used_cdf"] = r.used_cdf;
  d["finished_at_us"] = r.finished_at_us;
  d["seconds"] = r.seconds;
  return d;
}

nb::list Materialize(const std::string& root, std::vector<std::string> views, std::optional<int64_t> start_us,
                     int64_t end_us, bool incremental, nb::object progress) {
  strata::features::MaterializeOptions o;
  o.views = std::move(views);
  o.start_us = start_us;
  o.end_us = end_us;
  o.incremental = incremental;
  if (!progress.is_none()) {
    o.progress = [progress](const std::string& view, int64_t read, int64_t written) {
      nb::gil_scoped_acquire acquire;
      progress(view, read, written);
    };
  }
  std::vector<strata::features::ViewMaterialization> runs;
  {
    nb::gil_scoped_release release;
    auto repo = Unwrap(strata::features::RegistryStore(root).LoadLatest());
    auto store = Unwrap(strata::online::OpenOnlineStore(repo.online));
    auto result = strata::features::Materialize(repo, *store, o);
    Check(store->Close());
    runs = Unwrap(std::move(result));
  }
  nb::list out;
  for (const auto& r : runs) out.append(RunDict(r));
  return out;
}

nb::list MaterializationHistory(const std::string& root) {
  std::vector<strata::features::ViewMaterialization> runs;
  {
    nb::gil_scoped_release release;
    runs = Unwrap(strata::features::MaterializationHistory(root));
  }
  nb::list out;
  for (const auto& r : runs) out.append(RunDict(r));
  return out;
}

/// Evaluates a SQL expression over every row of `data`: a stream with one column, "value".
nb::object EvaluateExpression(const std::string& sql, nb::object data) {
  auto reader = StreamOf(data, "data");
  std::shared_ptr<arrow::RecordBatchReader> out;
  {
    nb::gil_scoped_release release;
    auto node = Unwrap(strata::expr::Parse(sql));
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    std::shared_ptr<arrow::Schema> schema;
    while (true) {
      auto batch = Unwrap(reader->Next());
      if (!batch) break;
      auto value = Unwrap(strata::expr::Evaluate(node, batch));
      if (!schema) schema = arrow::schema({arrow::field("value", value->type())});
      batches.push_back(arrow::RecordBatch::Make(schema, value->length(), {value}));
    }
    if (!schema) Check(arrow::Status::Invalid("no batches to evaluate '", sql, "' over"));
    out = Unwrap(arrow::RecordBatchReader::Make(batches, schema));
  }
  return ExportReader(out);
}

}  // namespace

void BindFeatures(nb::module_& m) {
  m.def("registry_load", &RegistryLoad, "dir"_a, "validate_sources"_a = true,
        "Loads and checks a feature repository folder; returns the registry's canonical JSON.");
  m.def("registry_apply", &RegistryApply, "dir"_a, "dry_run"_a = false,
        "Validates a feature repository, plans against the last applied registry and stores a new version. "
        "Returns {plan: [str], version: int (-1 when nothing changed or dry run)}.");
  m.def("registry_history", &RegistryHistory, "root"_a, "Every applied registry version, oldest first.");
  m.def("registry_get", &RegistryGet, "root"_a, "version"_a = nb::none(),
        "One applied registry version (the latest when version is None; None when nothing was applied).");
  m.def("materialize", &Materialize, "root"_a, "views"_a, "start_us"_a, "end_us"_a, "incremental"_a = false,
        "progress"_a = nb::none(), "Materializes the applied registry's online views (features/materialize.h).");
  m.def("materialization_history", &MaterializationHistory, "root"_a, "Recorded materialization runs.");
  m.def("evaluate_expression", &EvaluateExpression, "sql"_a, "data"_a,
        "Evaluates a SQL expression over an Arrow stream; returns a stream with one column 'value'.");
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
