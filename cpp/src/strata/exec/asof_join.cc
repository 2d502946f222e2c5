#include "strata/exec/asof_join.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <utility>

#include <arrow/api.h>
#include <arrow/array/concatenate.h>
#include <arrow/compute/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/byte_size.h>

#include "strata/common/hash.h"
#include "strata/table/commit.h"

// How it runs, per view:
//
//   view rows ──project──► batches held ──within the budget?──yes──► in memory:
//       prepare batches: keys normalized and hashed, timestamps in one unit      [parallel]
//       copy (key, t, created, ref) of each row into P partitions by hash        [parallel]
//       per partition: entity rows grouped by key and sorted by T; each feature
//       row placed at the first query of its key with T >= t; running maximum  [parallel]
//       gather the feature columns once, in entity row order                     [parallel]
//                                                       │no
//                                                       ▼
//   out of core: rows routed to P Arrow IPC files by hash (the entity rows are split with the
//   same hash bits); then per file, a few at a time: bigger than its share of the budget? split
//   it again on the next hash bits; else read it, join it as above (one partition), gather its
//   answers. Finally the answers are put back in entity row order.

namespace strata::exec {

namespace {
// Arrow's compute kernels live in libarrow_compute and must be registered once per process.
const bool kComputeReady = arrow::compute::Initialize().ok();
}  // namespace

namespace {

constexpr int kMaxPartitionBits = 8;  // at most 256 partitions per level
constexpr int kMaxSpillDepth = 4;     // re-partitioning levels (bits 32..63 of the hash)
// Working memory per feature row beyond its Arrow buffers: hash, validity and the partitioned copy
// (FeatureRow: 32 bytes for an integer key, 48 for others).
constexpr int64_t kFeatureRowOverhead = 48;
// Working memory per entity row: hash, timestamp, row lists, partitioned copy, queries, matches.
constexpr int64_t kEntityRowOverhead = 96;
constexpr int64_t kSpillChunkRows = int64_t{1} << 16;  // spill writes at least this many rows at once
constexpr int64_t kMinPartitionBudget = int64_t{64} << 10;
constexpr int64_t kMorselRows = int64_t{1} << 16;  // in memory, batches are prepared in slices of this many rows

uint64_t Mix(uint64_t x) { return MixHash(x); }

uint64_t HashBytes(std::string_view s) { return Mix(std::hash<std::string_view>{}(s)); }

/// The partition of a hash at a spill depth: depth d uses bits [56 - 8d, 64 - 8d), so each
/// re-partitioning sees fresh bits; group tables use the low bits, independent of all of them.
inline int PartitionOf(uint64_t hash, int depth, int bits) {
  return static_cast<int>((hash >> (64 - kMaxPartitionBits * (depth + 1))) & ((uint64_t{1} << bits) - 1));
}

int CeilLog2(int n) {
  int b = 0;
  while ((1 << b) < n) ++b;
  return b;
}

/// Runs fn(0..n-1) on up to `threads` threads; the first error wins and stops the handing out of
/// further indices.
Status ParallelFor(int n, int threads, const std::function<Status(int)>& fn) {
  if (n <= 0) return Status::OK();
  threads = std::max(1, std::min(threads, n));
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  auto work = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      int i = next.fetch_add(1);
      if (i >= n) return;
      Status st = fn(i);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = std::move(st);
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return first;
}

// ---- join keys ---------------------------------------------------------------------------------

/// Key column types that can meet: both sides of a key pair must be of the same family (and, for
/// kFixed, of the same type).
enum class KeyFamily { kInteger, kString, kBinary, kFixed };

const arrow::DataType& ValueType(const arrow::DataType& t) {
  if (t.id() == arrow::Type::DICTIONARY) return *static_cast<const arrow::DictionaryType&>(t).value_type();
  return t;
}

std::optional<KeyFamily> FamilyOf(const arrow::DataType& type) {
  const auto& t = ValueType(type);
  if (arrow::is_integer(t.id())) return KeyFamily::kInteger;
  switch (t.id()) {
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
      return KeyFamily::kString;
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::BINARY_VIEW:
      return KeyFamily::kBinary;
    case arrow::Type::DICTIONARY:
    case arrow::Type::EXTENSION:
    case arrow::Type::NA:
      return std::nullopt;
    default:
      break;
  }
  if (arrow::is_fixed_width(t.id())) return KeyFamily::kFixed;
  return std::nullopt;
}

/// The join key values of one batch (or of the entity frame) in a form where equal keys of the
/// two sides are equal and hash alike: one integer key as int64 values; anything else as bytes
/// (one string/binary column as its own values; several columns, or a fixed-width one, encoded).
struct KeyColumn {
  const int64_t* ints = nullptr;
  const uint8_t* data = nullptr;
  const int32_t* off32 = nullptr;
  const int64_t* off64 = nullptr;
  std::vector<std::shared_ptr<arrow::Array>> holders;
  std::vector<uint8_t> encoded;
  std::vector<int64_t> encoded_offsets;

