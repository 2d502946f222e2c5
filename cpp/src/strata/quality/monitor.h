/// \file
/// Run monitoring, the quality/ side: the RunRecorder observes every run ops/ reports
/// (ops/run_observer.h) and every run a writer outside ops/ reports with RecordRun (stream ingest,
/// pipeline steps). It keeps per-(table, operation, source) aggregates in the process — runs,
/// failures, rows in/out/rejected, a duration histogram, the last success, the newest event
/// time — rendered in the Prometheus text exposition format (0.0.4), and appends each run as one
/// row to the table's runs table `<table>/_strata/runs` (a Delta table; Delta readers of the
/// table itself ignore it).
///
///   write path (ops/) ──► RunTracker ──► NotifyRun ──► RunRecorder ──► aggregates ──► PrometheusText()
///   stream / pipeline ──► RecordRun  ─────┘                 └──► <table>/_strata/runs (one row per run)
///
/// Recording never fails the run: a failure to append to the runs table is logged to stderr and
/// counted (strata_run_observer_errors_total). Writes to side tables (`_strata/...`) are not runs.
/// A table opts out of the runs table (not of the metrics) with the property
/// strata.runs.record=false.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/ops/run_observer.h"

namespace strata::quality {

/// The runs table, relative to the table root.
inline constexpr const char* kRunsTable = "_strata/runs";
/// Table property: "false" keeps the table's runs out of its runs table.
inline constexpr const char* kRecordRunsProperty = "strata.runs.record";

/// Upper bounds (seconds) of the duration histogram's buckets, +Inf implied.
const std::vector<double>& DefaultDurationBuckets();

/// What the recorder knows about the runs of one (table, operation, source).
struct RunSeries {
  std::string table, operation, source;
  int64_t runs = 0;
  int64_t failed = 0;
  int64_t rows_in = 0, rows_out = 0, rows_rejected = 0;
  double duration_seconds = 0;  ///< sum over the runs
  /// Runs per duration bucket, not cumulative: [i] counts durations in (bound[i-1], bound[i]],
  /// the last entry those above every bound.
  std::vector<int64_t> duration_counts;
  std::optional<int64_t> last_success_us;  ///< start of the last successful run
  std::optional<int64_t> newest_event_us;  ///< the newest event time any run published
};

/// Aggregates runs and records them in runs tables. Thread-safe.
class RunRecorder : public ops::RunObserver {
 public:
  struct Options {
    /// Append each run to its table's runs table.
    bool persist = true;
    std::vector<double> duration_buckets = DefaultDurationBuckets();
    /// Clock for freshness (microseconds since the epoch); the system clock when unset.
    std::function<int64_t()> now_us;
  };

  RunRecorder();
  explicit RunRecorder(Options options);

  /// Aggregates the run, then (when persisting) appends it to the table's runs table; the
  /// returned error is only that of the append.
  Status OnRun(const ops::RunEvent& event) override;
  /// Aggregates the run in memory only.
  void Aggregate(const ops::RunEvent& event);

  /// Every series, ordered by (table, operation, source).
  std::vector<RunSeries> Series() const;
  const std::vector<double>& duration_buckets() const { return options_.duration_buckets; }

  /// The aggregates in the Prometheus text exposition format 0.0.4:
  ///   strata_runs_total, strata_runs_failed_total, strata_run_rows_{in,out,rejected}_total,
  ///   strata_run_duration_seconds (histogram), strata_run_last_success_timestamp_seconds,
  ///   strata_run_newest_event_timestamp_seconds (labels table, operation, source);
  ///   strata_table_freshness_seconds (label table: now minus the newest event time of any run);
  ///   strata_run_observer_errors_total (no labels).
  std::string PrometheusText() const;

  /// Forgets every series.
  void Reset();

 private:
  using Key = std::tuple<std::string, std::string, std::string>;
  Options options_;
  mutable std::mutex mu_;
  std::map<Key, RunSeries> series_;
};

/// The schema of the runs table: run_id, table, operation, source, version (null: nothing
/// committed), rows_in, rows_out, rows_rejected, started_at (timestamp[us, UTC]), duration_ms
/// (float64), newest_event (timestamp[us, UTC], null when unknown), success, error (null on
/// success).
std::shared_ptr<arrow::Schema> RunsSchema();
/// Runs as rows of the runs table (a new run_id each).
Result<std::shared_ptr<arrow::RecordBatch>> RunRows(const std::vector<ops::RunEvent>& events);

/// Appends the run to `<event.table_uri>/_strata/runs`, unless the table opts out
/// (strata.runs.record=false), does not exist, or is itself a side table.
Status PersistRun(const ops::RunEvent& event);

/// The recorder of this process (created on first use).
const std::shared_ptr<RunRecorder>& ProcessRunRecorder();
/// Installs the process recorder as a run observer, and the contract's SLA freshness column as
/// the event-time column of tables that name none. Idempotent.
void InstallRunRecorder();
/// Reports a run that did not go through ops/ (stream ingest, pipeline steps) to every run
/// observer, as ops/ does. `started_us` defaults to now minus the duration.
void RecordRun(ops::RunEvent event);
/// PrometheusText() of the process recorder.
std::string RunMetricsText();

}  // namespace strata::quality
