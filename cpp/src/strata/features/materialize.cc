// Materialization: source table (window scan or change data feed) -> latest row per entity ->
// online store; runs recorded in `<repo>/.strata/materializations`.
#include "strata/features/materialize.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <unordered_map>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/hashing.h>

#include "strata/exec/changes.h"
#include "strata/exec/scan.h"
#include "strata/expr/expr.h"
#include "strata/ops/write.h"
#include "strata/storage/object_store.h"
#include "strata/table/snapshot.h"

namespace strata::features {

namespace {

using online::FeatureValue;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RunsUri(const std::string& root) { return root + "/.strata/materializations"; }

/// "2026-01-02 03:04:05.678901" (UTC) for SQL literals.
std::string SqlTimestamp(int64_t us) {
  int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
  int64_t frac = us - secs * 1000000;
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%06lld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
  return buf;
}

std::string Quote(const std::string& name) {
  std::string out = "`";
  for (char c : name) {
    out += c;
    if (c == '`') out += '`';
  }
  return out + "`";
}

/// Microseconds per unit of a timestamp type.
int64_t MicrosPerUnitNumerator(arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND: return 1000000;
    case arrow::TimeUnit::MILLI: return 1000;
    default: return 1;
  }
}

/// A timestamp column as microseconds (nullopt for nulls).
class TimestampColumn {
 public:
  explicit TimestampColumn(const std::shared_ptr<arrow::Array>& a) : array_(a) {
    auto type = std::static_pointer_cast<arrow::TimestampType>(a->type());
    values_ = a->data()->GetValues<int64_t>(1);
    if (type->unit() == arrow::TimeUnit::NANO) {
      div_ = 1000;
    } else {
      mul_ = MicrosPerUnitNumerator(type->unit());
    }
  }
  bool IsNull(int64_t i) const { return array_->IsNull(i); }
  int64_t Micros(int64_t i) const {
    int64_t v = values_[i];
    if (div_ > 1) return v >= 0 ? v / div_ : -((-v + div_ - 1) / div_);
    return v * mul_;
  }

 private:
  std::shared_ptr<arrow::Array> array_;
  const int64_t* values_ = nullptr;
  int64_t mul_ = 1, div_ = 1;
};

/// Reads one value of any supported column type as an online FeatureValue.
Result<FeatureValue> ValueAt(const arrow::Array& a, int64_t i) {
  if (a.IsNull(i)) return FeatureValue{};
  switch (a.type_id()) {
    case arrow::Type::BOOL: return FeatureValue{static_cast<const arrow::BooleanArray&>(a).Value(i)};
    case arrow::Type::INT8: return FeatureValue{int64_t{static_cast<const arrow::Int8Array&>(a).Value(i)}};
    case arrow::Type::INT16: return FeatureValue{int64_t{static_cast<const arrow::Int16Array&>(a).Value(i)}};
    case arrow::Type::INT32: return FeatureValue{int64_t{static_cast<const arrow::Int32Array&>(a).Value(i)}};
    case arrow::Type::INT64: return FeatureValue{static_cast<const arrow::Int64Array&>(a).Value(i)};
    case arrow::Type::UINT8: return FeatureValue{int64_t{static_cast<const arrow::UInt8Array&>(a).Value(i)}};
    case arrow::Type::UINT16: return FeatureValue{int64_t{static_cast<const arrow::UInt16Array&>(a).Value(i)}};
    case arrow::Type::UINT32: return FeatureValue{int64_t{static_cast<const arrow::UInt32Array&>(a).Value(i)}};
    case arrow::Type::HALF_FLOAT: {
      ARROW_ASSIGN_OR_RAISE(auto s, a.GetScalar(i));
      ARROW_ASSIGN_OR_RAISE(auto d, s->CastTo(arrow::float64()));
      return FeatureValue{static_cast<const arrow::DoubleScalar&>(*d).value};
    }
    case arrow::Type::FLOAT: return FeatureValue{double{static_cast<const arrow::FloatArray&>(a).Value(i)}};
    case arrow::Type::DOUBLE: return FeatureValue{static_cast<const arrow::DoubleArray&>(a).Value(i)};
    case arrow::Type::STRING: return FeatureValue{static_cast<const arrow::StringArray&>(a).GetString(i)};
    case arrow::Type::LARGE_STRING: return FeatureValue{static_cast<const arrow::LargeStringArray&>(a).GetString(i)};
    case arrow::Type::STRING_VIEW: return FeatureValue{std::string(static_cast<const arrow::StringViewArray&>(a).GetView(i))};
    case arrow::Type::TIMESTAMP: return FeatureValue{TimestampColumn(a.Slice(i, 1)).Micros(0)};
    case arrow::Type::DATE32:
      return FeatureValue{int64_t{static_cast<const arrow::Date32Array&>(a).Value(i)} * 86400000000LL};
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::FIXED_SIZE_LIST: {
      ARROW_ASSIGN_OR_RAISE(auto s, a.GetScalar(i));
      auto values = static_cast<const arrow::BaseListScalar&>(*s).value;
      ARROW_ASSIGN_OR_RAISE(auto f, arrow::compute::Cast(values, arrow::float32()));
      const auto array = f.make_array();  // kept: a reference into a temporary would dangle
      const auto& fa = static_cast<const arrow::FloatArray&>(*array);
      std::vector<float> out(static_cast<size_t>(fa.length()));
      for (int64_t k = 0; k < fa.length(); ++k) out[k] = fa.IsNull(k) ? 0.0f : fa.Value(k);
      return FeatureValue{std::move(out)};
    }
    default:
      return Error(ErrorCode::kInvalidArgument, "column type ", a.type()->ToString(), " cannot be materialized");
  }
}

/// The latest row per entity, as OnlineRows in first-seen order. Entries are kept in flat arrays
/// (versions, values entity-major) and a single int64 join key — the common case — is indexed by
/// its value; other keys by their encoded bytes.
class LatestRows {
 public:
  LatestRows(std::vector<std::string> key_names, std::vector<std::string> features)
      : key_names_(std::move(key_names)), features_(std::move(features)) {}