  std::string_view Bytes(int64_t i) const {
    int64_t b = off32 ? off32[i] : off64[i];
    int64_t e = off32 ? off32[i + 1] : off64[i + 1];
    return {reinterpret_cast<const char*>(data) + b, static_cast<size_t>(e - b)};
  }
};

template <typename K>
K KeyAt(const KeyColumn& k, int64_t i);
template <>
inline int64_t KeyAt<int64_t>(const KeyColumn& k, int64_t i) {
  return k.ints[i];
}
template <>
inline std::string_view KeyAt<std::string_view>(const KeyColumn& k, int64_t i) {
  return k.Bytes(i);
}

/// Casts a key column to its family's canonical type: dictionaries decoded, integers to int64,
/// string and binary views to their large (offset) layouts.
Result<std::shared_ptr<arrow::Array>> NormalizeKey(std::shared_ptr<arrow::Array> arr, KeyFamily family) {
  using arrow::compute::Cast;
  if (arr->type_id() == arrow::Type::DICTIONARY) {
    ARROW_ASSIGN_OR_RAISE(arr, Cast(*arr, ValueType(*arr->type()).GetSharedPtr()));
  }
  switch (family) {
    case KeyFamily::kInteger:
      if (arr->type_id() != arrow::Type::INT64) {
        ARROW_ASSIGN_OR_RAISE(arr, Cast(*arr, arrow::int64()));
      }
      break;
    case KeyFamily::kString:
      if (arr->type_id() == arrow::Type::STRING_VIEW) {
        ARROW_ASSIGN_OR_RAISE(arr, Cast(*arr, arrow::large_utf8()));
      }
      break;
    case KeyFamily::kBinary:
      if (arr->type_id() == arrow::Type::BINARY_VIEW) {
        ARROW_ASSIGN_OR_RAISE(arr, Cast(*arr, arrow::large_binary()));
      }
      break;
    case KeyFamily::kFixed:
      break;
  }
  return arr;
}

void AppendKeyBytes(const arrow::Array& arr, int64_t i, std::vector<uint8_t>* out) {
  auto append = [out](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out->insert(out->end(), b, b + n);
  };
  switch (arr.type_id()) {
    case arrow::Type::STRING:
    case arrow::Type::BINARY: {
      auto v = static_cast<const arrow::BinaryArray&>(arr).GetView(i);
      uint64_t n = v.size();
      append(&n, sizeof n);
      append(v.data(), v.size());
      return;
    }
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY: {
      auto v = static_cast<const arrow::LargeBinaryArray&>(arr).GetView(i);
      uint64_t n = v.size();
      append(&n, sizeof n);
      append(v.data(), v.size());
      return;
    }
    case arrow::Type::BOOL: {
      uint8_t b = static_cast<const arrow::BooleanArray&>(arr).Value(i) ? 1 : 0;
      append(&b, 1);
      return;
    }
    default: {
      int w = arr.type()->byte_width();
      const auto* base = arr.data()->GetValues<uint8_t>(1, 0);
      append(base + (arr.offset() + i) * w, static_cast<size_t>(w));
      return;
    }
  }
}

/// Normalizes key columns `raw` (all of length n) and hashes each row. Clears valid[i] where any
/// key is NULL (the hash of such a row is meaningless).
Result<KeyColumn> BuildKeys(const std::vector<std::shared_ptr<arrow::Array>>& raw,
                            const std::vector<KeyFamily>& families, int64_t n, std::vector<uint8_t>* valid,
                            std::vector<uint64_t>* hash) {
  KeyColumn k;
  for (size_t c = 0; c < raw.size(); ++c) {
    ARROW_ASSIGN_OR_RAISE(auto a, NormalizeKey(raw[c], families[c]));
    if (a->null_count() > 0) {
      for (int64_t i = 0; i < n; ++i) {
        if (a->IsNull(i)) (*valid)[static_cast<size_t>(i)] = 0;
      }
    }
    k.holders.push_back(std::move(a));
  }
  hash->resize(static_cast<size_t>(n));
  uint64_t* h = hash->data();
  if (raw.size() == 1 && families[0] == KeyFamily::kInteger) {
    k.ints = k.holders[0]->data()->GetValues<int64_t>(1);
    for (int64_t i = 0; i < n; ++i) h[i] = Mix(static_cast<uint64_t>(k.ints[i]));
    return k;
  }
  const auto& first = *k.holders[0];
  if (raw.size() == 1 && (first.type_id() == arrow::Type::STRING || first.type_id() == arrow::Type::BINARY ||
                          first.type_id() == arrow::Type::LARGE_STRING ||
                          first.type_id() == arrow::Type::LARGE_BINARY)) {
    bool large = first.type_id() == arrow::Type::LARGE_STRING || first.type_id() == arrow::Type::LARGE_BINARY;
    const auto& data = first.data();
    k.data = data->buffers[2] ? data->buffers[2]->data() : reinterpret_cast<const uint8_t*>("");
    if (large) {
      k.off64 = data->GetValues<int64_t>(1);
    } else {
      k.off32 = data->GetValues<int32_t>(1);
    }
  } else {
    k.encoded_offsets.resize(static_cast<size_t>(n) + 1);
    k.encoded_offsets[0] = 0;
    for (int64_t i = 0; i < n; ++i) {
      if ((*valid)[static_cast<size_t>(i)]) {
        for (const auto& a : k.holders) AppendKeyBytes(*a, i, &k.encoded);
      }
      k.encoded_offsets[static_cast<size_t>(i) + 1] = static_cast<int64_t>(k.encoded.size());
    }
    k.data = k.encoded.empty() ? reinterpret_cast<const uint8_t*>("") : k.encoded.data();
    k.off64 = k.encoded_offsets.data();
  }
  const uint8_t* v = valid->data();
  for (int64_t i = 0; i < n; ++i) h[i] = v[i] ? HashBytes(k.Bytes(i)) : 0;
  return k;
}

/// Raw timestamp values in `unit` (instants: the time zone does not change them). `what` names
/// the column in errors (a value out of range of the finer unit).
Result<std::shared_ptr<arrow::Array>> ToUnit(std::shared_ptr<arrow::Array> ts, arrow::TimeUnit::type unit,
                                             const std::string& what) {
  const auto& t = static_cast<const arrow::TimestampType&>(*ts->type());
  if (t.unit() == unit) return ts;
  auto r = arrow::compute::Cast(*ts, arrow::timestamp(unit, t.timezone()));
  if (!r.ok()) return WithContext(Error(ErrorCode::kInvalidArgument, r.status().message()), what);
  return r;
}

void ClearNulls(const arrow::Array& a, std::vector<uint8_t>* valid) {
  if (a.null_count() == 0) return;
  for (int64_t i = 0; i < a.length(); ++i) {
    if (a.IsNull(i)) (*valid)[static_cast<size_t>(i)] = 0;
  }
}

// ---- plans -------------------------------------------------------------------------------------

/// A view resolved against its schema and the entity frame.
struct ViewPlan {
  size_t index = 0;
  std::string name;
  std::vector<std::string> entity_keys;
  std::vector<KeyFamily> families;
  std::vector<int> projection;  // view columns: keys, event ts, [created ts], features
  int num_keys = 0;
  int ts_col = 0;               // in the projected batch
  int created_col = -1;
  int feature_col0 = 0;
  int num_features = 0;
  std::vector<std::shared_ptr<arrow::Field>> out_fields;
  std::shared_ptr<arrow::Schema> projected_schema;
  arrow::TimeUnit::type unit = arrow::TimeUnit::MICRO;
  std::optional<int64_t> ttl;   // in `unit`
  bool int_key = false;
};

std::string TypeName(const arrow::DataType& t) { return t.ToString(); }

Result<int> FindColumn(const arrow::Schema& schema, const std::string& name, const std::string& view,
                       const char* role) {
  auto all = schema.GetAllFieldIndices(name);
  if (all.empty()) {
    std::string have;
    for (int i = 0; i < schema.num_fields() && i < 20; ++i) have += (i ? ", " : "") + schema.field(i)->name();
    if (schema.num_fields() > 20) have += ", ...";
    return Error(ErrorCode::kInvalidArgument, "feature view '", view, "': no column '", name, "' (", role,
                 "); its columns: ", have);
  }
  if (all.size() > 1) {
    return Error(ErrorCode::kInvalidArgument, "feature view '", view, "': column '", name, "' (", role,
                 ") is ambiguous: the view has ", all.size(), " columns of that name");
  }
  return all[0];
}

Result<ViewPlan> PlanView(const AsOfView& v, size_t index, const arrow::Schema& entity_schema,
                          arrow::TimeUnit::type entity_unit, const AsOfJoinOptions& options) {
  ViewPlan p;
  p.index = index;
  p.name = v.name;
  if (!v.rows) return Error(ErrorCode::kInvalidArgument, "feature view '", v.name, "': no rows to read");
  const auto& schema = *v.rows->schema();
  if (v.join_keys.empty()) return Error(ErrorCode::kInvalidArgument, "feature view '", v.name, "' has no join keys");
  p.entity_keys = v.entity_keys.empty() ? v.join_keys : v.entity_keys;
  if (p.entity_keys.size() != v.join_keys.size()) {
    return Error(ErrorCode::kInvalidArgument, "feature view '", v.name, "': ", v.join_keys.size(),
                 " join keys but ", p.entity_keys.size(), " entity key columns");
  }
  if (v.ttl_us && *v.ttl_us < 0) {
    return Error(ErrorCode::kInvalidArgument, "feature view '", v.name, "': negative ttl (", *v.ttl_us, " us)");
  }
  if (!v.output_names.empty() && v.output_names.size() != v.features.size()) {
    return Error(ErrorCode::kInvalidArgument, "feature view '", v.name, "': ", v.features.size(), " features but ",
                 v.output_names.size(), " output names");
  }
  for (size_t k = 0; k < v.join_keys.size(); ++k) {
    ARROW_ASSIGN_OR_RAISE(int col, FindColumn(schema, v.join_keys[k], v.name, "join key"));
    const auto& ek = p.entity_keys[k];
    auto eidx = entity_schema.GetAllFieldIndices(ek);
    if (eidx.size() != 1) {
      return Error(ErrorCode::kInvalidArgument, "point-in-time join: the entity frame has ",
                   eidx.empty() ? "no column '" : "several columns '", ek, "' (join key '", v.join_keys[k],
                   "' of feature view '", v.name, "')");
    }
    const auto& et = *entity_schema.field(eidx[0])->type();
    const auto& vt = *schema.field(col)->type();
    auto ef = FamilyOf(et);
    auto vf = FamilyOf(vt);
    if (!vf) {
      return Error(ErrorCode::kInvalidArgument, "feature view '", v.name, "': join key '", v.join_keys[k],
                   "' has unsupported type ", TypeName(vt));
    }
    if (!ef || *ef != *vf || (*vf == KeyFamily::kFixed && !ValueType(et).Equals(ValueType(vt)))) {
      return Error(ErrorCode::kInvalidArgument, "feature view '", v.name, "': join key '", v.join_keys[k], "' is ",
                   TypeName(vt), " but the entity frame's column '", ek, "' is ", TypeName(et));
    }
    p.families.push_back(*vf);
    p.projection.push_back(col);
  }
  p.num_keys = static_cast<int>(v.join_keys.size());
  p.int_key = p.num_keys == 1 && p.families[0] == KeyFamily::kInteger;

  ARROW_ASSIGN_OR_RAISE(int ts, FindColumn(schema, v.timestamp_column, v.name, "event timestamp"));
  const auto& tst = *schema.field(ts)->type();
  if (tst.id() != arrow::Type::TIMESTAMP) {
    return Error(ErrorCode::kInvalidArgument, "feature view '", v.name, "': event timestamp column '",
                 v.timestamp_column, "' is ", TypeName(tst), ", not a timestamp");
  }
  auto unit = std::max({entity_unit, static_cast<const arrow::TimestampType&>(tst).unit(), arrow::TimeUnit::MICRO});
  p.unit = unit;
  if (v.ttl_us) {
    int64_t ttl = *v.ttl_us;
    if (unit == arrow::TimeUnit::NANO) {
      ttl = ttl > std::numeric_limits<int64_t>::max() / 1000 ? std::numeric_limits<int64_t>::max() : ttl * 1000;
    }
    p.ttl = ttl;
  }
  p.ts_col = static_cast<int>(p.projection.size());
  p.projection.push_back(ts);
  if (!v.created_timestamp_column.empty()) {
    ARROW_ASSIGN_OR_RAISE(int c, FindColumn(schema, v.created_timestamp_column, v.name, "created timestamp"));
    const auto& ct = *schema.field(c)->type();
    if (ct.id() != arrow::Type::TIMESTAMP) {
      return Error(ErrorCode::kInvalidArgument, "feature view '", v.name, "': created timestamp column '",
                   v.created_timestamp_column, "' is ", TypeName(ct), ", not a timestamp");
    }
    p.created_col = static_cast<int>(p.projection.size());
    p.projection.push_back(c);
  }
  p.feature_col0 = static_cast<int>(p.projection.size());
  p.num_features = static_cast<int>(v.features.size());
  for (size_t f = 0; f < v.features.size(); ++f) {
    ARROW_ASSIGN_OR_RAISE(int c, FindColumn(schema, v.features[f], v.name, "feature"));
    p.projection.push_back(c);
    std::string out = !v.output_names.empty()      ? v.output_names[f]
                      : options.full_feature_names ? v.name + "__" + v.features[f]
                                                   : v.features[f];
    p.out_fields.push_back(arrow::field(out, schema.field(c)->type(), true));
  }
  arrow::FieldVector fields;
  for (int c : p.projection) fields.push_back(schema.field(c));
  p.projected_schema = arrow::schema(fields);
  return p;
}

// ---- the entity side ---------------------------------------------------------------------------

/// The entity frame's join index for one key mapping and timestamp unit.
struct EntitySide {
  KeyColumn key;
  std::vector<uint64_t> hash;
  const int64_t* ts = nullptr;
  std::shared_ptr<arrow::Array> ts_holder;
  std::vector<uint32_t> rows;  // rows with a non-null key and timestamp, ascending
};

/// The entity frame, read once, with its columns combined lazily into single arrays.
class EntityFrame {
 public:
  explicit EntityFrame(std::shared_ptr<arrow::Table> t) : table_(std::move(t)) {}

