// Expectations that need the multiset of a column's values: unique, compound_unique,
// distinct_count_between, unique_proportion_between, most_common_value_in_set, and exists_in
// (membership in another table's column).
//
// Values are encoded as keys (a 64-bit word for fixed-width types, bytes otherwise) and, during
// the pass, only appended to one of 256 hash partitions per worker. After the pass each
// partition (of every worker) is counted in its own small hash table, partitions spread over the
// threads: the tables stay cache-sized and no lock is ever taken.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/hashing.h>

#include "strata/exec/scan.h"
#include "strata/quality/expectations_internal.h"
#include "strata/table/snapshot.h"

namespace strata::quality::internal {
namespace {

inline uint64_t Mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

inline uint64_t HashBytes(std::string_view s) {
  return Mix(arrow::internal::ComputeStringHash<0>(s.data(), static_cast<int64_t>(s.size())));
}

template <typename T>
inline uint64_t ToKey(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    double d = x;
    if (d == 0) d = 0.0;  // -0.0 and 0.0 are one value
    if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
    uint64_t k;
    std::memcpy(&k, &d, sizeof(k));
    return k;
  } else if constexpr (std::is_signed_v<T>) {
    return static_cast<uint64_t>(static_cast<int64_t>(x));
  } else {
    return static_cast<uint64_t>(x);
  }
}

template <typename T>
inline T FromKey(uint64_t k) {
  if constexpr (std::is_floating_point_v<T>) {
    double d;
    std::memcpy(&d, &k, sizeof(d));
    return static_cast<T>(d);
  } else if constexpr (std::is_signed_v<T>) {
    return static_cast<T>(static_cast<int64_t>(k));
  } else {
    return static_cast<T>(k);
  }
}

// ---- hash tables ---------------------------------------------------------------------------

/// Open addressing (linear probing) from 64-bit keys to counts; count 0 marks an empty slot.
/// Key and count share a slot (one cache line per probe); load factor at most 2/3.
class FixedTable {
 public:
  explicit FixedTable(size_t expected = 16) { Reset(expected); }
  void Add(uint64_t key, int64_t n = 1) {
    if ((size_ + 1) * 3 > slots_.size() * 2) Grow();
    uint64_t i = Mix(key) & mask_;
    while (slots_[i].count != 0) {
      if (slots_[i].key == key) {
        slots_[i].count += n;
        return;
      }
      i = (i + 1) & mask_;
    }
    slots_[i] = {key, n};
    ++size_;
  }
  int64_t Find(uint64_t key) const {
    uint64_t i = Mix(key) & mask_;
    while (slots_[i].count != 0) {
      if (slots_[i].key == key) return slots_[i].count;
      i = (i + 1) & mask_;
    }
    return 0;
  }
  size_t size() const { return size_; }
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& s : slots_) {
      if (s.count != 0) f(s.key, s.count);
    }
  }

 private:
  struct Slot {
    uint64_t key = 0;
    int64_t count = 0;
  };
  void Reset(size_t expected) {
    size_t cap = 16;
    while (cap * 2 < expected * 3) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    size_ = 0;
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    Reset(old.size());
    for (const auto& s : old) {
      if (s.count != 0) Add(s.key, s.count);
    }
  }
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  size_t size_ = 0;
};

/// Open addressing from byte strings (copied into an arena) to counts.
class BytesTable {
 public:
  explicit BytesTable(size_t expected = 16) { Reset(expected); }
  void Add(std::string_view key, uint64_t hash, int64_t n = 1) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    uint64_t i = hash & mask_;
    while (slots_[i].count != 0) {
      const Slot& s = slots_[i];
      if (s.hash == hash && s.len == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
        slots_[i].count += n;
        return;
      }
      i = (i + 1) & mask_;
    }
    slots_[i] = Slot{hash, arena_.size(), static_cast<uint32_t>(key.size()), n};
    arena_.append(key.data(), key.size());
    ++size_;
  }
  int64_t Find(std::string_view key, uint64_t hash) const {
    uint64_t i = hash & mask_;
    while (slots_[i].count != 0) {
      const Slot& s = slots_[i];
      if (s.hash == hash && s.len == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
        return s.count;
      }
      i = (i + 1) & mask_;
    }
    return 0;
  }
  size_t size() const { return size_; }
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& s : slots_) {
      if (s.count != 0) f(std::string_view(arena_.data() + s.offset, s.len), s.count);
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t offset = 0;
    uint32_t len = 0;
    int64_t count = 0;
  };
  void Reset(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    size_ = 0;
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    std::string arena = std::move(arena_);
    arena_.clear();
    Reset(old.size());
    for (const auto& s : old) {
      if (s.count != 0) Add(std::string_view(arena.data() + s.offset, s.len), s.hash, s.count);
    }
  }
  std::vector<Slot> slots_;
  std::string arena_;
  uint64_t mask_ = 0;
  size_t size_ = 0;
};