  Status Init() {
    ARROW_ASSIGN_OR_RAISE(encoder_, online::EntityKeyEncoder::Make(key_names_));
    return Status::OK();
  }

  /// Offers every row of `batch` (columns: keys..., ts, [created], features...) within [lo, hi].
  Status Add(const arrow::RecordBatch& batch, const std::string& ts_name, const std::string& created_name,
             std::optional<int64_t> lo, int64_t hi, int64_t* rows_read) {
    const int64_t n = batch.num_rows();
    std::vector<std::shared_ptr<arrow::Array>> keys;
    for (const auto& k : key_names_) keys.push_back(batch.GetColumnByName(k));
    TimestampColumn ts(batch.GetColumnByName(ts_name));
    std::optional<TimestampColumn> created;
    if (!created_name.empty()) created.emplace(batch.GetColumnByName(created_name));
    std::vector<std::shared_ptr<arrow::Array>> feats;
    for (const auto& f : features_) feats.push_back(batch.GetColumnByName(f));
    const size_t nf = feats.size();
    // float64 and int64 features (the usual ones) are read straight from their buffers;
    // ValueAt converts the other types.
    std::vector<const double*> doubles(nf, nullptr);
    std::vector<const int64_t*> ints(nf, nullptr);
    for (size_t f = 0; f < nf; ++f) {
      if (feats[f]->type_id() == arrow::Type::DOUBLE) doubles[f] = feats[f]->data()->GetValues<double>(1);
      if (feats[f]->type_id() == arrow::Type::INT64) ints[f] = feats[f]->data()->GetValues<int64_t>(1);
    }
    const bool int_key = keys.size() == 1 && keys[0]->type_id() == arrow::Type::INT64;
    const int64_t* int_values = int_key ? keys[0]->data()->GetValues<int64_t>(1) : nullptr;
    std::vector<online::JoinKeyValue> kv(keys.size());
    std::string key;
    for (int64_t i = 0; i < n; ++i) {
      if (ts.IsNull(i)) continue;
      int64_t t = ts.Micros(i);
      if ((lo && t < *lo) || t > hi) continue;
      ++*rows_read;
      const int64_t c = created && !created->IsNull(i) ? created->Micros(i) : INT64_MIN;
      size_t slot;
      bool fresh;
      if (int_key) {
        if (keys[0]->IsNull(i)) continue;
        // The memo table numbers keys in first-seen order, which is the order of the slots.
        int32_t memo = 0;
        fresh = false;
        ARROW_RETURN_NOT_OK(int_index_.GetOrInsert(
            int_values[i], [](int32_t) {}, [&](int32_t) { fresh = true; }, &memo));
        slot = static_cast<size_t>(memo);
        if (fresh) int_keys_.push_back(int_values[i]);
      } else {
        bool null_key = false;
        for (size_t k = 0; k < keys.size() && !null_key; ++k) {
          const arrow::Array& a = *keys[k];
          if (a.IsNull(i)) {
            null_key = true;
            break;
          }
          switch (a.type_id()) {
            case arrow::Type::STRING: kv[k] = static_cast<const arrow::StringArray&>(a).GetString(i); break;
            case arrow::Type::LARGE_STRING: kv[k] = static_cast<const arrow::LargeStringArray&>(a).GetString(i); break;
            case arrow::Type::STRING_VIEW:
              kv[k] = std::string(static_cast<const arrow::StringViewArray&>(a).GetView(i));
              break;
            default: {
              ARROW_ASSIGN_OR_RAISE(auto v, ValueAt(a, i));
              if (!std::holds_alternative<int64_t>(v)) {
                return Error(ErrorCode::kInvalidArgument, "join key '", key_names_[k], "' has type ",
                             a.type()->ToString(), "; join keys are integers or strings");
              }
              kv[k] = std::get<int64_t>(v);
            }
          }
        }
        if (null_key) continue;
        key.clear();
        encoder_.Encode(kv, &key);
        auto [it, inserted] = index_.try_emplace(key, event_.size());
        slot = it->second;
        fresh = inserted;
        if (inserted) keys_.push_back(key);
      }
      if (fresh) {
        event_.push_back(t);
        created_.push_back(c);
        values_.resize(values_.size() + nf);
      } else {
        // Ties on the whole version keep the row read last (as the as-of join does).
        if (t < event_[slot] || (t == event_[slot] && c < created_[slot])) continue;
        event_[slot] = t;
        created_[slot] = c;
      }
      FeatureValue* out = values_.data() + slot * nf;
      for (size_t f = 0; f < nf; ++f) {
        const arrow::Array& a = *feats[f];
        if (doubles[f] != nullptr && !a.IsNull(i)) {
          out[f] = doubles[f][i];
        } else if (ints[f] != nullptr && !a.IsNull(i)) {
          out[f] = ints[f][i];
        } else {
          ARROW_ASSIGN_OR_RAISE(out[f], ValueAt(a, i));
        }
      }
    }
    return Status::OK();
  }