  const arrow::Table& table() const { return *table_; }
  int64_t num_rows() const { return table_->num_rows(); }

  Result<std::shared_ptr<arrow::Array>> Column(const std::string& name) {
    auto it = combined_.find(name);
    if (it != combined_.end()) return it->second;
    auto col = table_->GetColumnByName(name);
    if (!col) {
      return Error(ErrorCode::kInvalidArgument, "point-in-time join: the entity frame has no column '", name, "'");
    }
    std::shared_ptr<arrow::Array> arr;
    if (col->num_chunks() == 1) {
      arr = col->chunk(0);
    } else if (col->num_chunks() == 0) {
      ARROW_ASSIGN_OR_RAISE(arr, arrow::MakeEmptyArray(col->type()));
    } else {
      ARROW_ASSIGN_OR_RAISE(arr, arrow::Concatenate(col->chunks()));
    }
    combined_[name] = arr;
    return arr;
  }

  /// The join index for a view (shared by views with the same key columns and unit).
  Result<std::shared_ptr<const EntitySide>> Side(const ViewPlan& plan, const std::string& ts_column) {
    std::string cache_key = std::to_string(static_cast<int>(plan.unit));
    for (size_t k = 0; k < plan.entity_keys.size(); ++k) {
      cache_key += '\x1f' + plan.entity_keys[k] + '\x1e' + std::to_string(static_cast<int>(plan.families[k]));
    }
    auto it = sides_.find(cache_key);
    if (it != sides_.end()) return it->second;
    auto side = std::make_shared<EntitySide>();
    int64_t n = num_rows();
    std::vector<uint8_t> valid(static_cast<size_t>(n), 1);
    std::vector<std::shared_ptr<arrow::Array>> keys;
    for (const auto& k : plan.entity_keys) {
      ARROW_ASSIGN_OR_RAISE(auto a, Column(k));
      keys.push_back(a);
    }
    ARROW_ASSIGN_OR_RAISE(auto ts, Column(ts_column));
    ARROW_ASSIGN_OR_RAISE(side->ts_holder,
                          ToUnit(ts, plan.unit, "point-in-time join: the entity frame's column '" + ts_column + "'"));
    side->ts = side->ts_holder->data()->GetValues<int64_t>(1);
    ClearNulls(*side->ts_holder, &valid);
    STRATA_ASSIGN_OR_RAISE(side->key, BuildKeys(keys, plan.families, n, &valid, &side->hash));
    for (int64_t i = 0; i < n; ++i) {
      if (valid[static_cast<size_t>(i)]) side->rows.push_back(static_cast<uint32_t>(i));
    }
    sides_[cache_key] = side;
    return side;
  }

 private:
  std::shared_ptr<arrow::Table> table_;
  std::map<std::string, std::shared_ptr<arrow::Array>> combined_;
  std::map<std::string, std::shared_ptr<const EntitySide>> sides_;
};

// ---- the feature side --------------------------------------------------------------------------

/// One projected batch of a view, ready to join.
struct FeatureBatch {
  std::shared_ptr<arrow::RecordBatch> batch;  // keys, event ts, [created ts], features
  KeyColumn key;
  std::shared_ptr<arrow::Array> ts_holder;
  const int64_t* ts = nullptr;                // event timestamps in the plan's unit
  std::shared_ptr<arrow::Array> created;     // raw created timestamps (own unit), may hold NULLs
  const int64_t* created_values = nullptr;
  std::vector<uint64_t> hash;
  std::vector<uint8_t> valid;                 // key and event ts both non-NULL
  int64_t num_rows = 0;

  int64_t Created(int64_t i) const {
    if (created_values == nullptr) return 0;
    return created->IsNull(i) ? std::numeric_limits<int64_t>::min() : created_values[i];
  }
};

Result<FeatureBatch> PrepareBatch(const ViewPlan& plan, std::shared_ptr<arrow::RecordBatch> batch) {
  if (batch->num_rows() > std::numeric_limits<uint32_t>::max()) {
    return Error(ErrorCode::kInvalidArgument, "feature view '", plan.name, "': a batch of ", batch->num_rows(),
                 " rows; at most 2^32 - 1 rows per batch are supported");
  }
  FeatureBatch fb;
  fb.num_rows = batch->num_rows();
  fb.valid.assign(static_cast<size_t>(fb.num_rows), 1);
  std::vector<std::shared_ptr<arrow::Array>> keys;
  for (int k = 0; k < plan.num_keys; ++k) keys.push_back(batch->column(k));
  ARROW_ASSIGN_OR_RAISE(fb.ts_holder, ToUnit(batch->column(plan.ts_col), plan.unit,
                                             "feature view '" + plan.name + "': event timestamp column"));
  fb.ts = fb.ts_holder->data()->GetValues<int64_t>(1);
  ClearNulls(*fb.ts_holder, &fb.valid);
  ARROW_ASSIGN_OR_RAISE(fb.key, BuildKeys(keys, plan.families, fb.num_rows, &fb.valid, &fb.hash));
  if (plan.created_col >= 0) {
    fb.created = batch->column(plan.created_col);
    fb.created_values = fb.created->data()->GetValues<int64_t>(1);
  }
  fb.batch = std::move(batch);
  return fb;
}

Result<int64_t> BatchBytes(const arrow::RecordBatch& b) {
  int64_t total = 0;
  for (const auto& c : b.columns()) {
    ARROW_ASSIGN_OR_RAISE(int64_t n, arrow::util::ReferencedBufferSize(*c));
    total += n;
  }
  return total;
}

// ---- the merge ---------------------------------------------------------------------------------

/// Open addressing from key to a dense group id. Hand-written: the insert loop runs once per
/// feature row and must neither allocate nor chase nodes.
template <typename K>
class GroupTable {
 public:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  explicit GroupTable(size_t expected) {
    size_t cap = 64;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }

