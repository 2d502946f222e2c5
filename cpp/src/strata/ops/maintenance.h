/// \file
/// Table maintenance operations: RESTORE (to a version or timestamp), VACUUM (delete files no
/// version within the retention period references) and table properties.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"
#include "strata/table/commit.h"

namespace strata::ops {

struct RestoreResult {
  int64_t version = -1;             ///< the new version (-1: already identical, no commit)
  int64_t restored_from = -1;
  int64_t files_added = 0;
  int64_t files_removed = 0;
};

/// Makes the latest version equal (files, schema, properties) to `version`, or to the version
/// current at `timestamp_ms`, as a new commit. Errors when a file the old version needs was
/// already vacuumed, naming it.
Result<RestoreResult> RestoreTable(std::shared_ptr<storage::ObjectStore> store, std::optional<int64_t> version,
                                   std::optional<int64_t> timestamp_ms);

struct VacuumOptions {
  double retention_hours = 168;
  bool dry_run = false;
  /// Allows a retention shorter than the table's delta.deletedFileRetentionDuration.
  bool force = false;
  /// For tests: "now" in milliseconds since the epoch (default: the clock).
  std::optional<int64_t> now_ms;
};

struct VacuumResult {
  std::vector<std::string> files;   ///< deleted (or, in a dry run, to delete), relative paths
  int64_t bytes = 0;
};

/// Deletes data and deletion-vector files that no version inside the retention period
/// references and that are older than the retention period (files of running writers are young).
Result<VacuumResult> VacuumTable(std::shared_ptr<storage::ObjectStore> store, const VacuumOptions& options);

/// Sets table properties (validated as on creation) in a metadata-only commit.
Result<int64_t> SetTableProperties(std::shared_ptr<storage::ObjectStore> store,
                                   const std::map<std::string, std::string>& properties);

}  // namespace strata::ops