  /// Writes everything in chunks; returns the rows written.
  Result<int64_t> Flush(online::OnlineStore& store, const std::string& view, int64_t chunk,
                        const std::function<void(int64_t)>& progress) {
    int64_t written = 0;
    online::RowBatch batch;
    batch.feature_names = features_;
    const size_t nf = features_.size();
    const size_t total = event_.size();
    // In key order: the store's memtable inserts sorted keys far faster than random ones (the
    // int64 key encoding preserves order).
    std::vector<size_t> order(total);
    for (size_t i = 0; i < total; ++i) order[i] = i;
    if (!int_keys_.empty()) {
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return int_keys_[a] < int_keys_[b]; });
    } else {
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys_[a] < keys_[b]; });
    }
    for (size_t n = 0; n < total; ++n) {
      const size_t i = order[n];
      online::OnlineRow row;
      if (!int_keys_.empty()) {
        row.entity_key = online::EncodeEntityKey(key_names_[0], int_keys_[i]);
      } else {
        row.entity_key = std::move(keys_[i]);
      }
      row.event_ts = event_[i];
      if (created_[i] != INT64_MIN) row.created_ts = created_[i];
      row.values.assign(std::make_move_iterator(values_.begin() + i * nf),
                        std::make_move_iterator(values_.begin() + (i + 1) * nf));
      batch.rows.push_back(std::move(row));
      if (static_cast<int64_t>(batch.rows.size()) >= chunk || n + 1 == total) {
        ARROW_RETURN_NOT_OK(store.WriteBatch(view, batch));
        written += static_cast<int64_t>(batch.rows.size());
        batch.rows.clear();
        if (progress) progress(written);
      }
    }
    return written;
  }

 private:
  std::vector<std::string> key_names_, features_;
  online::EntityKeyEncoder encoder_ = *online::EntityKeyEncoder::Make({"_"});
  arrow::internal::ScalarMemoTable<int64_t> int_index_{arrow::default_memory_pool()};
  std::vector<int64_t> int_keys_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::string> keys_;
  std::vector<int64_t> event_, created_;  // created: INT64_MIN when absent
  std::vector<FeatureValue> values_;      // entity-major, features_.size() per entity
};