  uint32_t FindOrAdd(uint64_t hash, K key) {
    size_t i = hash & mask_;
    while (true) {
      Slot& s = slots_[i];
      if (s.id1 == 0) {
        s = Slot{hash, key, ++size_};
        if (size_ * 2 > slots_.size()) Grow();
        return size_ - 1;
      }
      if (s.hash == hash && s.key == key) return s.id1 - 1;
      i = (i + 1) & mask_;
    }
  }

  uint32_t Find(uint64_t hash, K key) const {
    size_t i = hash & mask_;
    while (true) {
      const Slot& s = slots_[i];
      if (s.id1 == 0) return kNone;
      if (s.hash == hash && s.key == key) return s.id1 - 1;
      i = (i + 1) & mask_;
    }
  }

  uint32_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    K key{};
    uint32_t id1 = 0;  // group id + 1; 0 = empty
  };

  void Grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.id1 == 0) continue;
      size_t i = s.hash & mask_;
      while (slots_[i].id1 != 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  uint32_t size_ = 0;
};

/// A feature row as the merge needs it, copied out of its batch so that each partition's rows
/// are contiguous (strided reads of the batches would re-read every cache line per partition).
/// K is int64_t (one integer key; the hash is recomputed) or std::string_view (into the batch's
/// key bytes).
template <typename K>
struct FeatureRow {
  uint64_t hash;
  K key;
  int64_t ts;
  int64_t created;
  int64_t index;  // MakeRef(batch, row)
  uint64_t Hash() const { return hash; }
};
template <>
struct FeatureRow<int64_t> {
  int64_t key;
  int64_t ts;
  int64_t created;
  int64_t index;
  uint64_t Hash() const { return Mix(static_cast<uint64_t>(key)); }
};

template <typename K>
FeatureRow<K> MakeFeatureRow(uint64_t hash, K key, int64_t ts, int64_t created, int64_t index) {
  return FeatureRow<K>{hash, key, ts, created, index};
}
template <>
FeatureRow<int64_t> MakeFeatureRow<int64_t>(uint64_t, int64_t key, int64_t ts, int64_t created, int64_t index) {
  return FeatureRow<int64_t>{key, ts, created, index};
}

template <typename K>
struct EntityRow {
  uint64_t hash;
  K key;
  int64_t ts;
  uint32_t row;
};

/// A feature row's place: its batch (high 32 bits) and row in the batch (low 32 bits). Refs order
/// rows as they were read.
inline int64_t MakeRef(size_t batch, int64_t row) {
  return static_cast<int64_t>((uint64_t{batch} << 32) | static_cast<uint64_t>(row));
}
inline size_t RefBatch(int64_t ref) { return static_cast<size_t>(static_cast<uint64_t>(ref) >> 32); }
inline int64_t RefRow(int64_t ref) { return ref & 0xffffffffLL; }

/// Rows grouped by partition: partition p holds rows[start[p], start[p + 1]). The rows are
/// left uninitialized until written (zeroing hundreds of MiB first would cost a pass).
template <typename Row>
struct Partitioned {
  std::unique_ptr<Row[]> rows;
  std::vector<int64_t> start;
};

/// Copies the valid rows of `batches` into partition order at `depth` (`bits` = 0: one partition),
/// keeping read order within a partition.
template <typename K>
Result<Partitioned<FeatureRow<K>>> RouteFeatures(const std::vector<FeatureBatch>& batches, int bits, int depth,
                                                 int threads) {
  const size_t nb = batches.size();
  const size_t np = size_t{1} << bits;
  std::vector<std::vector<int64_t>> cursor(nb, std::vector<int64_t>(np, 0));
  ARROW_RETURN_NOT_OK(ParallelFor(static_cast<int>(nb), threads, [&](int bi) -> Status {
    const auto& fb = batches[static_cast<size_t>(bi)];
    auto& c = cursor[static_cast<size_t>(bi)];
    for (int64_t i = 0; i < fb.num_rows; ++i) {
      if (!fb.valid[static_cast<size_t>(i)]) continue;
      ++c[static_cast<size_t>(PartitionOf(fb.hash[static_cast<size_t>(i)], depth, bits))];
    }
    return Status::OK();
  }));
  Partitioned<FeatureRow<K>> out;
  out.start.assign(np + 1, 0);
  for (size_t p = 0; p < np; ++p) {
    int64_t acc = out.start[p];
    for (size_t b = 0; b < nb; ++b) {
      int64_t c = cursor[b][p];
      cursor[b][p] = acc;
      acc += c;
    }
    out.start[p + 1] = acc;
  }
  out.rows.reset(new FeatureRow<K>[static_cast<size_t>(out.start[np])]);
  ARROW_RETURN_NOT_OK(ParallelFor(static_cast<int>(nb), threads, [&](int bi) -> Status {
    const auto& fb = batches[static_cast<size_t>(bi)];
    auto& cur = cursor[static_cast<size_t>(bi)];
    FeatureRow<K>* rows = out.rows.get();
    for (int64_t i = 0; i < fb.num_rows; ++i) {
      if (!fb.valid[static_cast<size_t>(i)]) continue;
      uint64_t h = fb.hash[static_cast<size_t>(i)];
      size_t p = static_cast<size_t>(PartitionOf(h, depth, bits));
      rows[cur[p]++] = MakeFeatureRow<K>(h, KeyAt<K>(fb.key, i), fb.ts[i], fb.Created(i),
                                         MakeRef(static_cast<size_t>(bi), i));
    }
    return Status::OK();
  }));
  return out;
}

template <typename K>
Partitioned<EntityRow<K>> RouteEntities(const EntitySide& ent, const std::vector<uint32_t>& rows, int bits,
                                        int depth) {
  const size_t np = size_t{1} << bits;
  Partitioned<EntityRow<K>> out;
  out.start.assign(np + 1, 0);
  for (uint32_t r : rows) ++out.start[static_cast<size_t>(PartitionOf(ent.hash[r], depth, bits)) + 1];
  for (size_t p = 0; p < np; ++p) out.start[p + 1] += out.start[p];
  std::vector<int64_t> pos(out.start.begin(), out.start.end() - 1);
  out.rows.reset(new EntityRow<K>[rows.size()]);
  for (uint32_t r : rows) {
    size_t p = static_cast<size_t>(PartitionOf(ent.hash[r], depth, bits));
    out.rows[static_cast<size_t>(pos[p]++)] = EntityRow<K>{ent.hash[r], KeyAt<K>(ent.key, r), ent.ts[r], r};
  }
  return out;
}

/// The best feature row seen so far for one query (an entity row): the largest
/// (t, created, read order) among the rows placed there.
struct Best {
  int64_t ts;
  int64_t created;
  int64_t index;  // -1: none yet
};

/// Whether a feature row (t, created, read order) is larger than `b`.
inline bool Beats(int64_t ts, int64_t created, int64_t index, const Best& b) {
  if (b.index < 0) return true;
  if (ts != b.ts) return ts > b.ts;
  if (created != b.created) return created > b.created;
  return index > b.index;
}

/// Joins the entity rows of one partition with its feature rows: for each entity row r,
/// match[r] = the index of its feature row, or stays -1.
///
/// The sort-merge of an as-of join, with the entity side (the smaller one) sorted by (key, T) and
/// the feature side merged into it without sorting: each feature row goes to the first query of
/// its key with T >= t (a binary search), keeping the largest (t, created, read order) there; a
/// running maximum over each key's queries then gives every query the largest row with t <= T.
/// Each feature row costs one hash probe and a short binary search; none is copied or sorted.
template <typename K>
void MatchPartition(const FeatureRow<K>* frows, size_t nf, const EntityRow<K>* erows, size_t ne,
                    std::optional<int64_t> ttl, int64_t* match) {
  if (nf == 0 || ne == 0) return;
  // Group the entity rows by key, each group sorted by T: qts/qrow[start[g], start[g + 1]).
  GroupTable<K> groups(std::min<size_t>(ne, 1 << 12));
  std::vector<uint32_t> gid(ne);
  for (size_t j = 0; j < ne; ++j) gid[j] = groups.FindOrAdd(erows[j].hash, erows[j].key);
  const size_t ng = groups.size();
  std::vector<uint32_t> start(ng + 1, 0);
  for (size_t j = 0; j < ne; ++j) ++start[gid[j] + 1];
  for (size_t g = 0; g < ng; ++g) start[g + 1] += start[g];
  std::vector<std::pair<int64_t, uint32_t>> sorted(ne);
  {
    std::vector<uint32_t> pos(start.begin(), start.end() - 1);
    for (size_t j = 0; j < ne; ++j) sorted[pos[gid[j]]++] = {erows[j].ts, erows[j].row};
  }
  gid = {};
  for (size_t g = 0; g < ng; ++g) std::sort(sorted.begin() + start[g], sorted.begin() + start[g + 1]);
  std::vector<int64_t> qts(ne);
  for (size_t j = 0; j < ne; ++j) qts[j] = sorted[j].first;
  std::vector<Best> best(ne, Best{0, 0, -1});
  // Merge the feature rows in.
  for (size_t i = 0; i < nf; ++i) {
    const FeatureRow<K>& f = frows[i];
    uint32_t g = groups.Find(f.Hash(), f.key);
    if (g == GroupTable<K>::kNone) continue;
    const int64_t* lo = qts.data() + start[g];
    const int64_t* hi = qts.data() + start[g + 1];
    if (hi[-1] < f.ts) continue;  // later than every query of the key
    while (hi - lo > 1) {         // first query with T >= t
      const int64_t* mid = lo + (hi - lo - 1) / 2;
      if (*mid < f.ts) {
        lo = mid + 1;
      } else {
        hi = mid + 1;
      }
    }
    Best& b = best[static_cast<size_t>(lo - qts.data())];
    if (Beats(f.ts, f.created, f.index, b)) b = Best{f.ts, f.created, f.index};
  }
  // Running maximum over each key's queries, then the TTL.
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  for (size_t g = 0; g < ng; ++g) {
    Best run{0, 0, -1};
    for (uint32_t j = start[g]; j < start[g + 1]; ++j) {
      const Best& cur = best[j];
      if (cur.index >= 0 && Beats(cur.ts, cur.created, cur.index, run)) run = cur;
      if (run.index < 0) continue;
      const int64_t t = qts[j];
      if (ttl && run.ts < (t < kMin + *ttl ? kMin : t - *ttl)) continue;
      match[sorted[j].second] = run.index;
    }
  }
}

/// Joins entity rows `erows` with all of `batches`, in 2^bits partitions of `depth` on up to
/// `threads` threads: match[r] = the ref of entity row r's feature row, or stays -1.
template <typename K>
Status MatchRows(const std::vector<FeatureBatch>& batches, const EntitySide& ent, const std::vector<uint32_t>& erows,
                 int bits, int depth, int threads, std::optional<int64_t> ttl, int64_t* match) {
  ARROW_ASSIGN_OR_RAISE(auto f, RouteFeatures<K>(batches, bits, depth, threads));
  auto e = RouteEntities<K>(ent, erows, bits, depth);
  return ParallelFor(1 << bits, threads, [&](int p) -> Status {
    auto fb = f.start[static_cast<size_t>(p)], fe = f.start[static_cast<size_t>(p) + 1];
    auto eb = e.start[static_cast<size_t>(p)], ee = e.start[static_cast<size_t>(p) + 1];
    MatchPartition<K>(f.rows.get() + fb, static_cast<size_t>(fe - fb), e.rows.get() + eb,
                      static_cast<size_t>(ee - eb), ttl, match);
    return Status::OK();
  });
}

Status Match(bool int_key, const std::vector<FeatureBatch>& batches, const EntitySide& ent,
             const std::vector<uint32_t>& erows, int bits, int depth, int threads, std::optional<int64_t> ttl,
             int64_t* match) {
  if (int_key) return MatchRows<int64_t>(batches, ent, erows, bits, depth, threads, ttl, match);
  return MatchRows<std::string_view>(batches, ent, erows, bits, depth, threads, ttl, match);
}

/// Take() indices for `rows` (or all rows when null): match[row], NULL where it is -1.
Result<std::shared_ptr<arrow::Array>> MatchIndices(const std::vector<int64_t>& match, const uint32_t* rows,
                                                   int64_t n) {
  ARROW_ASSIGN_OR_RAISE(auto values, arrow::AllocateBuffer(n * static_cast<int64_t>(sizeof(int64_t))));
  ARROW_ASSIGN_OR_RAISE(auto bitmap, arrow::AllocateBitmap(n));
  auto* v = reinterpret_cast<int64_t*>(values->mutable_data());
  uint8_t* bits = bitmap->mutable_data();
  int64_t nulls = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t m = match[rows ? rows[i] : static_cast<size_t>(i)];
    bool ok = m >= 0;
    v[i] = ok ? m : 0;
    arrow::bit_util::SetBitTo(bits, i, ok);
    nulls += ok ? 0 : 1;
  }
  return arrow::MakeArray(arrow::ArrayData::Make(arrow::int64(), n, {std::move(bitmap), std::move(values)}, nulls));
}