// ---- keys ----------------------------------------------------------------------------------

bool IsFixedKeyType(const arrow::DataType& t) { return IsNumericLike(t) || t.id() == arrow::Type::BOOL; }

bool IsBytesKeyType(const arrow::DataType& t) {
  switch (t.id()) {
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::FIXED_SIZE_BINARY:
    case arrow::Type::DECIMAL128:
    case arrow::Type::DECIMAL256:
      return true;
    default:
      return false;
  }
}

/// Key of row i of a fixed-width column.
void EncodeFixed(const arrow::Array& a, uint64_t* out) {
  if (a.type_id() == arrow::Type::BOOL) {
    const auto& b = static_cast<const arrow::BooleanArray&>(a);
    for (int64_t i = 0; i < a.length(); ++i) out[i] = b.Value(i);
    return;
  }
  (void)VisitPhysical(*a.type(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* v = a.data()->GetValues<T>(1);
    for (int64_t i = 0; i < a.length(); ++i) out[i] = ToKey<T>(v[i]);
    return Status::OK();
  });
}

/// Bytes of row i of a bytes-keyed column.
inline std::string_view BytesAt(const arrow::Array& a, int64_t i) {
  switch (a.type_id()) {
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY:
      return static_cast<const arrow::LargeBinaryArray&>(a).GetView(i);
    case arrow::Type::STRING:
    case arrow::Type::BINARY:
      return static_cast<const arrow::BinaryArray&>(a).GetView(i);
    default: {
      const int width = static_cast<const arrow::FixedWidthType&>(*a.type()).byte_width();
      return std::string_view(reinterpret_cast<const char*>(a.data()->buffers[1]->data()) + (a.offset() + i) * width,
                              static_cast<size_t>(width));
    }
  }
}

/// Encodes the values of one or more columns as keys: a 64-bit word for one fixed-width column,
/// the bytes for one string/binary/decimal column, and a concatenation (fixed: 8 bytes; bytes:
/// 4-byte length + bytes) for several columns.
class KeyCodec {
 public:
  enum class Mode { kFixed, kBytes, kTuple };

  static Result<KeyCodec> Make(std::vector<std::shared_ptr<arrow::DataType>> types) {
    KeyCodec c;
    for (const auto& t : types) {
      if (!IsFixedKeyType(*t) && !IsBytesKeyType(*t)) {
        return Status::Invalid("values of type ", TypeName(*t), " cannot be counted");
      }
    }
    c.types_ = std::move(types);
    if (c.types_.size() > 1) c.mode_ = Mode::kTuple;
    else c.mode_ = IsFixedKeyType(*c.types_[0]) ? Mode::kFixed : Mode::kBytes;
    return c;
  }
  Mode mode() const { return mode_; }

  /// Appends the tuple key of `row` (REQUIRES: no column null at that row).
  void EncodeTuple(const std::vector<const arrow::Array*>& cols, const std::vector<std::vector<uint64_t>>& fixed, int64_t row,
                   std::string* out) const {
    for (size_t c = 0; c < cols.size(); ++c) {
      if (IsFixedKeyType(*types_[c])) {
        out->append(reinterpret_cast<const char*>(&fixed[c][row]), 8);
      } else {
        auto v = BytesAt(*cols[c], row);
        auto len = static_cast<uint32_t>(v.size());
        out->append(reinterpret_cast<const char*>(&len), 4);
        out->append(v.data(), v.size());
      }
    }
  }

  /// For kTuple: fixed keys of each fixed-width column (others empty).
  std::vector<std::vector<uint64_t>> FixedParts(const std::vector<const arrow::Array*>& cols) const {
    std::vector<std::vector<uint64_t>> out(cols.size());
    for (size_t c = 0; c < cols.size(); ++c) {
      if (IsFixedKeyType(*types_[c])) {
        out[c].resize(static_cast<size_t>(cols[c]->length()));
        EncodeFixed(*cols[c], out[c].data());
      }
    }
    return out;
  }

  Result<std::shared_ptr<arrow::Array>> DecodeFixed(const std::vector<uint64_t>& keys) const {
    return DecodeFixedAs(keys, types_[0]);
  }

