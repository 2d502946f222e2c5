#include "strata/ops/maintenance.h"

#include <cstdio>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <arrow/record_batch.h>
#include <arrow/table.h>

#include "strata/exec/scan.h"
#include "strata/ops/write_internal.h"
#include "strata/table/deletion_vector.h"
#include "strata/table/log_segment.h"
#include "strata/table/snapshot.h"

namespace strata::ops {

namespace {


/// The path of a data or deletion-vector file relative to the table root, or "" when it lies
/// outside the table (absolute paths elsewhere are never vacuumed).
std::string RelativeToRoot(const std::string& decoded, const std::string& root) {
  std::string p = decoded;
  if (p.rfind("file://", 0) == 0) p = p.substr(7);
  if (!p.empty() && p[0] == '/') {
    if (p.rfind(root + "/", 0) != 0) return "";
    return p.substr(root.size() + 1);
  }
  return p;
}

}  // namespace

Result<RestoreResult> RestoreTable(std::shared_ptr<storage::ObjectStore> store, std::optional<int64_t> version,
                                   std::optional<int64_t> timestamp_ms) {
  if (version.has_value() == timestamp_ms.has_value()) {
    return Error(ErrorCode::kInvalidArgument, "RESTORE needs exactly one of a version or a timestamp");
  }
  ARROW_ASSIGN_OR_RAISE(auto current, table::Snapshot::Load(store));
  STRATA_RETURN_NOT_OK_CTX(table::CheckWriteSupport(current->protocol(), current->metadata()),
                           "cannot RESTORE '" + store->root() + "'");
  table::SnapshotPtr target;
  if (version) {
    ARROW_ASSIGN_OR_RAISE(target, table::Snapshot::Load(store, *version));
  } else {
    ARROW_ASSIGN_OR_RAISE(target, table::Snapshot::LoadAsOf(store, *timestamp_ms));
  }
  RestoreResult result;
  result.restored_from = target->version();
  std::unordered_set<std::string> now_keys, old_keys;
  for (const auto& f : current->files()) now_keys.insert(table::FileKey(f.path, f.deletion_vector));
  for (const auto& f : target->files()) old_keys.insert(table::FileKey(f.path, f.deletion_vector));
  table::Commit commit;
  commit.read_snapshot = current;
  commit.operation = "RESTORE";
  commit.read_scope = table::Commit::ReadScope::kAll;
  int64_t now = table::NowMs();
  for (const auto& f : target->files()) {
    if (now_keys.count(table::FileKey(f.path, f.deletion_vector))) continue;
    std::string rel = RelativeToRoot(table::DecodePath(f.path), store->root());
    if (!rel.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto head, store->Head(rel));
      if (!head) {
        return Error(ErrorCode::kVersionNotFound, "cannot restore '", store->root(), "' to version ",
                     target->version(), ": data file '", rel, "' was already removed (by VACUUM?)");
      }
    }
    table::AddFile a = f;
    a.data_change = true;
    commit.actions.push_back(std::move(a));
    ++result.files_added;
  }
  for (const auto& f : current->files()) {
    if (old_keys.count(table::FileKey(f.path, f.deletion_vector))) continue;
    commit.read_files.insert(table::FileKey(f.path, f.deletion_vector));
    commit.actions.push_back(table::RemoveFor(f, now));
    ++result.files_removed;
  }
  if (target->metadata().schema_string != current->metadata().schema_string ||
      target->metadata().configuration != current->metadata().configuration ||
      target->metadata().partition_columns != current->metadata().partition_columns) {
    commit.actions.push_back(target->metadata());
  }
  if (commit.actions.empty()) return result;
  commit.operation_parameters["version"] = std::to_string(target->version());
  commit.operation_metrics["numRestoredFiles"] = std::to_string(result.files_added);
  commit.operation_metrics["numRemovedFiles"] = std::to_string(result.files_removed);
  ARROW_ASSIGN_OR_RAISE(result.version, table::CommitToTable(store, std::move(commit)));
  return result;
}