Result<std::shared_ptr<arrow::Array>> Gather(const std::shared_ptr<arrow::ChunkedArray>& values,
                                             const std::shared_ptr<arrow::Array>& indices) {
  ARROW_ASSIGN_OR_RAISE(auto d, arrow::compute::Take(values, indices));
  if (d.is_array()) return d.make_array();
  const auto& chunked = d.chunked_array();
  if (chunked->num_chunks() == 1) return chunked->chunk(0);
  if (chunked->num_chunks() == 0) return arrow::MakeEmptyArray(values->type());
  return arrow::Concatenate(chunked->chunks());
}

template <int W>
void CopyValue(uint8_t* dst, const uint8_t* src) {
  std::memcpy(dst, src, W);
}

/// The fixed-width gather: one pass, no chunk resolution (the ref names the batch).
template <int W>
void GatherFixedLoop(const std::vector<const uint8_t*>& data, const std::vector<const uint8_t*>& validity,
                     const std::vector<int64_t>& voffset, const std::vector<int64_t>& refs, const uint32_t* rows,
                     int64_t n, int width, uint8_t* out, uint8_t* bits, int64_t* nulls) {
  const size_t w = W > 0 ? W : static_cast<size_t>(width);
  for (int64_t i = 0; i < n; ++i) {
    int64_t ref = refs[rows ? rows[i] : static_cast<size_t>(i)];
    uint8_t* dst = out + static_cast<size_t>(i) * w;
    bool ok = ref >= 0;
    if (ok) {
      size_t b = RefBatch(ref);
      int64_t r = RefRow(ref);
      ok = validity[b] == nullptr || arrow::bit_util::GetBit(validity[b], voffset[b] + r);
      if (ok) {
        if constexpr (W > 0) {
          CopyValue<W>(dst, data[b] + static_cast<size_t>(r) * w);
        } else {
          std::memcpy(dst, data[b] + static_cast<size_t>(r) * w, w);
        }
      }
    }
    if (!ok) {
      std::memset(dst, 0, w);
      ++*nulls;
    }
    arrow::bit_util::SetBitTo(bits, i, ok);
  }
}

