// The Python face of the engine: a thin nanobind layer. Data crosses as Arrow C streams
// (PyCapsules named "arrow_array_stream"), errors as strata exception classes.
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <arrow/compute/initialize.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/type.h>

#include "strata/exec/changes.h"
#include "strata/exec/scan.h"
#include "strata/expr/expr.h"
#include "strata/ops/delete.h"
#include "strata/ops/maintenance.h"
#include "strata/ops/merge.h"
#include "strata/ops/optimize.h"
#include "strata/ops/write.h"
#include "strata/quality/contract.h"
#include "strata/quality/monitor.h"
#include "strata/table/checkpoint.h"
#include "strata/table/snapshot.h"
#include "strata/table/stats.h"

namespace nb = nanobind;
using namespace nb::literals;

#include "bind_util.h"

using namespace strata_py;

namespace {

/// One loaded snapshot.
class PyTable {
 public:
  PyTable(const std::string& path, std::optional<int64_t> version, std::optional<int64_t> as_of_ms) {
    auto store = Store(path);
    nb::gil_scoped_release release;
    if (as_of_ms) {
      snap_ = Unwrap(strata::table::Snapshot::LoadAsOf(store, *as_of_ms));
    } else {
      snap_ = Unwrap(strata::table::Snapshot::Load(store, version));
    }
  }

  int64_t version() const { return snap_->version(); }
  int64_t timestamp_ms() const { return snap_->timestamp_ms(); }
  nb::object schema() const { return ExportSchema(*snap_->schema()); }
  std::vector<std::string> partition_columns() const { return snap_->partition_columns(); }
  std::map<std::string, std::string> properties() const {
    return {snap_->metadata().configuration.begin(), snap_->metadata().configuration.end()};
  }
  std::string table_id() const { return snap_->metadata().id; }
  std::optional<std::string> name() const { return snap_->metadata().name; }
  std::optional<std::string> description() const { return snap_->metadata().description; }
  std::pair<int, int> protocol_versions() const {
    return {snap_->protocol().min_reader_version, snap_->protocol().min_writer_version};
  }
  std::vector<std::string> reader_features() const {
    return snap_->protocol().reader_features.value_or(std::vector<std::string>{});
  }
  std::vector<std::string> writer_features() const {
    return snap_->protocol().writer_features.value_or(std::vector<std::string>{});
  }
  std::optional<int64_t> num_records() const { return snap_->num_records(); }

  nb::list history(size_t limit) const {
    std::vector<strata::table::CommitSummary> h;
    {
      nb::gil_scoped_release release;
      h = Unwrap(snap_->History(limit));
    }
    nb::list out;
    for (const auto& c : h) {
      nb::dict d;
      d["version"] = c.version;
      d["timestamp_ms"] = c.timestamp_ms;
      d["commit_info"] = c.commit_info;
      out.append(d);
    }
    return out;
  }

  nb::list files() const {
    nb::list out;
    for (const auto& f : snap_->files()) {
      nb::dict d;
      d["path"] = strata::table::DecodePath(f.path);
      d["size"] = f.size;
      d["modification_time"] = f.modification_time;
      nb::dict pv;
      for (const auto& [k, v] : f.partition_values) {
        if (v) pv[k.c_str()] = *v; else pv[k.c_str()] = nb::none();
      }
      d["partition_values"] = pv;
      auto stats = strata::table::ParseFileStats(f.stats);
      if (stats.ok() && stats->num_records) d["num_records"] = *stats->num_records; else d["num_records"] = nb::none();
      d["deletion_vector_cardinality"] = f.deletion_vector ? nb::cast(f.deletion_vector->cardinality) : nb::none();
      out.append(d);
    }
    return out;
  }

  nb::object scan(std::vector<std::string> columns, std::optional<std::string> filter) const {
    strata::exec::ScanOptions opts;
    opts.columns = std::move(columns);
    if (filter && !filter->empty()) opts.filter = Unwrap(strata::expr::Parse(*filter));
    std::shared_ptr<arrow::RecordBatchReader> reader;
    {
      nb::gil_scoped_release release;
      reader = Unwrap(strata::exec::Scan(snap_, std::move(opts)));
    }
    return ExportReader(std::move(reader));
  }