  Result<std::shared_ptr<arrow::Array>> DecodeBytes(const std::vector<std::string>& keys) const {
    if (mode_ == Mode::kBytes) return DecodeBytesAs(keys, types_[0]);
    std::vector<std::vector<uint64_t>> fixed(types_.size());
    std::vector<std::vector<std::string>> bytes(types_.size());
    for (const auto& k : keys) {
      size_t pos = 0;
      for (size_t c = 0; c < types_.size(); ++c) {
        if (IsFixedKeyType(*types_[c])) {
          uint64_t v;
          std::memcpy(&v, k.data() + pos, 8);
          pos += 8;
          fixed[c].push_back(v);
        } else {
          uint32_t len;
          std::memcpy(&len, k.data() + pos, 4);
          pos += 4;
          bytes[c].emplace_back(k.data() + pos, len);
          pos += len;
        }
      }
    }
    arrow::ArrayVector children;
    for (size_t c = 0; c < types_.size(); ++c) {
      std::shared_ptr<arrow::Array> child;
      if (IsFixedKeyType(*types_[c])) {
        ARROW_ASSIGN_OR_RAISE(child, DecodeFixedAs(fixed[c], types_[c]));
      } else {
        ARROW_ASSIGN_OR_RAISE(child, DecodeBytesAs(bytes[c], types_[c]));
      }
      children.push_back(child);
    }
    ARROW_ASSIGN_OR_RAISE(auto st, arrow::StructArray::Make(children, names_));
    return std::static_pointer_cast<arrow::Array>(st);
  }

  void set_names(std::vector<std::string> names) { names_ = std::move(names); }

 private:
  static Result<std::shared_ptr<arrow::Array>> DecodeFixedAs(const std::vector<uint64_t>& keys,
                                                              const std::shared_ptr<arrow::DataType>& type) {
    if (type->id() == arrow::Type::BOOL) {
      arrow::BooleanBuilder b;
      for (auto k : keys) ARROW_RETURN_NOT_OK(b.Append(k != 0));
      return b.Finish();
    }
    std::shared_ptr<arrow::Array> out;
    ARROW_RETURN_NOT_OK(VisitPhysical(*type, [&](auto tag) -> Status {
      using T = decltype(tag);
      ARROW_ASSIGN_OR_RAISE(auto buf, arrow::AllocateBuffer(static_cast<int64_t>(keys.size() * sizeof(T))));
      T* p = reinterpret_cast<T*>(buf->mutable_data());
      for (size_t i = 0; i < keys.size(); ++i) p[i] = FromKey<T>(keys[i]);
      out = arrow::MakeArray(arrow::ArrayData::Make(type, static_cast<int64_t>(keys.size()), {nullptr, std::move(buf)}, 0));
      return Status::OK();
    }));
    return out;
  }

  static Result<std::shared_ptr<arrow::Array>> DecodeBytesAs(const std::vector<std::string>& keys,
                                                              const std::shared_ptr<arrow::DataType>& type) {
    switch (type->id()) {
      case arrow::Type::STRING:
      case arrow::Type::BINARY: {
        arrow::BinaryBuilder b;
        for (const auto& k : keys) ARROW_RETURN_NOT_OK(b.Append(k));
        ARROW_ASSIGN_OR_RAISE(auto arr, b.Finish());
        return arr->View(type);
      }
      case arrow::Type::LARGE_STRING:
      case arrow::Type::LARGE_BINARY: {
        arrow::LargeBinaryBuilder b;
        for (const auto& k : keys) ARROW_RETURN_NOT_OK(b.Append(k));
        ARROW_ASSIGN_OR_RAISE(auto arr, b.Finish());
        return arr->View(type);
      }
      default: {
        const int width = static_cast<const arrow::FixedWidthType&>(*type).byte_width();
        arrow::FixedSizeBinaryBuilder b(arrow::fixed_size_binary(width));
        for (const auto& k : keys) ARROW_RETURN_NOT_OK(b.Append(k));
        ARROW_ASSIGN_OR_RAISE(auto arr, b.Finish());
        return arr->View(type);
      }
    }
  }

  Mode mode_ = Mode::kFixed;
  std::vector<std::shared_ptr<arrow::DataType>> types_;
  std::vector<std::string> names_;
};

/// Rows of a morsel where every one of `cols` is non-null (nullptr: all rows).
std::vector<uint8_t> AllValid(const std::vector<const arrow::Array*>& cols, int64_t n, bool* all) {
  *all = true;
  for (auto* c : cols) *all &= c->null_count() == 0;
  if (*all) return {};
  std::vector<uint8_t> valid(static_cast<size_t>(n), 1);
  for (auto* c : cols) ApplyValidity(*c, valid.data());
  return valid;
}

// ---- the value-counting accumulator ----------------------------------------------------------

constexpr int kPartitionBits = 8;
constexpr int kPartitions = 1 << kPartitionBits;

inline size_t PartitionOf(uint64_t hash) { return static_cast<size_t>(hash >> (64 - kPartitionBits)); }

