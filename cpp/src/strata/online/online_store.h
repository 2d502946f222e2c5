/// \file
/// OnlineStore: the latest feature values per (feature view, entity key), with their event
/// timestamp, for low-latency serving. Materialization jobs and stream workers write it; the
/// feature server reads it. Implementations: RocksDB (embedded, the default; rocksdb_store.h)
/// and Redis (shared by many servers; redis_store.h). Every implementation runs the shared
/// conformance suite in online_store_test.cc.
///
/// Owns the entity key and row encodings (key.h, value.h). Knows nothing of the registry,
/// tables, Arrow or HTTP: callers pass view names, encoded keys, feature names, TTLs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strata/common/status.h"
#include "strata/online/key.h"
#include "strata/online/type_fwd.h"
#include "strata/online/value.h"

namespace strata::online {

/// One entity's feature values at one point in time.
struct OnlineRow {
  std::string entity_key;             ///< from EncodeEntityKey
  int64_t event_ts = 0;               ///< microseconds since the epoch
  std::optional<int64_t> created_ts;  ///< microseconds; breaks ties on event_ts. Not INT64_MIN.
  std::vector<FeatureValue> values;   ///< one per RowBatch::feature_names, in that order
};

/// Rows of one view that share their feature names (a materialized Arrow batch, a stream
/// micro-batch). A row replaces the whole stored row of its entity: features not named here
/// are not kept from an older row.
struct RowBatch {
  std::vector<std::string> feature_names;  ///< non-empty, unique
  std::vector<OnlineRow> rows;
};

/// Per entity (and per feature) outcome of a read; the names are Feast's.
enum class FeatureStatus : uint8_t {
  kPresent,        ///< "PRESENT": a value within the view's TTL (it may be a stored null)
  kNotFound,       ///< "NOT_FOUND": no row for the entity, or the row lacks the feature
  kOutsideMaxAge,  ///< "OUTSIDE_MAX_AGE": a row exists but is older than now - ttl
};
/// "PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE".
const char* FeatureStatusName(FeatureStatus status);

struct ReadOptions {
  /// The view's TTL in microseconds; nullopt or <= 0 means no limit. A row is served when
  /// now - ttl <= event_ts (the same bound point-in-time retrieval uses).
  std::optional<int64_t> ttl_micros;
  /// "Now" for the TTL check, microseconds since the epoch; nullopt reads the system clock.
  std::optional<int64_t> now_micros;
};

/// The answer to one Read, in request order: per key a status and the stored event
/// timestamp, per (key, feature) a value.
struct ReadResult {
  size_t num_features = 0;
  std::vector<FeatureStatus> statuses;  ///< per key
  /// Per key: the stored row's event timestamp (also for OUTSIDE_MAX_AGE); 0 when NOT_FOUND.
  std::vector<int64_t> event_ts;
  /// Key-major, num_keys * num_features: nullopt when missing (key not found, expired, or the
  /// row lacks the feature); a present value may be FeatureValue{} (a stored null).
  std::vector<std::optional<FeatureValue>> values;

  size_t num_keys() const { return statuses.size(); }
  const std::optional<FeatureValue>& value(size_t key, size_t feature) const {
    return values[key * num_features + feature];
  }
  /// The status to report for one feature of one key.
  FeatureStatus feature_status(size_t key, size_t feature) const {
    if (statuses[key] != FeatureStatus::kPresent) return statuses[key];
    return value(key, feature).has_value() ? FeatureStatus::kPresent : FeatureStatus::kNotFound;
  }
};

/// The online store.
///
/// Writes are idempotent and order-insensitive: a row replaces the stored row of its
/// (view, entity) only when its (event_ts, created_ts) is newer than or equal to the stored
/// one, atomically with respect to other writers. Replaying a materialization, running two
/// overlapping ones, or receiving stream records out of order therefore converges to the row
/// with the largest version, the same row point-in-time retrieval would pick.
///
/// Thread safety: every method may be called concurrently from any thread, except Close,
/// after which every call returns an error.
class OnlineStore {
 public:
  virtual ~OnlineStore() = default;

  /// "rocksdb" or "redis" (for messages and metrics).
  virtual std::string_view kind() const = 0;

  /// Stores the rows of `batch` under `view`, each only if newer than or equal to the stored
  /// row of its entity (see the class comment). Duplicate keys within a batch converge the
  /// same way. Errors on an empty view name or a malformed batch (values per row !=
  /// feature names, duplicate or empty feature names, created_ts == INT64_MIN); nothing is
  /// written then. A stored value too short to hold a version is replaced by any row; a
  /// damaged row whose 16-byte version header is intact keeps that version.
  virtual Status WriteBatch(std::string_view view, const RowBatch& batch) = 0;

  /// The stored rows of `keys` (encoded entity keys) in `view`, restricted to `features`.
  /// Keys may repeat. An unknown view reads as all NOT_FOUND. A corrupt stored row is an
  /// error naming the view and key.
  virtual Result<ReadResult> Read(std::string_view view, std::span<const std::string> keys,
                                  std::span<const std::string> features,
                                  const ReadOptions& options = {}) = 0;

  /// Removes every row and every metadata entry of `view` (other views are untouched).
  /// Not atomic with respect to concurrent writers of the same view.
  virtual Status DeleteView(std::string_view view) = 0;

  /// Small per-view string metadata, e.g. the materialization watermark.
  virtual Status SetMetadata(std::string_view view, std::string_view name,
                             std::string_view value) = 0;
  /// nullopt when unset.
  virtual Result<std::optional<std::string>> GetMetadata(std::string_view view,
                                                         std::string_view name) = 0;

  /// Brings a read-only follower up to date with its writer (a RocksDB secondary); a no-op
  /// for stores whose reads are always current.
  virtual Status Refresh() { return Status::OK(); }

  /// Releases the store. Idempotent.
  virtual Status Close() = 0;
};

/// How to open a store: the `online:` block of strata.yaml.
struct OnlineStoreConfig {
  std::string type = "rocksdb";  ///< "rocksdb" or "redis"
  /// rocksdb: the database directory (created by a writer when missing).
  std::string path;
  /// rocksdb: open as a read-only secondary that follows the process writing `path`
  /// (see rocksdb_store.h); what the feature server does while a materialization runs.
  bool read_only = false;
  /// redis: redis://[[user]:password@]host[:port][/db]
  std::string url;
  /// redis: prefix of every key, so that several repositories can share one database.
  std::string key_prefix = "strata:";

  /// The same store (type, path, URL, key prefix), whatever mode it is opened in.
  bool SameStore(const OnlineStoreConfig& o) const {
    return type == o.type && path == o.path && url == o.url && key_prefix == o.key_prefix;
  }
};

/// Opens the store `config` describes; errors name the type, path or URL.
Result<std::unique_ptr<OnlineStore>> OpenOnlineStore(const OnlineStoreConfig& config);

}  // namespace strata::online
