/// \file
/// Run monitoring, the ops/ side: every write path of ops/ (append/overwrite, MERGE, UPDATE,
/// DELETE, OPTIMIZE) reports one RunEvent when it ends — rows in, out and rejected, timing, the
/// version committed and the newest event time it published — to the run observers installed in
/// the process, whether it succeeded or failed. Writers that do not go through ops/ (stream
/// ingest, pipeline steps) report through the same registry. ops/ only reports; quality/
/// implements the observer that aggregates, exports (Prometheus) and records runs as a table.
///
/// Observers never fail a run: an observer error is logged to stderr and counted, not returned.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"

namespace strata::ops {

/// Table property naming the column whose maximum is a run's newest event time.
inline constexpr const char* kEventTimeColumnProperty = "strata.eventTimeColumn";

/// One run of a writer over one table.
struct RunEvent {
  /// The table's root (ObjectStore::root()).
  std::string table_uri;
  /// The store the run wrote through, when known: what observers record about the table goes
  /// through it (ObjectStore::OpenChild), with its credentials; else they open `table_uri`.
  std::shared_ptr<storage::ObjectStore> store;
  /// WRITE (append and overwrite), MERGE, UPDATE, DELETE, OPTIMIZE, or a caller's own name.
  std::string operation;
  /// Who ran it: "write" for the ops/ API, "stream:<topic>", "pipeline:<step>", ...
  std::string source = "write";
  /// The version committed; -1 when nothing was committed.
  int64_t version = -1;
  /// Rows the run took in: rows offered (WRITE), source rows (MERGE), matched rows (UPDATE,
  /// DELETE); 0 for OPTIMIZE (it changes no rows).
  int64_t rows_in = 0;
  /// Rows the run published as new: appended/overwritten rows (WRITE), inserted and updated
  /// rows (MERGE), updated rows (UPDATE); 0 for DELETE and OPTIMIZE.
  int64_t rows_out = 0;
  /// Rows kept out: quarantined rows (the run succeeds), or every row taken in when a gate or a
  /// constraint refused the run (ErrorCode::kExpectationFailed, the run fails).
  int64_t rows_rejected = 0;
  /// Wall-clock start, microseconds since the epoch (UTC).
  int64_t started_us = 0;
  /// Elapsed (monotonic clock), microseconds.
  int64_t duration_us = 0;
  /// The newest event time among the rows published, microseconds since the epoch: the maximum
  /// of the table's event-time column (see EventTimeColumn) over them; absent when the table has
  /// no such column or nothing was published.
  std::optional<int64_t> newest_event_us;
  bool success = true;
  /// The error message when the run failed.
  std::string error;
  /// The table's properties as of the run (observers read their per-table settings here);
  /// absent when not known, e.g. the run failed before the table existed.
  std::optional<std::map<std::string, std::string>> table_properties;
};

/// Receives runs. Called on the thread that ran the operation, after it ended, possibly from
/// several threads at once: implementations must be thread-safe.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  /// An error is logged and counted by NotifyRun, never returned to the run.
  virtual Status OnRun(const RunEvent& event) = 0;
};

/// Adds an observer for every run in this process (no-op when already added).
void AddRunObserver(std::shared_ptr<RunObserver> observer);
void RemoveRunObserver(const std::shared_ptr<RunObserver>& observer);
/// True when some observer would receive a run started now on this thread (cheap: lets writers
/// skip computing what nobody reads).
bool RunsObserved();
/// Hands `event` to every observer. Never fails; observer errors go to stderr and are counted.
void NotifyRun(const RunEvent& event);
/// Observer errors since the process started.
int64_t RunObserverErrors();

/// While alive, runs on this thread are not reported: for bookkeeping writes made on behalf of a
/// run (quarantine and results tables, the runs table itself), which must not be recorded as runs
/// of their own (nor recurse).
class ScopedRunsUnobserved {
 public:
  ScopedRunsUnobserved();
  ~ScopedRunsUnobserved();
  ScopedRunsUnobserved(const ScopedRunsUnobserved&) = delete;
  ScopedRunsUnobserved& operator=(const ScopedRunsUnobserved&) = delete;
};

/// Names a table's event-time column when its properties do not (quality/ installs one that reads
/// the freshness column of the table's contract SLA). Returns "" for none.
using EventTimeColumnProvider = std::function<std::string(const std::shared_ptr<storage::ObjectStore>& store)>;
void SetEventTimeColumnProvider(EventTimeColumnProvider provider);

/// The column whose maximum is a run's newest event time: the property strata.eventTimeColumn,
/// else the provider's column, else the first top-level timestamp column of `schema`; "" for none
/// (or when the named column is not in `schema`).
std::string EventTimeColumn(const std::shared_ptr<storage::ObjectStore>& store,
                            const std::map<std::string, std::string>& properties, const arrow::Schema& schema);

/// The maximum of `column` (timestamp of any unit, or date) over `rows`, in microseconds since the
/// epoch; absent when no row has a value. Uses Arrow's min_max kernel on rows already in memory.
std::optional<int64_t> NewestEventMicros(const std::vector<std::shared_ptr<arrow::RecordBatch>>& rows,
                                         const std::string& column);

/// Times one run of an ops/ operation and reports it when finished (used inside ops/).
class RunTracker {
 public:
  RunTracker(const std::shared_ptr<storage::ObjectStore>& store, std::string operation);
  /// Whether the run will be reported (else the setters below need not be called).
  bool active() const { return active_; }
  RunEvent& event() { return event_; }
  /// Records the table's properties (as early as they are known: observers read them even when
  /// the run then fails).
  void SetTableProperties(const std::map<std::string, std::string>& properties);
  /// Records the newest event time among the published `rows` (in the table's `schema`).
  void Published(const std::shared_ptr<storage::ObjectStore>& store, const arrow::Schema& schema,
                 const std::vector<std::shared_ptr<arrow::RecordBatch>>& rows);
  /// Ends the run with `status` and reports it: a failure publishes nothing (unless a version was
  /// committed), and a kExpectationFailed one counts every row taken in as rejected.
  void Finish(const Status& status);

 private:
  RunEvent event_;
  int64_t start_mono_us_ = 0;
  bool active_ = false;
};

}  // namespace strata::ops