std::shared_ptr<arrow::Schema> RunsSchema() {
  auto ts = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  return arrow::schema({
      arrow::field("view", arrow::utf8(), false),
      arrow::field("start", ts),
      arrow::field("end", ts, false),
      arrow::field("source_version", arrow::int64(), false),
      arrow::field("rows_read", arrow::int64(), false),
      arrow::field("rows_written", arrow::int64(), false),
      arrow::field("used_cdf", arrow::boolean(), false),
      arrow::field("finished_at", ts, false),
      arrow::field("seconds", arrow::float64(), false),
  });
}

Status RecordRun(const std::string& root, const ViewMaterialization& run) {
  auto ts = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  arrow::StringBuilder view;
  arrow::TimestampBuilder start(ts, arrow::default_memory_pool()), end(ts, arrow::default_memory_pool()),
      finished(ts, arrow::default_memory_pool());
  arrow::Int64Builder version, read, written;
  arrow::BooleanBuilder cdf;
  arrow::DoubleBuilder seconds;
  ARROW_RETURN_NOT_OK(view.Append(run.view));
  ARROW_RETURN_NOT_OK(run.start_us ? start.Append(*run.start_us) : start.AppendNull());
  ARROW_RETURN_NOT_OK(end.Append(run.end_us));
  ARROW_RETURN_NOT_OK(version.Append(run.source_version));
  ARROW_RETURN_NOT_OK(read.Append(run.rows_read));
  ARROW_RETURN_NOT_OK(written.Append(run.rows_written));
  ARROW_RETURN_NOT_OK(cdf.Append(run.used_cdf));
  ARROW_RETURN_NOT_OK(finished.Append(run.finished_at_us));
  ARROW_RETURN_NOT_OK(seconds.Append(run.seconds));
  std::vector<std::shared_ptr<arrow::Array>> cols(9);
  ARROW_RETURN_NOT_OK(view.Finish(&cols[0]));
  ARROW_RETURN_NOT_OK(start.Finish(&cols[1]));
  ARROW_RETURN_NOT_OK(end.Finish(&cols[2]));
  ARROW_RETURN_NOT_OK(version.Finish(&cols[3]));
  ARROW_RETURN_NOT_OK(read.Finish(&cols[4]));
  ARROW_RETURN_NOT_OK(written.Finish(&cols[5]));
  ARROW_RETURN_NOT_OK(cdf.Finish(&cols[6]));
  ARROW_RETURN_NOT_OK(finished.Finish(&cols[7]));
  ARROW_RETURN_NOT_OK(seconds.Finish(&cols[8]));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make({arrow::RecordBatch::Make(RunsSchema(), 1, cols)}));
  ARROW_ASSIGN_OR_RAISE(auto store, storage::OpenStore(RunsUri(root)));
  ops::WriteOptions o;
  o.name = "strata materializations";
  o.configuration["strata.runs.record"] = "false";  // bookkeeping, not data: no run records
  return ops::WriteTable(store, reader, o).status();
}

