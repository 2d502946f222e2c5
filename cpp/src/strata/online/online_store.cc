#include "strata/online/online_store.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "strata/online/layout_internal.h"
#include "strata/online/redis_store.h"
#include "strata/online/rocksdb_store.h"

namespace strata::online {

const char* FeatureStatusName(FeatureStatus status) {
  switch (status) {
    case FeatureStatus::kPresent: return "PRESENT";
    case FeatureStatus::kNotFound: return "NOT_FOUND";
    case FeatureStatus::kOutsideMaxAge: return "OUTSIDE_MAX_AGE";
  }
  return "UNKNOWN";
}

Result<std::unique_ptr<OnlineStore>> OpenOnlineStore(const OnlineStoreConfig& config) {
  if (config.type == "rocksdb") {
    if (config.path.empty()) {
      return Error(ErrorCode::kInvalidArgument, "online store of type rocksdb needs a path");
    }
    RocksDbOptions o;
    o.path = config.path;
    o.mode = config.read_only ? RocksDbOptions::Mode::kSecondary : RocksDbOptions::Mode::kPrimary;
    return OpenRocksDbStore(o);
  }
  if (config.type == "redis") {
    if (config.read_only) {
      return Error(ErrorCode::kInvalidArgument, "read_only applies to rocksdb online stores only");
    }
    RedisOptions o;
    o.url = config.url.empty() ? o.url : config.url;
    o.key_prefix = config.key_prefix;
    return OpenRedisStore(o);
  }
  return Error(ErrorCode::kInvalidArgument, "unknown online store type '", config.type,
               "' (expected rocksdb or redis)");
}

namespace internal {

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarintSlow(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (size_t i = 0; i < in->size() && i < 10; ++i) {
    uint64_t byte = static_cast<uint8_t>((*in)[i]);
    if (i == 9 && byte > 1) return false;  // more than 64 bits
    result |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) return false;  // not minimal: every value has one encoding
      in->remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}

void AppendViewPrefix(char tag, std::string_view view, std::string* out) {
  out->push_back(tag);
  PutVarint(view.size(), out);
  out->append(view);
}

std::string RowKey(std::string_view view, std::string_view entity_key) {
  std::string k;
  k.reserve(view.size() + entity_key.size() + 3);
  AppendViewPrefix(kRowTag, view, &k);
  k.append(entity_key);
  return k;
}

std::string MetaKey(std::string_view view, std::string_view name) {
  std::string k;
  AppendViewPrefix(kMetaTag, view, &k);
  k.append(name);
  return k;
}

Status CheckView(std::string_view view) {
  if (view.empty()) return Error(ErrorCode::kInvalidArgument, "empty feature view name");
  return Status::OK();
}

Status EncodeBatch(std::string_view key_prefix, std::string_view view, const RowBatch& batch,
                   std::vector<std::string>* keys, std::vector<std::string>* rows) {
  ARROW_RETURN_NOT_OK(CheckView(view));
  const auto& names = batch.feature_names;
  if (names.empty() && !batch.rows.empty()) {
    return Error(ErrorCode::kInvalidArgument, "writing view '", view, "': no feature names");
  }
  std::vector<std::string_view> sorted(names.begin(), names.end());
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i].empty()) {
      return Error(ErrorCode::kInvalidArgument, "writing view '", view, "': empty feature name");
    }
    if (i > 0 && sorted[i] == sorted[i - 1]) {
      return Error(ErrorCode::kInvalidArgument, "writing view '", view, "': feature '",
                   sorted[i], "' named twice");
    }
  }
  for (size_t r = 0; r < batch.rows.size(); ++r) {
    const OnlineRow& row = batch.rows[r];
    if (row.values.size() != names.size()) {
      return Error(ErrorCode::kInvalidArgument, "writing view '", view, "': row ", r, " has ",
                   row.values.size(), " values for ", names.size(), " features");
    }
    if (row.entity_key.empty()) {
      return Error(ErrorCode::kInvalidArgument, "writing view '", view, "': row ", r,
                   " has an empty entity key");
    }
    if (row.created_ts == std::numeric_limits<int64_t>::min()) {
      return Error(ErrorCode::kInvalidArgument, "writing view '", view, "': row ", r,
                   " has created_ts INT64_MIN (reserved for 'absent')");
    }
  }
  keys->reserve(keys->size() + batch.rows.size());
  rows->reserve(rows->size() + batch.rows.size());
  std::string view_prefix(key_prefix);
  AppendViewPrefix(kRowTag, view, &view_prefix);
  for (const OnlineRow& row : batch.rows) {
    std::string& k = keys->emplace_back();
    k.reserve(view_prefix.size() + row.entity_key.size());
    k.append(view_prefix).append(row.entity_key);
    EncodeRow(RowVersion{row.event_ts, row.created_ts}, names, row.values,
              &rows->emplace_back());
  }
  return Status::OK();
}