struct ValuesState : AccState {
  int64_t counted = 0;
  std::vector<std::vector<uint64_t>> fixed;      // kFixed: keys per partition
  std::vector<std::string> arena;                // kBytes/kTuple: concatenated keys per partition
  std::vector<std::vector<uint32_t>> lens;       // key lengths
  std::vector<std::vector<uint64_t>> hashes;     // key hashes
  std::vector<std::unique_ptr<AccState>> merged;  // other workers' states
  std::vector<uint64_t> scratch;

  // After Finalize:
  int64_t distinct = 0;
  int64_t dup_rows = 0;
  std::vector<uint64_t> dup_fixed;
  std::vector<std::string> dup_bytes;
  std::vector<FixedTable> fixed_tables;  // kept when the counts are needed (most common value)
  std::vector<BytesTable> bytes_tables;
};

class ValuesAcc : public Accumulator {
 public:
  ValuesAcc(std::vector<int> cols, KeyCodec codec, int max_samples)
      : cols_(std::move(cols)), codec_(std::move(codec)), max_samples_(max_samples) {}
  void set_keep_counts() { keep_counts_ = true; }
  const KeyCodec& codec() const { return codec_; }

  std::unique_ptr<AccState> NewState() const override {
    auto s = std::make_unique<ValuesState>();
    if (codec_.mode() == KeyCodec::Mode::kFixed) {
      s->fixed.resize(kPartitions);
    } else {
      s->arena.resize(kPartitions);
      s->lens.resize(kPartitions);
      s->hashes.resize(kPartitions);
    }
    return s;
  }

  Status Update(AccState* state, const Morsel& m) const override {
    auto* st = static_cast<ValuesState*>(state);
    const int64_t n = m.batch->num_rows();
    std::vector<const arrow::Array*> cols;
    for (int c : cols_) cols.push_back(m.batch->column(c).get());
    bool all = false;
    auto valid = AllValid(cols, n, &all);
    switch (codec_.mode()) {
      case KeyCodec::Mode::kFixed: {
        st->scratch.resize(static_cast<size_t>(n));
        EncodeFixed(*cols[0], st->scratch.data());
        const uint64_t* k = st->scratch.data();
        for (int64_t i = 0; i < n; ++i) {
          if (!all && !valid[i]) continue;
          st->fixed[PartitionOf(Mix(k[i]))].push_back(k[i]);
          ++st->counted;
        }
        break;
      }
      case KeyCodec::Mode::kBytes: {
        for (int64_t i = 0; i < n; ++i) {
          if (!all && !valid[i]) continue;
          auto v = BytesAt(*cols[0], i);
          AddBytes(st, v);
        }
        break;
      }
      case KeyCodec::Mode::kTuple: {
        auto fixed = codec_.FixedParts(cols);
        std::string key;
        for (int64_t i = 0; i < n; ++i) {
          if (!all && !valid[i]) continue;
          key.clear();
          codec_.EncodeTuple(cols, fixed, i, &key);
          AddBytes(st, key);
        }
        break;
      }
    }
    return Status::OK();
  }

  void Merge(AccState* into, std::unique_ptr<AccState> from) const override {
    auto* a = static_cast<ValuesState*>(into);
    a->counted += static_cast<ValuesState*>(from.get())->counted;
    a->merged.push_back(std::move(from));
  }

