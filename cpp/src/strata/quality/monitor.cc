#include "strata/quality/monitor.h"

#include <charconv>
#include <chrono>
#include <cmath>

#include <arrow/api.h>

#include "strata/quality/contract.h"
#include "strata/table/commit.h"
#include "strata/table/snapshot.h"

namespace strata::quality {

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- Prometheus text exposition format 0.0.4 ----------------------------------------------------

std::string EscapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string Number(int64_t v) { return std::to_string(v); }

void Family(std::string* out, const char* name, const char* type, const char* help) {
  // HELP text escapes backslash and newline; ours has neither.
  *out += "# HELP ";
  *out += name;
  *out += ' ';
  *out += help;
  *out += "\n# TYPE ";
  *out += name;
  *out += ' ';
  *out += type;
  *out += '\n';
}

std::string Labels(const RunSeries& s, const std::string& extra = "") {
  std::string out = "{table=\"" + EscapeLabel(s.table) + "\",operation=\"" + EscapeLabel(s.operation) +
                    "\",source=\"" + EscapeLabel(s.source) + "\"";
  if (!extra.empty()) out += "," + extra;
  return out + "}";
}

void Sample(std::string* out, const std::string& name, const std::string& labels, const std::string& value) {
  *out += name;
  *out += labels;
  *out += ' ';
  *out += value;
  *out += '\n';
}

bool IsSideTable(const std::string& uri) {
  return uri.find("/_strata/") != std::string::npos || uri.rfind("_strata/", 0) == 0;
}

}  // namespace

const std::vector<double>& DefaultDurationBuckets() {
  static const std::vector<double> k = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                        1,     2.5,    5,     10,   30,    60,   120, 300, 600};
  return k;
}

RunRecorder::RunRecorder() : RunRecorder(Options{}) {}

RunRecorder::RunRecorder(Options options) : options_(std::move(options)) {
  if (!options_.now_us) options_.now_us = NowMicros;
}

void RunRecorder::Aggregate(const ops::RunEvent& e) {
  const double seconds = static_cast<double>(e.duration_us) / 1e6;
  const auto& bounds = options_.duration_buckets;
  size_t bucket = bounds.size();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      bucket = i;
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = series_.try_emplace(Key{e.table_uri, e.operation, e.source});
  RunSeries& s = it->second;
  if (inserted) {
    s.table = e.table_uri;
    s.operation = e.operation;
    s.source = e.source;
    s.duration_counts.assign(bounds.size() + 1, 0);
  }
  ++s.runs;
  if (!e.success) ++s.failed;
  s.rows_in += e.rows_in;
  s.rows_out += e.rows_out;
  s.rows_rejected += e.rows_rejected;
  s.duration_seconds += seconds;
  ++s.duration_counts[bucket];
  if (e.success && (!s.last_success_us || e.started_us > *s.last_success_us)) s.last_success_us = e.started_us;
  if (e.newest_event_us && (!s.newest_event_us || *e.newest_event_us > *s.newest_event_us)) {
    s.newest_event_us = e.newest_event_us;
  }
}

Status RunRecorder::OnRun(const ops::RunEvent& event) {
  Aggregate(event);
  if (!options_.persist) return Status::OK();
  return PersistRun(event);
}

std::vector<RunSeries> RunRecorder::Series() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RunSeries> out;
  out.reserve(series_.size());
  for (const auto& [k, s] : series_) out.push_back(s);
  return out;
}

void RunRecorder::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  series_.clear();
}