Result<ViewMaterialization> MaterializeView(const Repository& repo, const FeatureView& view,
                                            online::OnlineStore& store, const MaterializeOptions& options) {
  auto started = std::chrono::steady_clock::now();
  const Source* src = repo.FindSource(view.source);
  if (src == nullptr) return Error(ErrorCode::kInvalidArgument, "feature view '", view.name, "': unknown source");
  ViewMaterialization run;
  run.view = view.name;
  run.end_us = options.end_us;
  run.start_us = options.start_us;
  std::optional<ViewMaterialization> last;
  if (options.incremental) {
    ARROW_ASSIGN_OR_RAISE(last, LastMaterialization(repo.root, view.name));
    if (last) {
      run.start_us = last->end_us;
    } else if (view.ttl_us && !options.start_us) {
      run.start_us = options.end_us - *view.ttl_us;  // nothing older could be served anyway
    }
  }
  if (run.start_us && *run.start_us > run.end_us) {
    return Error(ErrorCode::kInvalidArgument, "materialize '", view.name, "': start ", SqlTimestamp(*run.start_us),
                 " is after end ", SqlTimestamp(run.end_us));
  }
  ARROW_ASSIGN_OR_RAISE(auto tstore, storage::OpenStore(src->table_uri));
  ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(tstore));
  run.source_version = snap->version();

  std::vector<std::string> key_names;
  for (const auto& k : repo.JoinKeys(view)) key_names.push_back(k.name);
  std::vector<std::string> features;
  for (const auto& f : view.features) features.push_back(f.name);
  std::vector<std::string> columns = key_names;
  columns.push_back(src->timestamp_field);
  if (!src->created_timestamp_field.empty()) columns.push_back(src->created_timestamp_field);
  columns.insert(columns.end(), features.begin(), features.end());

  LatestRows latest(key_names, features);
  ARROW_RETURN_NOT_OK(latest.Init());

  bool cdf_on = snap->Property("delta.enableChangeDataFeed") == "true";
  // With the feed: the changes committed since the last run (any event time <= end) plus, from the
  // version the last run read, the rows its window left for later (event time in (watermark, end]).
  table::SnapshotPtr window_snap = snap;
  std::shared_ptr<arrow::Table> changed_rows;  // offered after the window: later commits win ties
  if (last && last->source_version >= 0 && cdf_on) {
    if (last->source_version >= snap->version()) {
      run.used_cdf = true;  // nothing committed since
    } else {
      auto changes = exec::ReadChanges(tstore, last->source_version + 1, snap->version());
      if (changes.ok()) {
        run.used_cdf = true;
        auto loaded = table::Snapshot::Load(tstore, last->source_version);
        if (!loaded.ok()) return loaded.status();
        window_snap = *loaded;
        auto t = *changes;
        arrow::StringBuilder kinds;
        ARROW_RETURN_NOT_OK(kinds.AppendValues({"insert", "update_postimage"}));
        ARROW_ASSIGN_OR_RAISE(auto kind_values, kinds.Finish());
        ARROW_ASSIGN_OR_RAISE(auto keep, arrow::compute::IsIn(arrow::Datum(t->GetColumnByName("_change_type")),
                                                              arrow::compute::SetLookupOptions(kind_values)));
        ARROW_ASSIGN_OR_RAISE(auto filtered, arrow::compute::Filter(t, keep));
        ARROW_ASSIGN_OR_RAISE(auto selected, filtered.table()->SelectColumns([&] {
          std::vector<int> idx;
          for (const auto& c : columns) idx.push_back(filtered.table()->schema()->GetFieldIndex(c));
          return idx;
        }()));
        changed_rows = selected;
      }
      // On error (the feed was off at some version, or its files were vacuumed) fall back to the window.
    }
  }
  {
    const table::SnapshotPtr& snap = window_snap;
    exec::ScanOptions scan;
    scan.columns = columns;
    auto field = snap->schema()->GetFieldByName(src->timestamp_field);
    if (field == nullptr || field->type()->id() != arrow::Type::TIMESTAMP) {
      return Error(ErrorCode::kInvalidArgument, "source '", src->name, "': timestamp_field '", src->timestamp_field,
                   "' is not a timestamp column of ", src->table);
    }
    // Prunes files by their statistics; rows are checked again exactly in LatestRows::Add.
    const bool ntz = std::static_pointer_cast<arrow::TimestampType>(field->type())->timezone().empty();
    const std::string kind = ntz ? "TIMESTAMP_NTZ '" : "TIMESTAMP '";
    const std::string suffix = ntz ? "'" : "+00:00'";
    std::string filter = Quote(src->timestamp_field) + " <= " + kind + SqlTimestamp(run.end_us) + suffix;
    if (run.start_us) {
      filter += " AND " + Quote(src->timestamp_field) + " >= " + kind + SqlTimestamp(*run.start_us) + suffix;
    }
    ARROW_ASSIGN_OR_RAISE(scan.filter, expr::Parse(filter));
    ARROW_ASSIGN_OR_RAISE(auto reader, exec::Scan(snap, scan));
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
      if (!batch) break;
      ARROW_RETURN_NOT_OK(latest.Add(*batch, src->timestamp_field, src->created_timestamp_field, run.start_us,
                                     run.end_us, &run.rows_read));
      if (options.progress) options.progress(view.name, run.rows_read, 0);
    }
  }
  if (changed_rows) {
    arrow::TableBatchReader reader(*changed_rows);
    std::shared_ptr<arrow::RecordBatch> batch;
    while (true) {
      ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
      if (!batch) break;
      ARROW_RETURN_NOT_OK(latest.Add(*batch, src->timestamp_field, src->created_timestamp_field, std::nullopt,
                                     run.end_us, &run.rows_read));
    }
  }
  ARROW_ASSIGN_OR_RAISE(run.rows_written,
                        latest.Flush(store, view.name, options.write_batch_rows, [&](int64_t written) {
                          if (options.progress) options.progress(view.name, run.rows_read, written);
                        }));
  run.finished_at_us = NowMicros();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // Recorded only after every row is in the store: a run killed before this point is simply
  // rerun from the previous watermark, and the store's version check makes the rerun converge.
  ARROW_RETURN_NOT_OK(RecordRun(repo.root, run));
  return run;
}