ReadResult EmptyResult(size_t num_keys, size_t num_features) {
  ReadResult r;
  r.num_features = num_features;
  r.statuses.assign(num_keys, FeatureStatus::kNotFound);
  r.event_ts.assign(num_keys, 0);
  r.values.resize(num_keys * num_features);
  return r;
}

int64_t NowMicros(const ReadOptions& options) {
  if (options.now_micros) return *options.now_micros;
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status FillFromRow(std::string_view view, std::string_view entity_key, std::string_view row,
                   size_t i, FeatureSelector* features, const ReadOptions& options, int64_t now,
                   ReadResult* result) {
  auto version = DecodeRowVersion(row);
  if (!version.ok()) {
    return WithContext(version.status(), "reading view '" + std::string(view) + "' key " +
                                             Printable(entity_key));
  }
  result->event_ts[i] = version->event_ts;
  if (options.ttl_micros && *options.ttl_micros > 0) {
    // now - ttl <= event_ts, computed without overflow.
    bool expired = version->event_ts < now &&
                   static_cast<uint64_t>(now) - static_cast<uint64_t>(version->event_ts) >
                       static_cast<uint64_t>(*options.ttl_micros);
    if (expired) {
      // Still decode, so that a corrupt row is reported whatever its age.
      auto full = DecodeRow(row);
      if (!full.ok()) {
        return WithContext(full.status(), "reading view '" + std::string(view) + "' key " +
                                              Printable(entity_key));
      }
      result->statuses[i] = FeatureStatus::kOutsideMaxAge;
      return Status::OK();
    }
  }
  std::optional<FeatureValue>* out = result->values.data() + i * result->num_features;
  Status st = DecodeRowFeatures(row, features, out);
  if (!st.ok()) {
    for (size_t f = 0; f < result->num_features; ++f) out[f].reset();
    return WithContext(st, "reading view '" + std::string(view) + "' key " +
                               Printable(entity_key));
  }
  result->statuses[i] = FeatureStatus::kPresent;
  return Status::OK();
}

void SpreadDuplicateFeatures(std::span<const std::string> features, ReadResult* result) {
  std::vector<std::string_view> sorted(features.begin(), features.end());
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end()) return;
  const size_t nf = features.size();
  // first[f]: the first slot with the same name as slot f.
  std::vector<size_t> first(nf);
  for (size_t f = 0; f < nf; ++f) {
    first[f] = f;
    for (size_t g = 0; g < f; ++g) {
      if (features[g] == features[f]) {
        first[f] = g;
        break;
      }
    }
  }
  for (size_t k = 0; k < result->num_keys(); ++k) {
    std::optional<FeatureValue>* row = result->values.data() + k * nf;
    for (size_t f = 0; f < nf; ++f) {
      if (first[f] != f && row[f].has_value() && !row[first[f]].has_value()) {
        row[first[f]] = row[f];
      }
    }
    for (size_t f = 0; f < nf; ++f) {
      if (first[f] != f) row[f] = row[first[f]];
    }
  }
}

std::string Printable(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  size_t n = std::min<size_t>(bytes.size(), 48);
  for (size_t i = 0; i < n; ++i) {
    auto b = static_cast<uint8_t>(bytes[i]);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  if (n < bytes.size()) out += "...";
  return out;
}

Status ClosedError(std::string_view kind) {
  return Status::Invalid("the ", kind, " online store is closed");
}

}  // namespace internal
}  // namespace strata::online
