/// \file
/// DELETE and UPDATE: rows matching a predicate are removed or rewritten. Files whose rows all
/// match are removed without rewriting; partly matching files are rewritten (copy-on-write) or,
/// with delta.enableDeletionVectors=true, marked in a deletion vector instead.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"
#include "strata/table/commit.h"

namespace strata::ops {

struct DmlResult {
  int64_t version = -1;            ///< -1 when nothing matched (no commit)
  int64_t rows_deleted = 0;
  int64_t rows_updated = 0;
  int64_t files_removed = 0;
  int64_t files_added = 0;
  int64_t deletion_vectors_added = 0;
  int64_t files_skipped = 0;       ///< pruned by partition values and statistics
  int64_t files_dropped_unread = 0;  ///< removed whole from partition values, never opened
};

struct DmlOptions {
  /// Overrides the table property delta.enableDeletionVectors when set.
  std::optional<bool> use_deletion_vectors;
  table::CommitOptions commit;
};

/// Deletes the rows for which `predicate` (SQL) is TRUE; an empty predicate deletes every row.
Result<DmlResult> DeleteRows(std::shared_ptr<storage::ObjectStore> store, const std::string& predicate,
                             const DmlOptions& options = {});

/// Sets columns to SQL expressions (evaluated on the old row) where `predicate` is TRUE
/// (every row when empty).
Result<DmlResult> UpdateRows(std::shared_ptr<storage::ObjectStore> store, const std::string& predicate,
                             const std::map<std::string, std::string>& set, const DmlOptions& options = {});

}  // namespace strata::ops