  /// (files in the table, files the filter leaves to read)
  std::pair<int64_t, int64_t> plan(std::optional<std::string> filter) const {
    strata::exec::ScanOptions opts;
    if (filter && !filter->empty()) opts.filter = Unwrap(strata::expr::Parse(*filter));
    auto plan = Unwrap(strata::exec::PlanScan(*snap_, opts));
    return {plan.files_total, static_cast<int64_t>(plan.files.size())};
  }

  void checkpoint() const {
    nb::gil_scoped_release release;
    Check(strata::table::WriteCheckpoint(*snap_));
  }

 private:
  strata::table::SnapshotPtr snap_;
};

nb::dict WriteTable(const std::string& path, nb::object capsule, const std::string& mode,
                    std::vector<std::string> partition_by, const std::string& schema_mode,
                    const std::string& replace_where, std::map<std::string, std::string> configuration,
                    int64_t target_file_size, std::optional<std::string> name,
                    std::optional<std::string> description, const std::string& compression,
                    std::optional<std::pair<std::string, int64_t>> txn) {
  strata::ops::WriteOptions o;
  o.mode = Unwrap(strata::ops::ParseWriteMode(mode));
  o.partition_by = std::move(partition_by);
  o.schema_mode = Unwrap(strata::ops::ParseSchemaMode(schema_mode));
  o.replace_where = replace_where;
  o.configuration = std::move(configuration);
  if (target_file_size > 0) o.target_file_size = target_file_size;
  o.name = std::move(name);
  o.description = std::move(description);
  o.compression = compression;
  o.txn = std::move(txn);
  auto store = Store(path);
  auto reader = ImportReader(std::move(capsule));
  strata::ops::WriteResult r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(strata::ops::WriteTable(store, std::move(reader), o));
  }
  nb::dict d;
  d["version"] = r.version;
  d["files_added"] = r.files_added;
  d["files_removed"] = r.files_removed;
  d["rows_written"] = r.rows_written;
  d["bytes_written"] = r.bytes_written;
  return d;
}

nb::dict DmlDict(const strata::ops::DmlResult& r) {
  nb::dict d;
  d["version"] = r.version;
  d["rows_deleted"] = r.rows_deleted;
  d["rows_updated"] = r.rows_updated;
  d["files_removed"] = r.files_removed;
  d["files_added"] = r.files_added;
  d["deletion_vectors_added"] = r.deletion_vectors_added;
  d["files_skipped"] = r.files_skipped;
  d["files_dropped_unread"] = r.files_dropped_unread;
  return d;
}

nb::dict DeleteRows(const std::string& path, const std::string& predicate, std::optional<bool> use_dv) {
  strata::ops::DmlOptions o;
  o.use_deletion_vectors = use_dv;
  auto store = Store(path);
  strata::ops::DmlResult r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(strata::ops::DeleteRows(store, predicate, o));
  }
  return DmlDict(r);
}

nb::dict UpdateRows(const std::string& path, const std::string& predicate,
                    std::map<std::string, std::string> set, std::optional<bool> use_dv) {
  strata::ops::DmlOptions o;
  o.use_deletion_vectors = use_dv;
  auto store = Store(path);
  strata::ops::DmlResult r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(strata::ops::UpdateRows(store, predicate, set, o));
  }
  return DmlDict(r);
}

nb::dict Restore(const std::string& path, std::optional<int64_t> version, std::optional<int64_t> timestamp_ms) {
  auto store = Store(path);
  strata::ops::RestoreResult r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(strata::ops::RestoreTable(store, version, timestamp_ms));
  }
  nb::dict d;
  d["version"] = r.version;
  d["restored_from"] = r.restored_from;
  d["files_added"] = r.files_added;
  d["files_removed"] = r.files_removed;
  return d;
}

std::vector<std::string> Vacuum(const std::string& path, double retention_hours, bool dry_run, bool force) {
  auto store = Store(path);
  strata::ops::VacuumOptions o;
  o.retention_hours = retention_hours;
  o.dry_run = dry_run;
  o.force = force;
  nb::gil_scoped_release release;
  return Unwrap(strata::ops::VacuumTable(store, o)).files;
}

