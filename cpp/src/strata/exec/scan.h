/// \file
/// Scanning a snapshot into Arrow: file pruning with partition values and statistics before any
/// file is opened, Parquet row-group pruning, column mapping, type widening, partition columns,
/// deletion vectors and the filter itself. Knows tables and expressions, not operations.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/expr/expr.h"
#include "strata/table/snapshot.h"

namespace strata::exec {

struct ScanOptions {
  /// Logical column names to return, in this order; empty means every column.
  std::vector<std::string> columns;
  /// Rows must satisfy this predicate (SQL three-valued: only TRUE passes); null means all rows.
  expr::NodePtr filter;
  /// Files read concurrently.
  int file_parallelism = 4;
  /// Row groups of one file read concurrently by ReadFile (each by its own Parquet reader over
  /// the same file); 0 means one per core (DELETE/UPDATE/MERGE, which read one file at a time).
  int row_group_parallelism = 1;
  /// Add the row's index in its physical file (used by DELETE/UPDATE/MERGE, which read one file
  /// at a time and so know the file without a per-row column).
  bool with_row_ids = false;
};

/// Which files a scan will open: the result of data skipping.
struct ScanPlan {
  std::vector<const table::AddFile*> files;
  int64_t files_total = 0;
  int64_t files_pruned = 0;
  std::shared_ptr<arrow::Schema> output_schema;
};

Result<ScanPlan> PlanScan(const table::Snapshot& snapshot, const ScanOptions& options);

/// Streams the matching rows, file by file, in log order.
Result<std::shared_ptr<arrow::RecordBatchReader>> Scan(table::SnapshotPtr snapshot, ScanOptions options);

/// Reads one data file of the snapshot as logical batches (all of its live rows, unfiltered
/// unless `filter` is given), with the options' columns.
Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ReadFile(const table::Snapshot& snapshot,
                                                                  const table::AddFile& file,
                                                                  const ScanOptions& options);

/// Convenience: the whole scan as one table.
Result<std::shared_ptr<arrow::Table>> ScanToTable(table::SnapshotPtr snapshot, ScanOptions options);

/// Column name of the row index when `with_row_ids` is set.
inline constexpr const char* kRowIndexColumn = "__strata_row_index";

}  // namespace strata::exec