Result<std::vector<ViewMaterialization>> ReadRuns(const std::string& root) {
  ARROW_ASSIGN_OR_RAISE(auto store, storage::OpenStore(RunsUri(root)));
  auto snap = table::Snapshot::Load(store);
  if (!snap.ok()) {
    if (HasCode(snap.status(), ErrorCode::kNotATable)) return std::vector<ViewMaterialization>{};
    return snap.status();
  }
  ARROW_ASSIGN_OR_RAISE(auto t, exec::ScanToTable(*snap, {}));
  ARROW_ASSIGN_OR_RAISE(t, t->CombineChunks());
  std::vector<ViewMaterialization> out;
  if (t->num_rows() == 0) return out;
  auto col = [&](const char* name) { return t->GetColumnByName(name)->chunk(0); };
  auto view = std::static_pointer_cast<arrow::StringArray>(col("view"));
  auto start = std::static_pointer_cast<arrow::TimestampArray>(col("start"));
  auto end = std::static_pointer_cast<arrow::TimestampArray>(col("end"));
  auto version = std::static_pointer_cast<arrow::Int64Array>(col("source_version"));
  auto read = std::static_pointer_cast<arrow::Int64Array>(col("rows_read"));
  auto written = std::static_pointer_cast<arrow::Int64Array>(col("rows_written"));
  auto cdf = std::static_pointer_cast<arrow::BooleanArray>(col("used_cdf"));
  auto finished = std::static_pointer_cast<arrow::TimestampArray>(col("finished_at"));
  auto seconds = std::static_pointer_cast<arrow::DoubleArray>(col("seconds"));
  for (int64_t i = 0; i < t->num_rows(); ++i) {
    ViewMaterialization r;
    r.view = view->GetString(i);
    if (start->IsValid(i)) r.start_us = start->Value(i);
    r.end_us = end->Value(i);
    r.source_version = version->Value(i);
    r.rows_read = read->Value(i);
    r.rows_written = written->Value(i);
    r.used_cdf = cdf->Value(i);
    r.finished_at_us = finished->Value(i);
    r.seconds = seconds->Value(i);
    out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.finished_at_us < b.finished_at_us; });
  return out;
}

}  // namespace

Result<std::vector<ViewMaterialization>> MaterializationHistory(const std::string& root) { return ReadRuns(root); }

Result<std::optional<ViewMaterialization>> LastMaterialization(const std::string& root, const std::string& view) {
  ARROW_ASSIGN_OR_RAISE(auto runs, ReadRuns(root));
  std::optional<ViewMaterialization> last;
  for (auto& r : runs) {
    // The watermark is the largest end reached (a backfill of an older window does not move it back).
    if (r.view == view && (!last || r.end_us >= last->end_us)) last = r;
  }
  return last;
}

Result<std::vector<ViewMaterialization>> Materialize(const Repository& repo, online::OnlineStore& store,
                                                     const MaterializeOptions& options) {
  std::vector<const FeatureView*> views;
  if (options.views.empty()) {
    for (const auto& v : repo.feature_views) {
      if (v.online) views.push_back(&v);
    }
  } else {
    for (const auto& name : options.views) {
      const FeatureView* v = repo.FindView(name);
      if (v == nullptr) return Error(ErrorCode::kInvalidArgument, "materialize: unknown feature view '", name, "'");
      if (!v->online) {
        return Error(ErrorCode::kInvalidArgument, "materialize: feature view '", name, "' has online: false");
      }
      views.push_back(v);
    }
  }
  std::vector<ViewMaterialization> out;
  for (const FeatureView* v : views) {
    auto run = MaterializeView(repo, *v, store, options);
    if (!run.ok()) return WithContext(run.status(), "materializing '" + v->name + "'");
    out.push_back(std::move(*run));
  }
  return out;
}

}  // namespace strata::features