/// Column `col` of `batches` at refs[rows[i]] (refs[i] without rows), NULL where the ref is -1.
Result<std::shared_ptr<arrow::Array>> GatherFeature(const std::vector<FeatureBatch>& batches, int col,
                                                    const std::shared_ptr<arrow::DataType>& type,
                                                    const std::vector<int64_t>& refs, const uint32_t* rows,
                                                    int64_t n) {
  const auto id = type->id();
  const bool fixed = arrow::is_fixed_width(id) && id != arrow::Type::BOOL && id != arrow::Type::DICTIONARY &&
                     id != arrow::Type::EXTENSION && type->num_fields() == 0 && type->byte_width() > 0;
  if (!fixed) {  // strings, booleans, nested: Arrow's Take over the batches
    std::vector<int64_t> offsets(batches.size() + 1, 0);
    arrow::ArrayVector chunks;
    for (size_t b = 0; b < batches.size(); ++b) {
      offsets[b + 1] = offsets[b] + batches[b].num_rows;
      chunks.push_back(batches[b].batch->column(col));
    }
    std::vector<int64_t> flat(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      int64_t ref = refs[rows ? rows[i] : static_cast<size_t>(i)];
      flat[static_cast<size_t>(i)] = ref < 0 ? -1 : offsets[RefBatch(ref)] + RefRow(ref);
    }
    ARROW_ASSIGN_OR_RAISE(auto indices, MatchIndices(flat, nullptr, n));
    ARROW_ASSIGN_OR_RAISE(auto values, arrow::ChunkedArray::Make(std::move(chunks), type));
    return Gather(values, indices);
  }
  const int w = type->byte_width();
  std::vector<const uint8_t*> data(batches.size()), validity(batches.size());
  std::vector<int64_t> voffset(batches.size());
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& a = *batches[b].batch->column(col)->data();
    data[b] = a.buffers[1] ? a.buffers[1]->data() + a.offset * w : nullptr;
    validity[b] = a.MayHaveNulls() ? a.buffers[0]->data() : nullptr;
    voffset[b] = a.offset;
  }
  ARROW_ASSIGN_OR_RAISE(auto values, arrow::AllocateBuffer(n * w));
  ARROW_ASSIGN_OR_RAISE(auto bitmap, arrow::AllocateBitmap(n));
  uint8_t* out = values->mutable_data();
  uint8_t* bits = bitmap->mutable_data();
  int64_t nulls = 0;
  switch (w) {
    case 1: GatherFixedLoop<1>(data, validity, voffset, refs, rows, n, w, out, bits, &nulls); break;
    case 2: GatherFixedLoop<2>(data, validity, voffset, refs, rows, n, w, out, bits, &nulls); break;
    case 4: GatherFixedLoop<4>(data, validity, voffset, refs, rows, n, w, out, bits, &nulls); break;
    case 8: GatherFixedLoop<8>(data, validity, voffset, refs, rows, n, w, out, bits, &nulls); break;
    case 16: GatherFixedLoop<16>(data, validity, voffset, refs, rows, n, w, out, bits, &nulls); break;
    default: GatherFixedLoop<0>(data, validity, voffset, refs, rows, n, w, out, bits, &nulls); break;
  }
  std::shared_ptr<arrow::Buffer> validity_out;
  if (nulls > 0) validity_out = std::move(bitmap);
  return arrow::MakeArray(arrow::ArrayData::Make(type, n, {std::move(validity_out), std::move(values)}, nulls));
}

// ---- spilling ----------------------------------------------------------------------------------

/// A private directory for one join's spill files, removed with its contents at the end.
class SpillDir {
 public:
  explicit SpillDir(std::string base) : base_(std::move(base)) {}
  SpillDir(const SpillDir&) = delete;
  SpillDir& operator=(const SpillDir&) = delete;
  ~SpillDir() {
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  Result<std::string> Path(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    if (dir_.empty()) {
      std::error_code ec;
      std::filesystem::path base =
          base_.empty() ? std::filesystem::temp_directory_path(ec) : std::filesystem::path(base_);
      auto dir = base / ("strata-asof-" + table::NewUuid());
      if (!ec) std::filesystem::create_directories(dir, ec);
      if (ec) {
        return Error(ErrorCode::kInvalidArgument, "point-in-time join: cannot create spill directory under '",
                     base.string(), "': ", ec.message());
      }
      dir_ = dir;
    }
    return (dir_ / name).string();
  }

 private:
  std::string base_;
  std::filesystem::path dir_;
  std::mutex mu_;
};

/// One partition file of a view's rows.
struct SpillPart {
  std::string path;  // empty when no row went there
  int64_t rows = 0;
  int64_t bytes = 0;
};

/// Routes prepared batches to 2^bits partition files by the hash bits of one depth. Rows with a
/// NULL key or event timestamp are dropped (they never match). Small inputs are coalesced so that
/// each file receives few, large batches.
class PartitionWriter {
 public:
  PartitionWriter(const ViewPlan& plan, SpillDir* dir, std::string prefix, int depth, int bits)
      : plan_(plan), dir_(dir), prefix_(std::move(prefix)), depth_(depth), bits_(bits) {
    parts_.resize(size_t{1} << bits);
    writers_.resize(parts_.size());
    outs_.resize(parts_.size());
  }
  PartitionWriter(const PartitionWriter&) = delete;
  PartitionWriter& operator=(const PartitionWriter&) = delete;
  ~PartitionWriter() {
    for (auto& w : writers_) {
      if (w) (void)w->Close();
    }
    for (auto& o : outs_) {
      if (o) (void)o->Close();
    }
  }

  /// Queues a projected batch (not yet prepared).
  Status Add(std::shared_ptr<arrow::RecordBatch> batch) {
    pending_rows_ += batch->num_rows();
    pending_.push_back(std::move(batch));
    if (pending_rows_ >= kSpillChunkRows) return Flush();
    return Status::OK();
  }

  /// Writes what is queued, closes the files and returns them.
  Result<std::vector<SpillPart>> Finish() {
    ARROW_RETURN_NOT_OK(Flush());
    for (size_t p = 0; p < parts_.size(); ++p) {
      if (!writers_[p]) continue;
      ARROW_RETURN_NOT_OK(writers_[p]->Close());
      writers_[p] = nullptr;
      ARROW_ASSIGN_OR_RAISE(parts_[p].bytes, outs_[p]->Tell());
      ARROW_RETURN_NOT_OK(outs_[p]->Close());
      outs_[p] = nullptr;
    }
    return parts_;
  }

 private:
  Status Flush() {
    if (pending_.empty()) return Status::OK();
    std::shared_ptr<arrow::RecordBatch> batch;
    if (pending_.size() == 1) {
      batch = std::move(pending_[0]);
    } else {
      ARROW_ASSIGN_OR_RAISE(batch, arrow::ConcatenateRecordBatches(pending_));
    }
    pending_.clear();
    pending_rows_ = 0;
    ARROW_ASSIGN_OR_RAISE(auto fb, PrepareBatch(plan_, std::move(batch)));
    const int64_t n = fb.num_rows;
    const size_t np = parts_.size();
    std::vector<int64_t> start(np + 1, 0);
    std::vector<uint8_t> part(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      if (!fb.valid[static_cast<size_t>(i)]) continue;
      int p = PartitionOf(fb.hash[static_cast<size_t>(i)], depth_, bits_);
      part[static_cast<size_t>(i)] = static_cast<uint8_t>(p);
      ++start[static_cast<size_t>(p) + 1];
    }
    for (size_t p = 0; p < np; ++p) start[p + 1] += start[p];
    const int64_t kept = start[np];
    if (kept == 0) return Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto idx_buf, arrow::AllocateBuffer(kept * static_cast<int64_t>(sizeof(int64_t))));
    auto* idx = reinterpret_cast<int64_t*>(idx_buf->mutable_data());
    {
      std::vector<int64_t> pos(start.begin(), start.end() - 1);
      for (int64_t i = 0; i < n; ++i) {
        if (fb.valid[static_cast<size_t>(i)]) idx[pos[part[static_cast<size_t>(i)]]++] = i;
      }
    }
    auto indices = std::make_shared<arrow::Int64Array>(kept, std::move(idx_buf));
    ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(fb.batch, indices));
    auto sorted = taken.record_batch();
    for (size_t p = 0; p < np; ++p) {
      int64_t len = start[p + 1] - start[p];
      if (len == 0) continue;
      if (!writers_[p]) {
        ARROW_ASSIGN_OR_RAISE(parts_[p].path, dir_->Path(prefix_ + "." + std::to_string(p) + ".arrow"));
        ARROW_ASSIGN_OR_RAISE(outs_[p], arrow::io::FileOutputStream::Open(parts_[p].path));
        ARROW_ASSIGN_OR_RAISE(writers_[p], arrow::ipc::MakeFileWriter(outs_[p], plan_.projected_schema));
      }
      ARROW_RETURN_NOT_OK(writers_[p]->WriteRecordBatch(*sorted->Slice(start[p], len)));
      parts_[p].rows += len;
    }
    return Status::OK();
  }

  const ViewPlan& plan_;
  SpillDir* dir_;
  std::string prefix_;
  int depth_;
  int bits_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> pending_;
  int64_t pending_rows_ = 0;
  std::vector<SpillPart> parts_;
  std::vector<std::shared_ptr<arrow::ipc::RecordBatchWriter>> writers_;
  std::vector<std::shared_ptr<arrow::io::FileOutputStream>> outs_;
};