  Status Finalize(AccState* state, int threads) const override {
    auto* st = static_cast<ValuesState*>(state);
    std::vector<ValuesState*> parts = {st};
    for (auto& m : st->merged) parts.push_back(static_cast<ValuesState*>(m.get()));
    const bool fixed = codec_.mode() == KeyCodec::Mode::kFixed;
    if (keep_counts_) {
      if (fixed) st->fixed_tables.resize(kPartitions);
      else st->bytes_tables.resize(kPartitions);
    }
    struct Local {
      int64_t distinct = 0, dup_rows = 0;
      std::vector<uint64_t> dup_fixed;
      std::vector<std::string> dup_bytes;
    };
    int nthreads = std::max(1, std::min(threads, 16));
    if (st->counted < 100000) nthreads = 1;
    std::vector<Local> locals(static_cast<size_t>(nthreads));
    std::atomic<int> next{0};
    auto work = [&](Local* local) {
      for (int p = next++; p < kPartitions; p = next++) {
        size_t total = 0;
        for (auto* s : parts) total += fixed ? s->fixed[p].size() : s->lens[p].size();
        auto note = [&](int64_t count) {
          ++local->distinct;
          if (count > 1) local->dup_rows += count;
        };
        if (fixed) {
          FixedTable t(total);
          for (auto* s : parts) {
            for (uint64_t k : s->fixed[p]) t.Add(k);
            std::vector<uint64_t>().swap(s->fixed[p]);
          }
          t.ForEach([&](uint64_t k, int64_t c) {
            note(c);
            if (c > 1 && static_cast<int>(local->dup_fixed.size()) < max_samples_) local->dup_fixed.push_back(k);
          });
          if (keep_counts_) st->fixed_tables[p] = std::move(t);
        } else {
          BytesTable t(total);
          for (auto* s : parts) {
            size_t off = 0;
            for (size_t i = 0; i < s->lens[p].size(); ++i) {
              t.Add(std::string_view(s->arena[p].data() + off, s->lens[p][i]), s->hashes[p][i]);
              off += s->lens[p][i];
            }
            std::string().swap(s->arena[p]);
            std::vector<uint32_t>().swap(s->lens[p]);
            std::vector<uint64_t>().swap(s->hashes[p]);
          }
          t.ForEach([&](std::string_view k, int64_t c) {
            note(c);
            if (c > 1 && static_cast<int>(local->dup_bytes.size()) < max_samples_) local->dup_bytes.emplace_back(k);
          });
          if (keep_counts_) st->bytes_tables[p] = std::move(t);
        }
      }
    };
    if (nthreads == 1) {
      work(&locals[0]);
    } else {
      std::vector<std::thread> pool;
      for (int t = 0; t < nthreads; ++t) pool.emplace_back(work, &locals[t]);
      for (auto& th : pool) th.join();
    }
    for (auto& l : locals) {
      st->distinct += l.distinct;
      st->dup_rows += l.dup_rows;
      for (auto k : l.dup_fixed) {
        if (static_cast<int>(st->dup_fixed.size()) < max_samples_) st->dup_fixed.push_back(k);
      }
      for (auto& k : l.dup_bytes) {
        if (static_cast<int>(st->dup_bytes.size()) < max_samples_) st->dup_bytes.push_back(std::move(k));
      }
    }
    st->merged.clear();
    return Status::OK();
  }

 private:
  void AddBytes(ValuesState* st, std::string_view v) const {
    uint64_t h = HashBytes(v);
    size_t p = PartitionOf(h);
    st->arena[p].append(v.data(), v.size());
    st->lens[p].push_back(static_cast<uint32_t>(v.size()));
    st->hashes[p].push_back(h);
    ++st->counted;
  }

  std::vector<int> cols_;
  KeyCodec codec_;
  int max_samples_;
  bool keep_counts_ = false;
};

/// The sample keys of a finalized state, decoded.
Result<std::shared_ptr<arrow::Array>> DuplicateSamples(const ValuesAcc& acc, const ValuesState& st) {
  if (acc.codec().mode() == KeyCodec::Mode::kFixed) {
    if (st.dup_fixed.empty()) return nullptr;
    return acc.codec().DecodeFixed(st.dup_fixed);
  }
  if (st.dup_bytes.empty()) return nullptr;
  return acc.codec().DecodeBytes(st.dup_bytes);
}

/// Registers (or finds) the value-counting accumulator of `columns`.
Result<std::pair<int, std::shared_ptr<ValuesAcc>>> ValuesFor(BindContext* ctx, const std::vector<std::string>& columns,
                                                             bool keep_counts) {
  std::vector<int> idx;
  std::vector<std::shared_ptr<arrow::DataType>> types;
  std::string key = "values";
  for (const auto& c : columns) {
    ARROW_ASSIGN_OR_RAISE(int i, ctx->Column(c));
    idx.push_back(i);
    types.push_back(ctx->schema->field(i)->type());
    key += ":" + std::to_string(i);
  }
  int max_samples = ctx->options.max_samples;
  ARROW_ASSIGN_OR_RAISE(int acc, ctx->AddAccumulator(key, [&]() -> Result<std::shared_ptr<Accumulator>> {
    auto codec = KeyCodec::Make(types);
    if (!codec.ok()) {
      return Status::Invalid("column '", columns[0], "' is ", TypeName(*types[0]), ": its values cannot be counted");
    }
    codec->set_names(columns);
    return std::make_shared<ValuesAcc>(idx, std::move(*codec), max_samples);
  }));
  auto values = std::static_pointer_cast<ValuesAcc>(ctx->accumulators[acc]);
  if (keep_counts) values->set_keep_counts();
  return std::make_pair(acc, values);
}