int64_t SetProperties(const std::string& path, std::map<std::string, std::string> props) {
  auto store = Store(path);
  nb::gil_scoped_release release;
  return Unwrap(strata::ops::SetTableProperties(store, props));
}

using MergeClauseSpec = std::tuple<std::string, std::string, std::map<std::string, std::string>, bool>;

nb::dict Merge(const std::string& path, nb::object source, const std::string& on, const std::string& source_alias,
               const std::string& target_alias, const std::vector<MergeClauseSpec>& clauses,
               std::optional<std::string> schema_mode, std::optional<bool> use_dv,
               std::optional<int64_t> broadcast_limit_bytes, std::optional<int> join_partitions) {
  using Kind = strata::ops::MergeClause::Kind;
  static const std::map<std::string, Kind> kinds = {
      {"matched_update", Kind::kMatchedUpdate},
      {"matched_delete", Kind::kMatchedDelete},
      {"not_matched_insert", Kind::kNotMatchedInsert},
      {"not_matched_by_source_update", Kind::kNotMatchedBySourceUpdate},
      {"not_matched_by_source_delete", Kind::kNotMatchedBySourceDelete}};
  strata::ops::MergeOptions o;
  o.on = on;
  o.source_alias = source_alias;
  o.target_alias = target_alias;
  o.use_deletion_vectors = use_dv;
  if (broadcast_limit_bytes) o.broadcast_limit_bytes = *broadcast_limit_bytes;
  if (join_partitions) o.join_partitions = *join_partitions;
  if (schema_mode) o.schema_mode = Unwrap(strata::ops::ParseSchemaMode(*schema_mode));
  for (const auto& [kind, predicate, assignments, all] : clauses) {
    auto it = kinds.find(kind);
    if (it == kinds.end()) Raise(strata::Error(strata::ErrorCode::kInvalidArgument, "unknown MERGE clause ", kind));
    o.clauses.push_back({it->second, predicate, assignments, all});
  }
  auto store = Store(path);
  auto reader = ImportReader(std::move(source));
  strata::ops::MergeResult r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(strata::ops::MergeInto(store, reader, o));
  }
  nb::dict d;
  d["version"] = r.version;
  d["num_source_rows"] = r.num_source_rows;
  d["num_target_rows_inserted"] = r.rows_inserted;
  d["num_target_rows_updated"] = r.rows_updated;
  d["num_target_rows_deleted"] = r.rows_deleted;
  d["num_target_rows_copied"] = r.rows_copied;
  d["num_target_files_added"] = r.files_added;
  d["num_target_files_removed"] = r.files_removed;
  d["num_target_files_skipped"] = r.files_skipped;
  d["num_deletion_vectors_added"] = r.deletion_vectors_added;
  d["execution_time_ms"] = r.execution_time_ms;
  d["join"] = r.join;
  return d;
}

nb::object Changes(const std::string& path, int64_t start, std::optional<int64_t> end) {
  auto store = Store(path);
  std::shared_ptr<arrow::Table> t;
  {
    nb::gil_scoped_release release;
    t = Unwrap(strata::exec::ReadChanges(store, start, end));
  }
  return ExportReader(std::make_shared<arrow::TableBatchReader>(t));
}

nb::dict Optimize(const std::string& path, std::optional<int64_t> target_file_size, std::vector<std::string> z_order,
                  const std::string& partition_filter) {
  strata::ops::OptimizeOptions o;
  o.target_file_size = target_file_size;
  o.z_order = std::move(z_order);
  o.partition_filter = partition_filter;
  auto store = Store(path);
  strata::ops::OptimizeResult r;
  {
    nb::gil_scoped_release release;
    r = Unwrap(strata::ops::OptimizeTable(store, o));
  }
  nb::dict d;
  d["version"] = r.version;
  d["num_files_added"] = r.files_added;
  d["num_files_removed"] = r.files_removed;
  d["num_bytes_added"] = r.bytes_added;
  d["num_bytes_removed"] = r.bytes_removed;
  d["num_partitions_optimized"] = r.partitions_optimized;
  d["num_files_considered"] = r.files_considered;
  d["num_files_skipped"] = r.files_skipped;
  return d;
}

