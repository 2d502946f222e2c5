#include "strata/ops/run_observer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include <arrow/compute/api_aggregate.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/type.h>

namespace strata::ops {

namespace {

std::mutex observers_mu;
std::vector<std::shared_ptr<RunObserver>>& Observers() {
  static std::vector<std::shared_ptr<RunObserver>> observers;
  return observers;
}
std::atomic<size_t> observer_count{0};
std::atomic<int64_t> observer_errors{0};
thread_local int unobserved_depth = 0;

std::mutex provider_mu;
EventTimeColumnProvider& Provider() {
  static EventTimeColumnProvider provider;
  return provider;
}

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonoMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Microseconds per unit of a timestamp or date column; 0 for other types.
int64_t MicrosPerUnit(const arrow::DataType& type, bool* divide) {
  *divide = false;
  switch (type.id()) {
    case arrow::Type::TIMESTAMP:
      switch (static_cast<const arrow::TimestampType&>(type).unit()) {
        case arrow::TimeUnit::SECOND: return 1000000;
        case arrow::TimeUnit::MILLI: return 1000;
        case arrow::TimeUnit::MICRO: return 1;
        case arrow::TimeUnit::NANO: *divide = true; return 1000;
      }
      return 0;
    case arrow::Type::DATE32: return 86400LL * 1000000;
    case arrow::Type::DATE64: return 1000;
    default: return 0;
  }
}

bool IsEventTimeType(const arrow::DataType& type) {
  bool divide;
  return MicrosPerUnit(type, &divide) != 0;
}

}  // namespace

void AddRunObserver(std::shared_ptr<RunObserver> observer) {
  if (!observer) return;
  std::lock_guard<std::mutex> lock(observers_mu);
  auto& all = Observers();
  if (std::find(all.begin(), all.end(), observer) != all.end()) return;
  all.push_back(std::move(observer));
  observer_count = all.size();
}

void RemoveRunObserver(const std::shared_ptr<RunObserver>& observer) {
  std::lock_guard<std::mutex> lock(observers_mu);
  auto& all = Observers();
  all.erase(std::remove(all.begin(), all.end(), observer), all.end());
  observer_count = all.size();
}

bool RunsObserved() { return unobserved_depth == 0 && observer_count.load(std::memory_order_relaxed) > 0; }

void NotifyRun(const RunEvent& event) {
  if (unobserved_depth > 0) return;
  std::vector<std::shared_ptr<RunObserver>> observers;
  {
    std::lock_guard<std::mutex> lock(observers_mu);
    observers = Observers();
  }
  for (const auto& o : observers) {
    Status st;
    try {
      st = o->OnRun(event);
    } catch (const std::exception& e) {
      st = Status::UnknownError("run observer threw: ", e.what());
    } catch (...) {
      st = Status::UnknownError("run observer threw");
    }
    if (!st.ok()) {
      ++observer_errors;
      std::fprintf(stderr, "strata: recording the %s run of '%s' failed (the run itself is unaffected): %s\n",
                   event.operation.c_str(), event.table_uri.c_str(), st.ToString().c_str());
    }
  }
}

int64_t RunObserverErrors() { return observer_errors.load(); }

ScopedRunsUnobserved::ScopedRunsUnobserved() { ++unobserved_depth; }
ScopedRunsUnobserved::~ScopedRunsUnobserved() { --unobserved_depth; }

void SetEventTimeColumnProvider(EventTimeColumnProvider provider) {
  std::lock_guard<std::mutex> lock(provider_mu);
  Provider() = std::move(provider);
}

std::string EventTimeColumn(const std::shared_ptr<storage::ObjectStore>& store,
                            const std::map<std::string, std::string>& properties, const arrow::Schema& schema) {
  auto usable = [&](const std::string& name) {
    auto f = schema.GetFieldByName(name);
    return f && IsEventTimeType(*f->type());
  };
  auto prop = properties.find(kEventTimeColumnProperty);
  if (prop != properties.end()) return usable(prop->second) ? prop->second : std::string();
  EventTimeColumnProvider provider;
  {
    std::lock_guard<std::mutex> lock(provider_mu);
    provider = Provider();
  }
  if (provider && store) {
    std::string named = provider(store);
    if (!named.empty() && usable(named)) return named;
  }
  for (const auto& f : schema.fields()) {
    if (f->type()->id() == arrow::Type::TIMESTAMP) return f->name();
  }
  return "";
}

std::optional<int64_t> NewestEventMicros(const std::vector<std::shared_ptr<arrow::RecordBatch>>& rows,
                                         const std::string& column) {
  if (column.empty()) return std::nullopt;
  std::optional<int64_t> newest;
  for (const auto& b : rows) {
    if (!b || b->num_rows() == 0) continue;
    auto col = b->GetColumnByName(column);
    if (!col || col->null_count() == col->length()) continue;
    bool divide = false;
    int64_t per = MicrosPerUnit(*col->type(), &divide);
    if (per == 0) continue;
    auto mm = arrow::compute::MinMax(col);
    if (!mm.ok()) continue;
    const auto& st = static_cast<const arrow::StructScalar&>(*mm->scalar());
    const auto& max = st.value[1];
    if (!max || !max->is_valid) continue;
    int64_t raw = 0;
    switch (max->type->id()) {
      case arrow::Type::DATE32: raw = static_cast<const arrow::Date32Scalar&>(*max).value; break;
      case arrow::Type::DATE64: raw = static_cast<const arrow::Date64Scalar&>(*max).value; break;
      default: raw = static_cast<const arrow::TimestampScalar&>(*max).value; break;
    }
    int64_t us = divide ? raw / per : raw * per;
    if (!newest || us > *newest) newest = us;
  }
  return newest;
}

RunTracker::RunTracker(const std::shared_ptr<storage::ObjectStore>& store, std::string operation)
    : active_(RunsObserved()) {
  if (!active_) return;
  event_.table_uri = store ? store->root() : std::string();
  event_.store = store;
  event_.operation = std::move(operation);
  event_.started_us = WallMicros();
  start_mono_us_ = MonoMicros();
}

void RunTracker::SetTableProperties(const std::map<std::string, std::string>& properties) {
  if (active_) event_.table_properties = properties;
}

void RunTracker::Published(const std::shared_ptr<storage::ObjectStore>& store, const arrow::Schema& schema,
                           const std::vector<std::shared_ptr<arrow::RecordBatch>>& rows) {
  if (!active_) return;
  static const std::map<std::string, std::string> kNone;
  const auto& props = event_.table_properties ? *event_.table_properties : kNone;
  event_.newest_event_us = NewestEventMicros(rows, EventTimeColumn(store, props, schema));
}

void RunTracker::Finish(const Status& status) {
  if (!active_) return;
  active_ = false;
  event_.duration_us = std::max<int64_t>(0, MonoMicros() - start_mono_us_);
  event_.success = status.ok();
  if (!status.ok()) {
    event_.error = status.message();
    if (event_.version < 0) {
      event_.rows_out = 0;
      event_.newest_event_us.reset();
    }
    if (HasCode(status, ErrorCode::kExpectationFailed)) event_.rows_rejected = event_.rows_in;
  }
  NotifyRun(event_);
}

}  // namespace strata::ops