/// Rows of one batch whose key occurs more than once in the batch (per-batch uniqueness for
/// gates).
Result<int64_t> DuplicateRowsInBatch(const arrow::RecordBatch& batch, const std::vector<int>& col_idx, const KeyCodec& codec,
                                     uint8_t* fail) {
  const int64_t n = batch.num_rows();
  std::vector<const arrow::Array*> cols;
  for (int c : col_idx) cols.push_back(batch.column(c).get());
  bool all = false;
  auto valid = AllValid(cols, n, &all);
  int64_t counted = 0;
  if (codec.mode() == KeyCodec::Mode::kFixed) {
    std::vector<uint64_t> keys(static_cast<size_t>(n));
    EncodeFixed(*cols[0], keys.data());
    FixedTable t(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      if (all || valid[i]) t.Add(keys[i]);
    }
    for (int64_t i = 0; i < n; ++i) {
      if (!all && !valid[i]) continue;
      ++counted;
      fail[i] = t.Find(keys[i]) > 1;
    }
    return counted;
  }
  std::vector<std::string> keys(static_cast<size_t>(n));
  auto fixed = codec.mode() == KeyCodec::Mode::kTuple ? codec.FixedParts(cols) : std::vector<std::vector<uint64_t>>{};
  BytesTable t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (!all && !valid[i]) continue;
    if (codec.mode() == KeyCodec::Mode::kBytes) keys[i] = std::string(BytesAt(*cols[0], i));
    else codec.EncodeTuple(cols, fixed, i, &keys[i]);
    t.Add(keys[i], HashBytes(keys[i]));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (!all && !valid[i]) continue;
    ++counted;
    fail[i] = t.Find(keys[i], HashBytes(keys[i])) > 1;
  }
  return counted;
}

// ---- unique / compound_unique --------------------------------------------------------------

class UniqueBound : public BoundExpectation {
 public:
  UniqueBound(int acc, std::shared_ptr<ValuesAcc> values, std::vector<int> cols, double mostly)
      : acc_(acc), values_(std::move(values)), cols_(std::move(cols)), mostly_(mostly) {}
  bool row_level() const override { return true; }
  Result<int64_t> FailRows(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    return DuplicateRowsInBatch(batch, cols_, values_->codec(), fail);
  }
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    auto* st = static_cast<ValuesState*>(ctx.states[acc_]);
    SetRowOutcome(st->counted, st->dup_rows, mostly_, out);
    ARROW_ASSIGN_OR_RAISE(out->unexpected_samples, DuplicateSamples(*values_, *st));
    return Status::OK();
  }

 private:
  int acc_;
  std::shared_ptr<ValuesAcc> values_;
  std::vector<int> cols_;
  double mostly_;
};

class UniqueExpectation : public Expectation {
 public:
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(auto v, ValuesFor(ctx, columns, false));
    std::vector<int> cols;
    for (const auto& c : columns) cols.push_back(*ctx->Column(c));
    return std::make_unique<UniqueBound>(v.first, v.second, cols, mostly);
  }
};

// ---- distinct_count_between / unique_proportion_between / most_common_value_in_set --------

/// A [min, max] check with optional strict ends.
struct NumRange {
  std::optional<double> min, max;
  bool strict_min = false, strict_max = false;
  bool Contains(double x) const {
    if (std::isnan(x)) return false;
    if (min && (strict_min ? !(x > *min) : !(x >= *min))) return false;
    if (max && (strict_max ? !(x < *max) : !(x <= *max))) return false;
    return true;
  }
};

Result<NumRange> ReadRange(Args* args) {
  NumRange r;
  ARROW_ASSIGN_OR_RAISE(r.min, args->OptionalNumber("min"));
  ARROW_ASSIGN_OR_RAISE(r.max, args->OptionalNumber("max"));
  ARROW_ASSIGN_OR_RAISE(r.strict_min, args->OptionalBool("strict_min", false));
  ARROW_ASSIGN_OR_RAISE(r.strict_max, args->OptionalBool("strict_max", false));
  if (!r.min && !r.max) return args->Error("min", "needs min, max or both");
  return r;
}

class DistinctBound : public BoundExpectation {
 public:
  DistinctBound(int acc, NumRange range, bool proportion) : acc_(acc), range_(range), proportion_(proportion) {}
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    auto* st = static_cast<ValuesState*>(ctx.states[acc_]);
    if (!proportion_) {
      out->observed_value = Value::Int(st->distinct);
      out->success = range_.Contains(static_cast<double>(st->distinct));
      return Status::OK();
    }
    if (st->counted == 0) {
      out->success = false;
      return Status::OK();
    }
    double p = static_cast<double>(st->distinct) / static_cast<double>(st->counted);
    out->observed_value = Value::Double(p);
    out->success = range_.Contains(p);
    return Status::OK();
  }

 private:
  int acc_;
  NumRange range_;
  bool proportion_;
};

class DistinctExpectation : public Expectation {
 public:
  NumRange range;
  bool proportion = false;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(auto v, ValuesFor(ctx, columns, false));
    return std::make_unique<DistinctBound>(v.first, range, proportion);
  }
};

constexpr size_t kObservedModes = 10;

