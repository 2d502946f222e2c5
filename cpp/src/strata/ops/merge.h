/// \file
/// MERGE: upserts a source into the table. The ON condition's equalities between target and
/// source expressions become a hash join (source built, target files probed); the rest of the
/// condition filters the joined pairs. Target files are pruned with the source's key ranges and
/// the target-only terms of the condition, and only files holding changed rows are rewritten
/// (or, with deletion vectors, marked).
///
///   source ──► key hash table ─┐
///   snapshot ──► prune files ──┴► probe each file ──► matched pairs ──► WHEN MATCHED clauses
///                                        │                    (in order, first TRUE applies)
///                                        └► unmatched target rows ──► WHEN NOT MATCHED BY SOURCE
///   unmatched source rows ──► WHEN NOT MATCHED (insert) clauses
///   changed files: removed + rewritten rows (or deletion vectors) ──► one commit
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"
#include "strata/table/commit.h"
#include "strata/table/schema.h"

namespace strata::ops {

struct MergeClause {
  enum class Kind {
    kMatchedUpdate,
    kMatchedDelete,
    kNotMatchedInsert,
    kNotMatchedBySourceUpdate,
    kNotMatchedBySourceDelete,
  };
  Kind kind = Kind::kMatchedUpdate;
  /// SQL condition; empty means always.
  std::string predicate;
  /// Update: target column -> SQL expression; insert: target column -> SQL expression over the
  /// source. Ignored when `all` is set.
  std::map<std::string, std::string> assignments;
  /// update_all / insert_all: every target column from the source column of the same name.
  bool all = false;
};

struct MergeOptions {
  /// The join condition, e.g. "t.id = s.id AND t.day = s.day".
  std::string on;
  std::string source_alias = "source";
  std::string target_alias = "target";
  std::vector<MergeClause> clauses;
  /// kMerge: update_all / insert_all add source columns the target lacks.
  table::SchemaMode schema_mode = table::SchemaMode::kStrict;
  /// Overrides the table property delta.enableDeletionVectors when set.
  std::optional<bool> use_deletion_vectors;
  /// A source up to this size (Arrow buffers) is joined in memory (broadcast hash join); a larger
  /// one is spilled to `join_partitions` files by key hash and joined one partition at a time.
  int64_t broadcast_limit_bytes = 1LL << 30;
  int join_partitions = 8;
  table::CommitOptions commit;
};

struct MergeResult {
  int64_t version = -1;  ///< -1 when nothing changed (no commit)
  int64_t num_source_rows = 0;
  int64_t rows_inserted = 0;
  int64_t rows_updated = 0;
  int64_t rows_deleted = 0;
  int64_t rows_copied = 0;  ///< unchanged rows rewritten with their file (copy-on-write)
  int64_t files_added = 0;
  int64_t files_removed = 0;
  int64_t files_skipped = 0;  ///< target files pruned without being read
  int64_t deletion_vectors_added = 0;
  int64_t execution_time_ms = 0;
  std::string join = "broadcast";  ///< or "partitioned"
};

/// Merges `source` into the table at `store`. A target row matched by more than one source row
/// is an error naming its key (unless the only WHEN MATCHED clause is an unconditional delete).
/// On any error the table is unchanged.
Result<MergeResult> MergeInto(std::shared_ptr<storage::ObjectStore> store,
                              std::shared_ptr<arrow::RecordBatchReader> source, const MergeOptions& options);

}  // namespace strata::ops