Result<std::shared_ptr<arrow::ipc::RecordBatchFileReader>> OpenPart(const SpillPart& part) {
  ARROW_ASSIGN_OR_RAISE(auto in, arrow::io::ReadableFile::Open(part.path));
  return arrow::ipc::RecordBatchFileReader::Open(in);
}

void RemovePart(const SpillPart& part) {
  std::error_code ec;
  if (!part.path.empty()) std::filesystem::remove(part.path, ec);
}

/// The answers of one spilled partition: for entity rows `rows` (ascending), the feature values.
struct PartialResult {
  std::vector<uint32_t> rows;
  std::vector<std::shared_ptr<arrow::Array>> columns;
};

/// Joins one view out of core.
class SpilledJoin {
 public:
  SpilledJoin(const ViewPlan& plan, const EntitySide& ent, SpillDir* dir, int bits, int threads,
              int64_t partition_budget, int64_t num_entity_rows)
      : plan_(plan), ent_(ent), dir_(dir), bits_(bits), threads_(threads), partition_budget_(partition_budget),
        match_(static_cast<size_t>(num_entity_rows), -1) {}

  /// Joins the partitions written at depth 0, `threads` at a time.
  Status Run(std::vector<SpillPart> parts) {
    auto erows = Split(ent_.rows, 0);
    return ParallelFor(static_cast<int>(parts.size()), threads_, [&](int p) {
      return JoinPart(parts[static_cast<size_t>(p)], std::move(erows[static_cast<size_t>(p)]), 0,
                      "v" + std::to_string(plan_.index) + "." + std::to_string(p), false);
    });
  }

  /// The feature columns in entity row order.
  Result<std::vector<std::shared_ptr<arrow::ChunkedArray>>> Assemble(int64_t n) {
    std::vector<int64_t> pos(static_cast<size_t>(n), -1);
    int64_t offset = 0;
    for (const auto& r : partials_) {
      for (size_t i = 0; i < r.rows.size(); ++i) pos[r.rows[i]] = offset + static_cast<int64_t>(i);
      offset += static_cast<int64_t>(r.rows.size());
    }
    ARROW_ASSIGN_OR_RAISE(auto indices, MatchIndices(pos, nullptr, n));
    std::vector<std::shared_ptr<arrow::ChunkedArray>> out;
    for (int f = 0; f < plan_.num_features; ++f) {
      arrow::ArrayVector chunks;
      for (const auto& r : partials_) chunks.push_back(r.columns[static_cast<size_t>(f)]);
      const auto& type = plan_.out_fields[static_cast<size_t>(f)]->type();
      ARROW_ASSIGN_OR_RAISE(auto values, arrow::ChunkedArray::Make(std::move(chunks), type));
      ARROW_ASSIGN_OR_RAISE(auto col, Gather(values, indices));
      out.push_back(std::make_shared<arrow::ChunkedArray>(std::move(col)));
    }
    partials_.clear();
    return out;
  }

  int64_t spill_files() const { return spill_files_; }
  int64_t spill_bytes() const { return spill_bytes_; }
  int max_depth() const { return max_depth_; }

  void CountFiles(const std::vector<SpillPart>& parts, int depth) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& p : parts) {
      if (p.path.empty()) continue;
      ++spill_files_;
      spill_bytes_ += p.bytes;
    }
    max_depth_ = std::max(max_depth_, depth + 1);
  }

 private:
  std::vector<std::vector<uint32_t>> Split(const std::vector<uint32_t>& rows, int depth) const {
    std::vector<std::vector<uint32_t>> out(size_t{1} << bits_);
    for (uint32_t r : rows) out[static_cast<size_t>(PartitionOf(ent_.hash[r], depth, bits_))].push_back(r);
    return out;
  }

  Status JoinPart(const SpillPart& part, std::vector<uint32_t> erows, int depth, const std::string& name,
                  bool unsplittable) {
    if (part.path.empty() || erows.empty()) {
      RemovePart(part);
      return Status::OK();
    }
    int64_t need = part.bytes + part.rows * kFeatureRowOverhead;
    if (need > partition_budget_ && depth + 1 < kMaxSpillDepth && !unsplittable) {
      // Too big for its share of the budget: split it on the next hash bits.
      PartitionWriter w(plan_, dir_, name, depth + 1, bits_);
      {
        ARROW_ASSIGN_OR_RAISE(auto reader, OpenPart(part));
        for (int i = 0; i < reader->num_record_batches(); ++i) {
          ARROW_ASSIGN_OR_RAISE(auto b, reader->ReadRecordBatch(i));
          ARROW_RETURN_NOT_OK(w.Add(std::move(b)));
        }
      }
      ARROW_ASSIGN_OR_RAISE(auto subs, w.Finish());
      RemovePart(part);
      CountFiles(subs, depth + 1);
      auto sub_rows = Split(erows, depth + 1);
      for (size_t s = 0; s < subs.size(); ++s) {
        // One key cannot be split by hashing: if every row stayed together, join it as it is.
        bool stuck = subs[s].rows == part.rows;
        ARROW_RETURN_NOT_OK(
            JoinPart(subs[s], std::move(sub_rows[s]), depth + 1, name + "." + std::to_string(s), stuck));
      }
      return Status::OK();
    }
    std::vector<FeatureBatch> batches;
    {
      ARROW_ASSIGN_OR_RAISE(auto reader, OpenPart(part));
      for (int i = 0; i < reader->num_record_batches(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto b, reader->ReadRecordBatch(i));
        ARROW_ASSIGN_OR_RAISE(auto fb, PrepareBatch(plan_, std::move(b)));
        batches.push_back(std::move(fb));
      }
    }
    RemovePart(part);
    ARROW_RETURN_NOT_OK(
        Match(plan_.int_key, batches, ent_, erows, /*bits=*/0, depth, /*threads=*/1, plan_.ttl, match_.data()));
    PartialResult result;
    for (int f = 0; f < plan_.num_features; ++f) {
      ARROW_ASSIGN_OR_RAISE(auto arr, GatherFeature(batches, plan_.feature_col0 + f,
                                                     plan_.out_fields[static_cast<size_t>(f)]->type(), match_,
                                                     erows.data(), static_cast<int64_t>(erows.size())));
      result.columns.push_back(std::move(arr));
    }
    result.rows = std::move(erows);
    std::lock_guard<std::mutex> lock(mu_);
    partials_.push_back(std::move(result));
    return Status::OK();
  }

  const ViewPlan& plan_;
  const EntitySide& ent_;
  SpillDir* dir_;
  int bits_;
  int threads_;
  int64_t partition_budget_;
  std::vector<int64_t> match_;  // per entity row; partitions write disjoint rows
  std::mutex mu_;
  std::vector<PartialResult> partials_;
  int64_t spill_files_ = 0;
  int64_t spill_bytes_ = 0;
  int max_depth_ = 0;
};

// ---- one view ----------------------------------------------------------------------------------

struct JoinContext {
  const AsOfJoinOptions& options;
  int threads;
  SpillDir* spill;
  AsOfJoinStats* stats;
};