Result<VacuumResult> VacuumTable(std::shared_ptr<storage::ObjectStore> store, const VacuumOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(store));
  STRATA_RETURN_NOT_OK_CTX(table::CheckWriteSupport(snap->protocol(), snap->metadata()),
                           "cannot VACUUM '" + store->root() + "'");
  int64_t table_retention =
      table::ParseIntervalMs(snap->Property("delta.deletedFileRetentionDuration"), 7LL * 86400000);
  auto retention = static_cast<int64_t>(options.retention_hours * 3600000.0);
  if (options.retention_hours < 0) return Error(ErrorCode::kInvalidArgument, "retention_hours must be >= 0");
  if (retention < table_retention && !options.force) {
    return Error(ErrorCode::kInvalidArgument, "VACUUM retention of ", options.retention_hours,
                 " h is shorter than the table's delta.deletedFileRetentionDuration (", table_retention / 3600000.0,
                 " h): time travel and concurrent readers could lose files; pass force=True to do it anyway");
  }
  int64_t now = options.now_ms.value_or(table::NowMs());
  int64_t cutoff = now - retention;
  // Everything the latest version or a remove still inside the retention period refers to.
  std::unordered_set<std::string> keep;
  auto keep_file = [&](const std::string& path, const std::optional<table::DeletionVectorDescriptor>& dv) -> Status {
    std::string rel = RelativeToRoot(table::DecodePath(path), store->root());
    if (!rel.empty()) keep.insert(rel);
    if (dv && dv->storage_type != "i") {
      ARROW_ASSIGN_OR_RAISE(auto dvp, table::DeletionVectorPath(*dv));
      std::string r = RelativeToRoot(dvp, store->root());
      if (!r.empty()) keep.insert(r);
    }
    return Status::OK();
  };
  for (const auto& f : snap->files()) ARROW_RETURN_NOT_OK(keep_file(f.path, f.deletion_vector));
  for (const auto& r : snap->tombstones()) {
    if (r.deletion_timestamp.value_or(now) >= cutoff) ARROW_RETURN_NOT_OK(keep_file(r.path, r.deletion_vector));
  }
  ARROW_ASSIGN_OR_RAISE(auto all, store->ListRecursive(""));
  VacuumResult result;
  for (const auto& o : all) {
    // The log, and any hidden directory or file other than change data, are not data files.
    bool hidden = false;
    size_t start = 0;
    while (start < o.path.size()) {
      auto slash = o.path.find('/', start);
      std::string part = o.path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      bool is_dir = slash != std::string::npos;
      if ((part[0] == '_' && !(is_dir && part == "_change_data")) || part[0] == '.') hidden = true;
      if (!is_dir) break;
      start = slash + 1;
    }
    if (hidden || keep.count(o.path) || o.mtime_ms >= cutoff) continue;
    result.files.push_back(o.path);
    result.bytes += o.size;
  }
  if (!options.dry_run) {
    for (const auto& f : result.files) ARROW_RETURN_NOT_OK(store->Delete(f));
  }
  return result;
}

Result<int64_t> SetTableProperties(std::shared_ptr<storage::ObjectStore> store,
                                   const std::map<std::string, std::string>& properties) {
  ARROW_RETURN_NOT_OK(internal::ValidateConfiguration(properties));
  ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(store));
  STRATA_RETURN_NOT_OK_CTX(table::CheckWriteSupport(snap->protocol(), snap->metadata()),
                           "cannot set properties of '" + store->root() + "'");
  table::Metadata m = snap->metadata();
  std::vector<std::string> new_constraints;
  for (const auto& [k, v] : properties) {
    if (k == "delta.columnMapping.mode" && v != snap->Property(k, "none")) {
      return Error(ErrorCode::kUnsupportedFeature, "changing delta.columnMapping.mode of an existing table is not supported");
    }
    if (k.rfind("delta.constraints.", 0) == 0 && snap->Property(k) != v) new_constraints.push_back(k);
    m.configuration[k] = v;
  }
  ARROW_ASSIGN_OR_RAISE(auto checks, internal::CollectChecks(*snap->schema(), m.configuration));
  // PROTOCOL.md "CHECK Constraints": existing rows must satisfy a constraint before it is added.
  if (!new_constraints.empty()) {
    std::vector<internal::Check> added;
    for (const auto& c : checks) {
      for (const auto& k : new_constraints) {
        if (c.name == "CHECK constraint '" + k.substr(18) + "'") added.push_back(c);
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto reader, exec::Scan(snap, {}));
    while (true) {
      std::shared_ptr<arrow::RecordBatch> b;
      ARROW_RETURN_NOT_OK(reader->ReadNext(&b));
      if (!b) break;
      STRATA_RETURN_NOT_OK_CTX(internal::RunChecks(added, b), "existing data violates the new constraint");
    }
  }
  table::Protocol protocol = internal::ProtocolFor(*snap->schema(), m.configuration, checks, &snap->protocol());
  table::Commit commit;
  commit.read_snapshot = snap;
  commit.operation = "SET TBLPROPERTIES";
  for (const auto& [k, v] : properties) commit.operation_parameters[k] = v;
  if (!(protocol == snap->protocol())) {
    ARROW_RETURN_NOT_OK(table::CheckWriteSupport(protocol, m));
    commit.actions.push_back(protocol);
  }
  commit.actions.push_back(m);
  commit.read_scope = new_constraints.empty() ? table::Commit::ReadScope::kNothing : table::Commit::ReadScope::kAll;
  return table::CommitToTable(store, std::move(commit));
}

}  // namespace strata::ops