std::string ParseExpression(const std::string& sql) {
  return strata::expr::ToString(Unwrap(strata::expr::Parse(sql)));
}

}  // namespace

NB_MODULE(_strata, m) {
  (void)arrow::compute::Initialize();
  // Every write from this process to a table with a data contract goes through its gate.
  strata::quality::InstallContractGate();
  // ... and is recorded as a run (metrics, and the table's _strata/runs table).
  strata::quality::InstallRunRecorder();
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const StrataError& e) {
      nb::object errors = nb::module_::import_("strata.errors");
      nb::object cls = errors.attr("error_class")(e.code);
      PyErr_SetString(cls.ptr(), e.message.c_str());
    }
  });

  nb::class_<PyTable>(m, "_Table")
      .def(nb::init<const std::string&, std::optional<int64_t>, std::optional<int64_t>>(), "path"_a,
           "version"_a = nb::none(), "as_of_ms"_a = nb::none())
      .def_prop_ro("version", &PyTable::version)
      .def_prop_ro("timestamp_ms", &PyTable::timestamp_ms)
      .def_prop_ro("table_id", &PyTable::table_id)
      .def_prop_ro("name", &PyTable::name)
      .def_prop_ro("description", &PyTable::description)
      .def_prop_ro("partition_columns", &PyTable::partition_columns)
      .def_prop_ro("properties", &PyTable::properties)
      .def_prop_ro("protocol_versions", &PyTable::protocol_versions)
      .def_prop_ro("reader_features", &PyTable::reader_features)
      .def_prop_ro("writer_features", &PyTable::writer_features)
      .def_prop_ro("num_records", &PyTable::num_records)
      .def("schema_capsule", &PyTable::schema)
      .def("history", &PyTable::history, "limit"_a = 0)
      .def("files", &PyTable::files)
      .def("scan", &PyTable::scan, "columns"_a, "filter"_a = nb::none())
      .def("plan", &PyTable::plan, "filter"_a = nb::none())
      .def("checkpoint", &PyTable::checkpoint);

  m.def("write_table", &WriteTable, "path"_a, "stream"_a, "mode"_a, "partition_by"_a, "schema_mode"_a,
        "replace_where"_a, "configuration"_a, "target_file_size"_a, "name"_a = nb::none(),
        "description"_a = nb::none(), "compression"_a = "snappy", "txn"_a = nb::none());
  m.def("parse_expression", &ParseExpression, "sql"_a);
  m.def("restore", &Restore, "path"_a, "version"_a = nb::none(), "timestamp_ms"_a = nb::none());
  m.def("vacuum", &Vacuum, "path"_a, "retention_hours"_a, "dry_run"_a, "force"_a);
  m.def("set_properties", &SetProperties, "path"_a, "properties"_a);
  m.def("optimize", &Optimize, "path"_a, "target_file_size"_a = nb::none(), "z_order"_a = std::vector<std::string>{},
        "partition_filter"_a = "");
  m.def("changes", &Changes, "path"_a, "start_version"_a, "end_version"_a = nb::none());
  m.def("merge", &Merge, "path"_a, "source"_a, "on"_a, "source_alias"_a, "target_alias"_a, "clauses"_a,
        "schema_mode"_a = nb::none(), "use_deletion_vectors"_a = nb::none(), "broadcast_limit_bytes"_a = nb::none(),
        "join_partitions"_a = nb::none());
  m.def("delete_rows", &DeleteRows, "path"_a, "predicate"_a, "use_deletion_vectors"_a = nb::none());
  BindQuality(m);
  BindContract(m);
  BindFeatures(m);
  BindProfile(m);
  BindMonitor(m);
  BindServing(m);
  m.def("update_rows", &UpdateRows, "path"_a, "predicate"_a, "set"_a, "use_deletion_vectors"_a = nb::none());
}