class MostCommonBound : public BoundExpectation {
 public:
  MostCommonBound(int acc, std::shared_ptr<ValuesAcc> values, std::shared_ptr<arrow::Array> set, bool ties_okay)
      : acc_(acc), values_(std::move(values)), set_(std::move(set)), ties_okay_(ties_okay) {}
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    auto* st = static_cast<ValuesState*>(ctx.states[acc_]);
    if (st->counted == 0) {
      out->success = false;
      return Status::OK();
    }
    // The set's keys, encoded like the column's.
    const bool fixed = values_->codec().mode() == KeyCodec::Mode::kFixed;
    FixedTable set_fixed;
    BytesTable set_bytes;
    if (fixed) {
      std::vector<uint64_t> k(static_cast<size_t>(set_->length()));
      EncodeFixed(*set_, k.data());
      for (int64_t i = 0; i < set_->length(); ++i) {
        if (set_->IsValid(i)) set_fixed.Add(k[i]);
      }
    } else {
      for (int64_t i = 0; i < set_->length(); ++i) {
        if (set_->IsValid(i)) set_bytes.Add(BytesAt(*set_, i), HashBytes(BytesAt(*set_, i)));
      }
    }
    int64_t best = 0;
    for (const auto& t : st->fixed_tables) t.ForEach([&](uint64_t, int64_t c) { best = std::max(best, c); });
    for (const auto& t : st->bytes_tables) t.ForEach([&](std::string_view, int64_t c) { best = std::max(best, c); });
    int64_t modes = 0, modes_in_set = 0;
    std::vector<uint64_t> shown_fixed;
    std::vector<std::string> shown_bytes;
    for (const auto& t : st->fixed_tables) {
      t.ForEach([&](uint64_t k, int64_t c) {
        if (c != best) return;
        ++modes;
        modes_in_set += set_fixed.Find(k) > 0;
        shown_fixed.push_back(k);
      });
    }
    for (const auto& t : st->bytes_tables) {
      t.ForEach([&](std::string_view k, int64_t c) {
        if (c != best) return;
        ++modes;
        modes_in_set += set_bytes.Find(k, HashBytes(k)) > 0;
        if (shown_bytes.size() < 100000) shown_bytes.emplace_back(k);
      });
    }
    out->success = ties_okay_ ? modes_in_set > 0 : modes_in_set == modes;
    std::shared_ptr<arrow::Array> arr;
    if (fixed) {
      ARROW_ASSIGN_OR_RAISE(arr, values_->codec().DecodeFixed(shown_fixed));
    } else {
      ARROW_ASSIGN_OR_RAISE(arr, values_->codec().DecodeBytes(shown_bytes));
    }
    // Observed: the smallest few modes, in order (deterministic).
    ARROW_ASSIGN_OR_RAISE(auto order, arrow::compute::SortIndices(*arr));
    ARROW_ASSIGN_OR_RAISE(auto sorted, arrow::compute::Take(arr, order));
    auto shown = sorted.make_array()->Slice(0, std::min<int64_t>(kObservedModes, arr->length()));
    Value::List list;
    for (auto& v : ArrayToValues(*shown)) list.push_back(std::move(v));
    out->observed_value = Value::MakeList(std::move(list));
    return Status::OK();
  }

 private:
  int acc_;
  std::shared_ptr<ValuesAcc> values_;
  std::shared_ptr<arrow::Array> set_;
  bool ties_okay_;
};

class MostCommonExpectation : public Expectation {
 public:
  Value values;
  bool ties_okay = false;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(auto v, ValuesFor(ctx, columns, true));
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    ARROW_ASSIGN_OR_RAISE(auto set, ValuesToArray(values.as_list(), ctx->schema->field(col)->type(), "values"));
    return std::make_unique<MostCommonBound>(v.first, v.second, set, ties_okay);
  }
};

// ---- exists_in ---------------------------------------------------------------------------

/// The referenced values, keyed like the checked column's.
struct ReferenceSet {
  bool fixed = true;
  FixedTable fixed_keys;
  BytesTable bytes_keys;
};

class ExistsKernel : public RowKernel {
 public:
  ExistsKernel(int col, std::shared_ptr<const ReferenceSet> ref) : col_(col), ref_(std::move(ref)) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    const auto& a = *batch.column(col_);
    const int64_t n = a.length();
    if (ref_->fixed) {
      std::vector<uint64_t> keys(static_cast<size_t>(n));
      EncodeFixed(a, keys.data());
      for (int64_t i = 0; i < n; ++i) fail[i] = ref_->fixed_keys.Find(keys[i]) == 0;
    } else {
      for (int64_t i = 0; i < n; ++i) {
        auto v = BytesAt(a, i);
        fail[i] = ref_->bytes_keys.Find(v, HashBytes(v)) == 0;
      }
    }
    return ApplyValidity(a, fail);
  }

 private:
  int col_;
  std::shared_ptr<const ReferenceSet> ref_;
};