/// Joins the view's rows held in memory: partitions on all threads.
Result<std::vector<std::shared_ptr<arrow::ChunkedArray>>> JoinInMemory(
    const ViewPlan& plan, const EntitySide& ent, std::vector<std::shared_ptr<arrow::RecordBatch>> raw,
    int64_t num_entity_rows, const JoinContext& ctx) {
  {  // Morsels: big batches are sliced (zero-copy) so that every thread gets work.
    std::vector<std::shared_ptr<arrow::RecordBatch>> morsels;
    for (auto& b : raw) {
      if (b->num_rows() <= kMorselRows) {
        morsels.push_back(std::move(b));
        continue;
      }
      for (int64_t off = 0; off < b->num_rows(); off += kMorselRows) morsels.push_back(b->Slice(off, kMorselRows));
    }
    raw = std::move(morsels);
  }
  std::vector<FeatureBatch> batches(raw.size());
  ARROW_RETURN_NOT_OK(ParallelFor(static_cast<int>(raw.size()), ctx.threads, [&](int b) -> Status {
    ARROW_ASSIGN_OR_RAISE(batches[static_cast<size_t>(b)], PrepareBatch(plan, std::move(raw[static_cast<size_t>(b)])));
    return Status::OK();
  }));
  raw.clear();
  // Enough partitions that one's entity rows (the merge's random accesses) stay in a core's cache.
  int64_t parts = ctx.options.partitions > 0
                      ? ctx.options.partitions
                      : std::max<int64_t>(4 * ctx.threads, static_cast<int64_t>(ent.rows.size()) / 8192);
  const int bits = CeilLog2(static_cast<int>(std::min<int64_t>(parts, int64_t{1} << kMaxPartitionBits)));
  std::vector<int64_t> match(static_cast<size_t>(num_entity_rows), -1);
  ARROW_RETURN_NOT_OK(Match(plan.int_key, batches, ent, ent.rows, bits, 0, ctx.threads, plan.ttl, match.data()));
  std::vector<std::shared_ptr<arrow::ChunkedArray>> out(static_cast<size_t>(plan.num_features));
  ARROW_RETURN_NOT_OK(ParallelFor(plan.num_features, ctx.threads, [&](int f) -> Status {
    ARROW_ASSIGN_OR_RAISE(auto col, GatherFeature(batches, plan.feature_col0 + f,
                                                   plan.out_fields[static_cast<size_t>(f)]->type(), match, nullptr,
                                                   num_entity_rows));
    out[static_cast<size_t>(f)] = std::make_shared<arrow::ChunkedArray>(std::move(col));
    return Status::OK();
  }));
  return out;
}

Result<std::vector<std::shared_ptr<arrow::ChunkedArray>>> JoinView(const AsOfView& view, const ViewPlan& plan,
                                                                   EntityFrame* entity, const std::string& entity_ts,
                                                                   const JoinContext& ctx) {
  ARROW_ASSIGN_OR_RAISE(auto ent, entity->Side(plan, entity_ts));
  const int64_t n = entity->num_rows();
  const int64_t entity_bytes = n * kEntityRowOverhead;
  const int64_t budget = ctx.options.memory_budget_bytes;

  std::vector<std::shared_ptr<arrow::RecordBatch>> held;
  int64_t held_bytes = 0;
  std::unique_ptr<PartitionWriter> spill;
  const int spill_bits =
      std::min(kMaxPartitionBits, CeilLog2(ctx.options.partitions > 0 ? ctx.options.partitions : 64));
  while (true) {
    std::shared_ptr<arrow::RecordBatch> b;
    STRATA_RETURN_NOT_OK_CTX(view.rows->ReadNext(&b), "reading feature view '" + plan.name + "'");
    if (!b) break;
    if (b->num_rows() == 0) continue;
    ARROW_ASSIGN_OR_RAISE(b, b->SelectColumns(plan.projection));
    if (ctx.stats) ctx.stats->feature_rows += b->num_rows();
    if (spill) {
      ARROW_RETURN_NOT_OK(spill->Add(std::move(b)));
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(int64_t bytes, BatchBytes(*b));
    held_bytes += bytes + b->num_rows() * kFeatureRowOverhead;
    held.push_back(std::move(b));
    if (held_bytes + entity_bytes > budget) {
      spill = std::make_unique<PartitionWriter>(plan, ctx.spill, "v" + std::to_string(plan.index), 0, spill_bits);
      for (auto& h : held) ARROW_RETURN_NOT_OK(spill->Add(std::move(h)));
      held.clear();
    }
  }
  if (!spill) return JoinInMemory(plan, *ent, std::move(held), n, ctx);

  ARROW_ASSIGN_OR_RAISE(auto parts, spill->Finish());
  spill.reset();
  int64_t per_partition = std::max(kMinPartitionBudget, (budget - entity_bytes) / std::max(1, ctx.threads));
  SpilledJoin join(plan, *ent, ctx.spill, spill_bits, ctx.threads, per_partition, n);
  join.CountFiles(parts, 0);
  ARROW_RETURN_NOT_OK(join.Run(std::move(parts)));
  if (ctx.stats) {
    ctx.stats->views_spilled += 1;
    ctx.stats->spill_files += join.spill_files();
    ctx.stats->spill_bytes += join.spill_bytes();
    ctx.stats->max_spill_depth = std::max(ctx.stats->max_spill_depth, join.max_depth());
  }
  return join.Assemble(n);
}

}  // namespace

Result<std::shared_ptr<arrow::Table>> PointInTimeJoin(std::shared_ptr<arrow::Table> entity_table,
                                                      std::vector<AsOfView> views, const AsOfJoinOptions& options,
                                                      AsOfJoinStats* stats) {
  if (!kComputeReady) return Status::Invalid("Arrow compute functions could not be registered");
  if (!entity_table) return Error(ErrorCode::kInvalidArgument, "point-in-time join: no entity frame");
  AsOfJoinStats local_stats;
  if (stats == nullptr) stats = &local_stats;
  *stats = AsOfJoinStats{};
  stats->entity_rows = entity_table->num_rows();
  if (entity_table->num_rows() >= std::numeric_limits<uint32_t>::max()) {
    return Error(ErrorCode::kInvalidArgument, "point-in-time join: the entity frame has ", entity_table->num_rows(),
                 " rows; at most 2^32 - 2 are supported");
  }
  if (options.memory_budget_bytes <= 0) {
    return Error(ErrorCode::kInvalidArgument, "point-in-time join: memory budget must be positive");
  }
  const auto& eschema = *entity_table->schema();
  const std::string& ets = options.entity_timestamp_column;
  auto ets_idx = eschema.GetAllFieldIndices(ets);
  if (ets_idx.size() != 1) {
    return Error(ErrorCode::kInvalidArgument, "point-in-time join: the entity frame has ",
                 ets_idx.empty() ? "no" : "several", " timestamp column '", ets, "'");
  }
  const auto& ett = *eschema.field(ets_idx[0])->type();
  if (ett.id() != arrow::Type::TIMESTAMP) {
    return Error(ErrorCode::kInvalidArgument, "point-in-time join: the entity frame's timestamp column '", ets,
                 "' is ", ett.ToString(), ", not a timestamp");
  }
  auto eunit = static_cast<const arrow::TimestampType&>(ett).unit();

  // Plan every view before reading any, so bad input fails fast.
  std::vector<ViewPlan> plans;
  std::set<std::string> names;
  for (const auto& f : eschema.fields()) names.insert(f->name());
  for (size_t i = 0; i < views.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto plan, PlanView(views[i], i, eschema, eunit, options));
    for (const auto& f : plan.out_fields) {
      if (!names.insert(f->name()).second) {
        return Error(ErrorCode::kInvalidArgument, "point-in-time join: output column '", f->name(),
                     "' of feature view '", plan.name,
                     "' is already taken (by the entity frame or an earlier view); use full feature names or "
                     "output names");
      }
    }
    plans.push_back(std::move(plan));
  }

  int threads = options.parallelism > 0 ? options.parallelism
                                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  SpillDir spill(options.spill_dir);
  JoinContext ctx{options, threads, &spill, stats};
  EntityFrame entity(entity_table);

  arrow::FieldVector fields = eschema.fields();
  arrow::ChunkedArrayVector columns = entity_table->columns();
  for (size_t i = 0; i < views.size(); ++i) {
    const auto& plan = plans[i];
    if (plan.num_features == 0) continue;
    ARROW_ASSIGN_OR_RAISE(auto cols, JoinView(views[i], plan, &entity, ets, ctx));
    for (int f = 0; f < plan.num_features; ++f) {
      fields.push_back(plan.out_fields[static_cast<size_t>(f)]);
      columns.push_back(std::move(cols[static_cast<size_t>(f)]));
    }
  }
  return arrow::Table::Make(arrow::schema(fields, eschema.metadata()), columns, entity_table->num_rows());
}

Result<std::shared_ptr<arrow::Table>> PointInTimeJoin(std::shared_ptr<arrow::RecordBatchReader> entity,
                                                      std::vector<AsOfView> views, const AsOfJoinOptions& options,
                                                      AsOfJoinStats* stats) {
  if (!entity) return Error(ErrorCode::kInvalidArgument, "point-in-time join: no entity frame");
  auto table = entity->ToTable();
  if (!table.ok()) return WithContext(table.status(), "point-in-time join: reading the entity frame");
  return PointInTimeJoin(std::move(table).ValueUnsafe(), std::move(views), options, stats);
}

}  // namespace strata::exec
