/// \file
/// OPTIMIZE: compacts small files into files of about the target size, per partition
/// (bin-packing), or rewrites whole partitions clustered along a Z-order curve of chosen
/// columns so that min/max statistics skip more files. Rows do not change: the commit marks its
/// adds and removes dataChange=false, so it never conflicts with concurrent appends (only with
/// a concurrent operation that removed one of the files it compacted).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"
#include "strata/table/commit.h"

namespace strata::ops {

struct OptimizeOptions {
  /// Bytes per output file; default: the table property delta.targetFileSize, else 128 MiB.
  std::optional<int64_t> target_file_size;
  /// Cluster along a Z-order curve of these columns (each partition is rewritten whole).
  std::vector<std::string> z_order;
  /// SQL predicate over partition columns: only matching partitions are optimized.
  std::string partition_filter;
  /// Threads compacting bins at once.
  int parallelism = 2;
  table::CommitOptions commit;
};

struct OptimizeResult {
  int64_t version = -1;  ///< -1 when there was nothing to do (no commit)
  int64_t files_added = 0;
  int64_t files_removed = 0;
  int64_t bytes_added = 0;
  int64_t bytes_removed = 0;
  int64_t partitions_optimized = 0;
  int64_t files_considered = 0;
  int64_t files_skipped = 0;  ///< already large enough, or outside the partition filter
};

Result<OptimizeResult> OptimizeTable(std::shared_ptr<storage::ObjectStore> store, const OptimizeOptions& options);

}  // namespace strata::ops