class ExistsInExpectation : public Expectation {
 public:
  std::string table_path;  // resolved
  std::string table_column;
  std::optional<int64_t> version;

  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    auto type = ctx->schema->field(col)->type();
    if (!IsFixedKeyType(*type) && !IsBytesKeyType(*type)) {
      return Status::Invalid("column '", column, "' is ", TypeName(*type), ": exists_in cannot compare its values");
    }
    ARROW_ASSIGN_OR_RAISE(auto store, storage::OpenStore(table_path));
    ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(store, version));
    exec::ScanOptions o;
    o.columns = {table_column};
    ARROW_ASSIGN_OR_RAISE(auto reader, exec::Scan(snap, o));
    auto ref = std::make_shared<ReferenceSet>();
    ref->fixed = IsFixedKeyType(*type);
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
      if (!batch) break;
      auto arr = batch->column(0);
      if (arr->type_id() == arrow::Type::DICTIONARY) {
        ARROW_ASSIGN_OR_RAISE(arr, arrow::compute::Cast(*arr, static_cast<const arrow::DictionaryType&>(*arr->type()).value_type()));
      }
      const auto& rt = *arr->type();
      bool compatible = (arrow::is_integer(rt.id()) && arrow::is_integer(type->id())) ||
                        (ref->fixed ? rt.Equals(*type) : IsBytesKeyType(rt) && !arrow::is_decimal(rt.id()) &&
                                                             !arrow::is_decimal(type->id()));
      if (!compatible) {
        auto casted = arrow::compute::Cast(*arr, type);
        if (!casted.ok()) {
          return Status::Invalid("column '", table_column, "' of table '", table_path, "' is ", TypeName(rt),
                                 ", which cannot be compared with '", column, "' (", TypeName(*type), ")");
        }
        arr = *casted;
      }
      if (ref->fixed) {
        std::vector<uint64_t> keys(static_cast<size_t>(arr->length()));
        EncodeFixed(*arr, keys.data());
        for (int64_t i = 0; i < arr->length(); ++i) {
          if (arr->IsValid(i)) ref->fixed_keys.Add(keys[i]);
        }
      } else {
        for (int64_t i = 0; i < arr->length(); ++i) {
          if (arr->IsValid(i)) ref->bytes_keys.Add(BytesAt(*arr, i), HashBytes(BytesAt(*arr, i)));
        }
      }
    }
    return BindRowKernel(ctx, *this, std::make_shared<ExistsKernel>(col, ref), {col});
  }
};

}  // namespace

Result<std::shared_ptr<Expectation>> CompileHashed(const ExpectationSpec& spec, Args* args, const std::string& base_dir) {
  const std::string& t = spec.type;
  if (t == "compound_unique") {
    auto e = std::make_shared<UniqueExpectation>();
    ARROW_ASSIGN_OR_RAISE(e->columns, args->StringList("columns", 1));
    return e;
  }
  ARROW_ASSIGN_OR_RAISE(auto column, args->RequiredString("column"));
  if (t == "unique") {
    auto e = std::make_shared<UniqueExpectation>();
    e->column = column;
    e->columns = {column};
    return e;
  }
  if (t == "distinct_count_between" || t == "unique_proportion_between") {
    auto e = std::make_shared<DistinctExpectation>();
    e->column = column;
    e->columns = {column};
    e->proportion = t == "unique_proportion_between";
    ARROW_ASSIGN_OR_RAISE(e->range, ReadRange(args));
    return e;
  }
  if (t == "most_common_value_in_set") {
    auto e = std::make_shared<MostCommonExpectation>();
    e->column = column;
    e->columns = {column};
    ARROW_ASSIGN_OR_RAISE(e->values, args->RequiredList("values"));
    ARROW_ASSIGN_OR_RAISE(e->ties_okay, args->OptionalBool("ties_okay", false));
    return e;
  }
  if (t == "exists_in") {
    auto e = std::make_shared<ExistsInExpectation>();
    e->column = column;
    e->columns = {column};
    ARROW_ASSIGN_OR_RAISE(auto path, args->RequiredString("table"));
    ARROW_ASSIGN_OR_RAISE(e->table_column, args->RequiredString("table_column"));
    ARROW_ASSIGN_OR_RAISE(e->version, args->OptionalInt("version"));
    bool uri = path.find("://") != std::string::npos;
    if (!uri && !base_dir.empty() && std::filesystem::path(path).is_relative()) {
      path = (std::filesystem::path(base_dir) / path).lexically_normal().string();
    }
    e->table_path = path;
    return e;
  }
  return Status::Invalid("not a hashed expectation: ", t);
}

}  // namespace strata::quality::internal