std::string RunRecorder::PrometheusText() const {
  const auto all = Series();
  const int64_t now = options_.now_us();
  std::string out;
  auto counter = [&](const char* name, const char* help, int64_t RunSeries::*field) {
    Family(&out, name, "counter", help);
    for (const auto& s : all) Sample(&out, name, Labels(s), Number(s.*field));
  };
  counter("strata_runs_total", "Runs of a writer over a table (successful or not).", &RunSeries::runs);
  counter("strata_runs_failed_total", "Runs that failed (nothing published, or an error after the commit).",
          &RunSeries::failed);
  counter("strata_run_rows_in_total", "Rows the runs took in (offered, source or matched rows).",
          &RunSeries::rows_in);
  counter("strata_run_rows_out_total", "Rows the runs published as new.", &RunSeries::rows_out);
  counter("strata_run_rows_rejected_total", "Rows kept out of the table (quarantined, or refused by a gate).",
          &RunSeries::rows_rejected);

  Family(&out, "strata_run_duration_seconds", "histogram", "Duration of the runs.");
  for (const auto& s : all) {
    int64_t cumulative = 0;
    for (size_t i = 0; i < s.duration_counts.size(); ++i) {
      cumulative += s.duration_counts[i];
      std::string le = i < options_.duration_buckets.size() ? Number(options_.duration_buckets[i]) : "+Inf";
      Sample(&out, "strata_run_duration_seconds_bucket", Labels(s, "le=\"" + le + "\""), Number(cumulative));
    }
    Sample(&out, "strata_run_duration_seconds_sum", Labels(s), Number(s.duration_seconds));
    Sample(&out, "strata_run_duration_seconds_count", Labels(s), Number(s.runs));
  }

  Family(&out, "strata_run_last_success_timestamp_seconds", "gauge",
         "Start of the last successful run, seconds since the epoch.");
  for (const auto& s : all) {
    if (s.last_success_us) {
      Sample(&out, "strata_run_last_success_timestamp_seconds", Labels(s),
             Number(static_cast<double>(*s.last_success_us) / 1e6));
    }
  }
  Family(&out, "strata_run_newest_event_timestamp_seconds", "gauge",
         "Newest event time the runs published, seconds since the epoch.");
  std::map<std::string, int64_t> newest_by_table;
  for (const auto& s : all) {
    if (!s.newest_event_us) continue;
    Sample(&out, "strata_run_newest_event_timestamp_seconds", Labels(s),
           Number(static_cast<double>(*s.newest_event_us) / 1e6));
    auto [it, inserted] = newest_by_table.try_emplace(s.table, *s.newest_event_us);
    if (!inserted && *s.newest_event_us > it->second) it->second = *s.newest_event_us;
  }
  Family(&out, "strata_table_freshness_seconds", "gauge",
         "Age of the newest event any run published into the table, in seconds.");
  for (const auto& [table, newest] : newest_by_table) {
    Sample(&out, "strata_table_freshness_seconds", "{table=\"" + EscapeLabel(table) + "\"}",
           Number(static_cast<double>(now - newest) / 1e6));
  }
  Family(&out, "strata_run_observer_errors_total", "counter",
         "Runs an observer failed to record (e.g. the runs table could not be written).");
  Sample(&out, "strata_run_observer_errors_total", "", Number(ops::RunObserverErrors()));
  return out;
}

// ---- the runs table -------------------------------------------------------------------------------

std::shared_ptr<arrow::Schema> RunsSchema() {
  auto ts = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  return arrow::schema({arrow::field("run_id", arrow::utf8()), arrow::field("table", arrow::utf8()),
                        arrow::field("operation", arrow::utf8()), arrow::field("source", arrow::utf8()),
                        arrow::field("version", arrow::int64()), arrow::field("rows_in", arrow::int64()),
                        arrow::field("rows_out", arrow::int64()), arrow::field("rows_rejected", arrow::int64()),
                        arrow::field("started_at", ts), arrow::field("duration_ms", arrow::float64()),
                        arrow::field("newest_event", ts), arrow::field("success", arrow::boolean()),
                        arrow::field("error", arrow::utf8())});
}

