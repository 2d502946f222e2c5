/// \file
/// Snapshot: the immutable state of a table at one version (PROTOCOL.md "Action Reconciliation"),
/// built by replaying a checkpoint and the commits after it. Cheap to share
/// (`shared_ptr<const Snapshot>`); everything that reads a table reads a snapshot.
/// Also the protocol checks: which reader and writer features strata supports.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"
#include "strata/table/actions.h"
#include "strata/table/schema.h"

namespace strata::table {

class Snapshot;
struct LogFile;

/// The actions of each commit file, in order (read concurrently when there are many).
Result<std::vector<std::vector<Action>>> ReadCommits(storage::ObjectStore& store, const std::vector<LogFile>& commits);

using SnapshotPtr = std::shared_ptr<const Snapshot>;

/// One entry of the table's history (newest first in History()).
struct CommitSummary {
  int64_t version = 0;
  int64_t timestamp_ms = 0;   ///< in-commit timestamp when enabled, else the file's mtime
  std::string commit_info;    ///< the commitInfo JSON ("{}" when absent)
};

class Snapshot {
 public:
  /// Loads the latest version, or `version`. Refuses tables with reader features strata does not
  /// implement (kUnsupportedFeature naming them).
  /// Without `with_files` only the protocol, metadata, txns and domain metadata are loaded
  /// (enough to append to a table, at a cost independent of its number of files).
  static Result<SnapshotPtr> Load(std::shared_ptr<storage::ObjectStore> store,
                                  std::optional<int64_t> version = std::nullopt, bool with_files = true);
  /// Loads the latest version whose commit timestamp is <= `timestamp_ms` (time travel).
  static Result<SnapshotPtr> LoadAsOf(std::shared_ptr<storage::ObjectStore> store, int64_t timestamp_ms);

  /// The history of commits, newest first (at most `limit`, 0 = all), up to this snapshot.
  Result<std::vector<CommitSummary>> History(size_t limit = 0) const;

  int64_t version() const { return version_; }
  int64_t timestamp_ms() const { return timestamp_ms_; }
  const Protocol& protocol() const { return protocol_; }
  const Metadata& metadata() const { return metadata_; }
  /// Logical schema (Delta column metadata in field metadata).
  const std::shared_ptr<arrow::Schema>& schema() const { return schema_; }
  const std::vector<std::string>& partition_columns() const { return metadata_.partition_columns; }
  ColumnMappingMode column_mapping_mode() const { return mapping_mode_; }
  /// False for a snapshot loaded without its files (files() and tombstones() are then empty).
  bool has_files() const { return has_files_; }
  /// The live data files, in log order.
  const std::vector<AddFile>& files() const { return files_; }
  /// Files removed and not yet vacuumable (needed by checkpoints and VACUUM).
  const std::vector<RemoveFile>& tombstones() const { return tombstones_; }
  const std::map<std::string, Txn>& txns() const { return txns_; }
  const std::map<std::string, DomainMetadata>& domain_metadata() const { return domains_; }
  const std::shared_ptr<storage::ObjectStore>& store() const { return store_; }
  /// A table property, or `def`.
  std::string Property(const std::string& key, const std::string& def = "") const;
  bool in_commit_timestamps() const { return Property("delta.enableInCommitTimestamps") == "true"; }
  /// Total rows when every file has numRecords (minus deletion-vector cardinalities).
  std::optional<int64_t> num_records() const;

  /// Builds a snapshot from already-parsed actions (tests and the committer use this).
  static Result<SnapshotPtr> FromActions(std::shared_ptr<storage::ObjectStore> store, int64_t version,
                                         int64_t timestamp_ms, std::vector<std::vector<Action>> commits,
                                         const SnapshotPtr& base = nullptr);

 private:
  Status Apply(const std::vector<Action>& actions);
  Status Finish();

  std::shared_ptr<storage::ObjectStore> store_;
  int64_t version_ = -1;
  int64_t timestamp_ms_ = 0;
  bool has_protocol_ = false, has_metadata_ = false, has_files_ = true;
  Protocol protocol_;
  Metadata metadata_;
  std::shared_ptr<arrow::Schema> schema_;
  ColumnMappingMode mapping_mode_ = ColumnMappingMode::kNone;
  std::vector<AddFile> files_;
  std::vector<RemoveFile> tombstones_;
  std::map<std::string, Txn> txns_;
  std::map<std::string, DomainMetadata> domains_;
};

/// Reader features strata implements; a table needing any other is refused.
Status CheckReadSupport(const Protocol& protocol);
/// Writer features strata implements for the writes it does; others are refused by name.
Status CheckWriteSupport(const Protocol& protocol, const Metadata& metadata);

/// A Delta interval property ("interval 7 days", "interval 1 week", "interval 2 hours") in
/// milliseconds, or `default_ms` when it is absent or unparsable.
int64_t ParseIntervalMs(const std::string& text, int64_t default_ms);

/// The file key of PROTOCOL.md "Action Reconciliation": decoded path + deletion vector id.
std::string FileKey(const std::string& path, const std::optional<DeletionVectorDescriptor>& dv);

}  // namespace strata::table
