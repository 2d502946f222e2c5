/// \file
/// Materialization: moves the latest feature row per entity of each online feature view from its
/// source table into the online store.
///
/// `Materialize` reads the rows whose event timestamp lies in [start, end] (file statistics prune
/// the scan), keeps the latest per entity — largest event timestamp, then largest created
/// timestamp, as point-in-time retrieval does — and writes them. The store keeps a row only when it
/// is newer than the stored one, so runs may overlap, repeat or be killed and rerun: the store
/// converges to the same rows.
///
/// Incremental runs resume per view from the last run recorded in `<repo>/.strata/materializations`
/// (one row per view and run: window, source table version, rows). Without the change data feed an
/// incremental run scans the window (watermark, end] (the first one: end - ttl, or everything).
/// With the feed on the source table, it reads the changes committed since the recorded table
/// version (inserts and update post-images, whatever their event time <= end: late rows are picked
/// up) plus the rows of the recorded version inside (watermark, end] — a scan that file statistics
/// prune to the files holding such times — instead of rescanning the table. Deleted rows are not
/// removed from the online store (it serves the
/// latest value seen, as Feast does).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "strata/common/status.h"
#include "strata/features/registry.h"
#include "strata/online/online_store.h"

namespace strata::features {

struct MaterializeOptions {
  /// Views to materialize; empty means every view with `online: true`.
  std::vector<std::string> views;
  /// The window's start (microseconds since the epoch); nullopt means from the beginning. Ignored
  /// by incremental runs that have a previous run to resume from.
  std::optional<int64_t> start_us;
  /// The window's end (inclusive).
  int64_t end_us = 0;
  /// Resume from each view's last recorded run (see the file comment).
  bool incremental = false;
  /// Called after each chunk written: view, rows read so far, rows written so far.
  std::function<void(const std::string&, int64_t, int64_t)> progress;
  /// Online store write batch size (RocksDB ingests batches of 4,096 rows or more as table files).
  int64_t write_batch_rows = 65536;
};

/// What one view's run did (also a row of `.strata/materializations`).
struct ViewMaterialization {
  std::string view;
  std::optional<int64_t> start_us;  ///< nullopt: from the beginning (or CDF-based)
  int64_t end_us = 0;
  int64_t source_version = -1;      ///< the source table version read
  int64_t rows_read = 0;            ///< source rows considered
  int64_t rows_written = 0;         ///< entity rows written to the store
  bool used_cdf = false;            ///< read the change data feed (plus the recorded version's window)
  int64_t finished_at_us = 0;
  double seconds = 0;
};

Result<std::vector<ViewMaterialization>> Materialize(const Repository& repo, online::OnlineStore& store,
                                                     const MaterializeOptions& options);

/// The last recorded run of `view` in the repository at `root`; nullopt when none.
Result<std::optional<ViewMaterialization>> LastMaterialization(const std::string& root, const std::string& view);

/// Every recorded run, oldest first.
Result<std::vector<ViewMaterialization>> MaterializationHistory(const std::string& root);

}  // namespace strata::features