Result<std::shared_ptr<arrow::RecordBatch>> RunRows(const std::vector<ops::RunEvent>& events) {
  auto schema = RunsSchema();
  arrow::StringBuilder run_id, table, operation, source, error;
  arrow::Int64Builder version, rows_in, rows_out, rows_rejected;
  arrow::TimestampBuilder started(schema->field(8)->type(), arrow::default_memory_pool());
  arrow::TimestampBuilder newest(schema->field(10)->type(), arrow::default_memory_pool());
  arrow::DoubleBuilder duration;
  arrow::BooleanBuilder success;
  for (const auto& e : events) {
    ARROW_RETURN_NOT_OK(run_id.Append(table::NewUuid()));
    ARROW_RETURN_NOT_OK(table.Append(e.table_uri));
    ARROW_RETURN_NOT_OK(operation.Append(e.operation));
    ARROW_RETURN_NOT_OK(source.Append(e.source));
    ARROW_RETURN_NOT_OK(e.version >= 0 ? version.Append(e.version) : version.AppendNull());
    ARROW_RETURN_NOT_OK(rows_in.Append(e.rows_in));
    ARROW_RETURN_NOT_OK(rows_out.Append(e.rows_out));
    ARROW_RETURN_NOT_OK(rows_rejected.Append(e.rows_rejected));
    ARROW_RETURN_NOT_OK(started.Append(e.started_us));
    ARROW_RETURN_NOT_OK(duration.Append(static_cast<double>(e.duration_us) / 1000.0));
    ARROW_RETURN_NOT_OK(e.newest_event_us ? newest.Append(*e.newest_event_us) : newest.AppendNull());
    ARROW_RETURN_NOT_OK(success.Append(e.success));
    ARROW_RETURN_NOT_OK(e.success && e.error.empty() ? error.AppendNull() : error.Append(e.error));
  }
  arrow::ArrayVector cols(13);
  ARROW_RETURN_NOT_OK(run_id.Finish(&cols[0]));
  ARROW_RETURN_NOT_OK(table.Finish(&cols[1]));
  ARROW_RETURN_NOT_OK(operation.Finish(&cols[2]));
  ARROW_RETURN_NOT_OK(source.Finish(&cols[3]));
  ARROW_RETURN_NOT_OK(version.Finish(&cols[4]));
  ARROW_RETURN_NOT_OK(rows_in.Finish(&cols[5]));
  ARROW_RETURN_NOT_OK(rows_out.Finish(&cols[6]));
  ARROW_RETURN_NOT_OK(rows_rejected.Finish(&cols[7]));
  ARROW_RETURN_NOT_OK(started.Finish(&cols[8]));
  ARROW_RETURN_NOT_OK(duration.Finish(&cols[9]));
  ARROW_RETURN_NOT_OK(newest.Finish(&cols[10]));
  ARROW_RETURN_NOT_OK(success.Finish(&cols[11]));
  ARROW_RETURN_NOT_OK(error.Finish(&cols[12]));
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(events.size()), cols);
}

Status PersistRun(const ops::RunEvent& event) {
  if (event.table_uri.empty() || IsSideTable(event.table_uri)) return Status::OK();
  std::shared_ptr<storage::ObjectStore> store = event.store;
  if (!store) {
    ARROW_ASSIGN_OR_RAISE(store, storage::OpenStore(event.table_uri));
  }
  std::optional<std::map<std::string, std::string>> props = event.table_properties;
  if (!props) {
    // Not known to the writer (a failure before the table was read, or a run reported from
    // outside ops/): the table's latest metadata decides; no table, no runs table.
    auto snap = table::Snapshot::Load(store, std::nullopt, /*with_files=*/false);
    if (!snap.ok()) {
      if (HasCode(snap.status(), ErrorCode::kNotATable)) return Status::OK();
      return snap.status();
    }
    props = (*snap)->metadata().configuration;
  }
  auto opt = props->find(kRecordRunsProperty);
  if (opt != props->end() && opt->second == "false") return Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto rows, RunRows({event}));
  return WithContext(AppendToSideTable(store, kRunsTable, std::move(rows)), std::string("appending to ") + kRunsTable);
}

// ---- the process recorder -----------------------------------------------------------------------

const std::shared_ptr<RunRecorder>& ProcessRunRecorder() {
  static const std::shared_ptr<RunRecorder> recorder = std::make_shared<RunRecorder>();
  return recorder;
}

void InstallRunRecorder() {
  static std::once_flag once;
  std::call_once(once, [] {
    ops::SetEventTimeColumnProvider([](const std::shared_ptr<storage::ObjectStore>& store) -> std::string {
      auto contract = LoadContract(store);
      if (!contract.ok() || !*contract) return "";
      return (*contract)->freshness_column();
    });
    ops::AddRunObserver(ProcessRunRecorder());
  });
}

void RecordRun(ops::RunEvent event) {
  if (event.started_us == 0) event.started_us = NowMicros() - event.duration_us;
  ops::NotifyRun(event);
}

std::string RunMetricsText() { return ProcessRunRecorder()->PrometheusText(); }

}  // namespace strata::quality
