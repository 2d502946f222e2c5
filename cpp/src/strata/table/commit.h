/// \file
/// Committing: an operation reads one snapshot and produces a Commit (actions plus what it read
/// and assumed); the committer writes it as the next version with put-if-absent and, when
/// another writer got there first, checks the winning commits against what this one read
/// (Delta's WriteSerializable isolation) and retries at the next version or refuses.
///
///   operation ──► Commit{actions, read predicate, read files, flags}
///        │
///        ▼
///   put-if-absent _delta_log/<v>.json ──ok──► post-commit: checkpoint every N versions
///        │ exists
///        ▼
///   read commits v..latest ──► conflict? ──yes──► kCommitConflict (table unchanged)
///        │ no
///        └──► v = latest + 1, rebuild commitInfo, try again (bounded)
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "strata/common/status.h"
#include "strata/expr/expr.h"
#include "strata/table/actions.h"
#include "strata/table/snapshot.h"

namespace strata::table {

/// A planned commit: plain data.
struct Commit {
  /// The snapshot the operation read; null when creating a table.
  SnapshotPtr read_snapshot;
  /// add/remove/metaData/protocol/txn/domainMetadata actions (commitInfo is added here).
  std::vector<Action> actions;
  std::string operation = "WRITE";
  /// Free-form operation parameters and metrics for commitInfo (values are JSON text).
  std::map<std::string, std::string> operation_parameters;
  std::map<std::string, std::string> operation_metrics;
  /// More top-level commitInfo fields, values as JSON text (e.g. "strataQuality": {...}).
  std::map<std::string, std::string> extra_commit_info;
  /// What the operation read: nothing (blind append), everything, or rows matching a predicate.
  enum class ReadScope { kNothing, kAll, kPredicate };
  ReadScope read_scope = ReadScope::kNothing;
  expr::NodePtr read_predicate;
  /// Data files (FileKey) the operation read and depends on still existing.
  std::set<std::string> read_files;
  /// True when the operation is an append that read nothing (it never conflicts with appends).
  bool blind_append = false;
};

struct CommitOptions {
  int max_attempts = 1000;
  /// Write a checkpoint after versions that are multiples of this (0: never). When unset the
  /// table property delta.checkpointInterval decides (default 100).
  std::optional<int64_t> checkpoint_interval;
  /// Runs once after the operation has planned and written its files, just before its first
  /// commit attempt. Tests use it to commit a concurrent writer's change at exactly that point.
  std::function<void()> before_commit;
};

/// Commits and returns the new version. The table is left unchanged on any error.
Result<int64_t> CommitToTable(std::shared_ptr<storage::ObjectStore> store, Commit commit,
                              const CommitOptions& options = {});

/// A random RFC 4122 version-4 UUID string.
std::string NewUuid();
/// Milliseconds since the epoch.
int64_t NowMs();

}  // namespace strata::table
