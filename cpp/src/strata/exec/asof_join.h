/// \file
/// The point-in-time (as-of) join behind training-set retrieval: each row of an entity frame gets,
/// from each feature view, the latest feature row with the same join keys at or before the row's
/// timestamp (ARCHITECTURE.md "Point-in-time semantics, exactly"). Both sides are hash-partitioned
/// on the join keys; in each partition the entity rows are sorted by (key, timestamp) and the
/// feature rows merged into them. Partitions run on all cores while the inputs fit a memory
/// budget; past it the view's rows are spilled to Arrow IPC partition files and joined a few
/// partitions at a time, so memory stays bounded by the partitions in flight plus the output.
/// Knows Arrow record batches only: not tables, registries or feature repositories (features/
/// turns those into AsOfView values).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"

namespace strata::exec {

/// One feature view as the join sees it: where its rows come from and which columns play which part.
struct AsOfView {
  /// The view's name: the prefix of `view__feature` output names and the subject of error messages.
  std::string name;
  /// The view's rows, in any order; read once, to the end. Rows whose join key (any column of it)
  /// or event timestamp is NULL never match.
  std::shared_ptr<arrow::RecordBatchReader> rows;
  /// Join key columns of the view, paired in order with `entity_keys`. Supported key types:
  /// integers of any width (compared as int64), string/binary of any offset width or view layout,
  /// dictionaries of those, and other fixed-width types when both sides have exactly that type.
  std::vector<std::string> join_keys;
  /// The entity frame's columns matched with `join_keys`; empty means the same names.
  std::vector<std::string> entity_keys;
  /// The event timestamp column: a timestamp of any unit and time zone (compared as instants).
  std::string timestamp_column;
  /// Breaks ties of the event timestamp (the largest wins; NULL loses to any value); empty = none.
  /// Rows still tied after it go to the one read last from `rows`.
  std::string created_timestamp_column;
  /// A row at event time t counts for an entity row at T only if T - ttl <= t. Microseconds, >= 0;
  /// nullopt means no limit.
  std::optional<int64_t> ttl_us;
  /// Feature columns to take, in output order (a key or timestamp column may be one of them).
  std::vector<std::string> features;
  /// Output names, one per feature; empty means `feature`, or `name__feature` when
  /// AsOfJoinOptions::full_feature_names is set.
  std::vector<std::string> output_names;
};

struct AsOfJoinOptions {
  /// The entity frame's event timestamp column (a timestamp of any unit and time zone).
  std::string entity_timestamp_column = "event_timestamp";
  /// Default output names `view__feature` instead of `feature`.
  bool full_feature_names = false;
  /// Past this many bytes of feature rows held (plus the entity frame's join index), a view's
  /// rows are spilled to disk. The entity frame itself is not counted: it is part of the output.
  int64_t memory_budget_bytes = int64_t{512} << 20;
  /// Hash partitions (rounded up to a power of two, at most 256); 0 chooses: in memory, one per
  /// ~8k entity rows and at least 4 per thread; when spilling, 64 files.
  int partitions = 0;
  /// Threads; 0 means all hardware threads.
  int parallelism = 0;
  /// Where spill files go (in a private subdirectory removed at the end); empty = the system's
  /// temporary directory.
  std::string spill_dir;
};

/// What a join did, for tests and benchmarks.
struct AsOfJoinStats {
  int64_t entity_rows = 0;
  int64_t feature_rows = 0;        ///< rows read from all views
  int views_spilled = 0;           ///< views joined out of core
  int64_t spill_files = 0;         ///< partition files written (re-partitioning included)
  int64_t spill_bytes = 0;         ///< bytes written to them
  int max_spill_depth = 0;         ///< 1 = spilled once; more = oversized partitions split again
};

/// The point-in-time join. For an entity row with timestamp T, a view contributes the row with
/// the same join keys whose event timestamp t satisfies T - ttl <= t <= T, the largest such t,
/// ties broken by the largest created timestamp and then by the last row read; no such row gives
/// NULLs. Entity rows with a NULL key or timestamp get NULLs; duplicate entity rows each get their
/// answer. The result holds the entity frame's columns and rows, unchanged and in order, followed
/// by the views' feature columns in view order.
/// Errors: kInvalidArgument for a missing column, a key type that differs between the entity
/// frame and a view, a non-timestamp timestamp column, a negative TTL, or duplicate output names
/// (each naming the column and the view).
Result<std::shared_ptr<arrow::Table>> PointInTimeJoin(std::shared_ptr<arrow::RecordBatchReader> entity,
                                                      std::vector<AsOfView> views,
                                                      const AsOfJoinOptions& options = {},
                                                      AsOfJoinStats* stats = nullptr);

/// The same, for an entity frame already in memory.
Result<std::shared_ptr<arrow::Table>> PointInTimeJoin(std::shared_ptr<arrow::Table> entity,
                                                      std::vector<AsOfView> views,
                                                      const AsOfJoinOptions& options = {},
                                                      AsOfJoinStats* stats = nullptr);

}  // namespace strata::exec
