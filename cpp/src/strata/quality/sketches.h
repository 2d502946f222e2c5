/// \file
/// Mergeable, serializable sketches for column profiles: HyperLogLog (distinct counts), a KLL
/// quantile sketch and a Misra–Gries frequent-items summary, plus the stable hashes they use.
///
/// Why they are written here: Apache DataSketches is the usual implementation, but no Debian
/// package provides it and strata does not vendor other projects' sources. These are small,
/// independent implementations written from the papers:
///  - HyperLogLog: P. Flajolet, É. Fusy, O. Gandouet, F. Meunier, "HyperLogLog: the analysis of a
///    near-optimal cardinality estimation algorithm", AofA 2007; the estimator is the "improved
///    raw estimator" of O. Ertl, "New cardinality estimation algorithms for HyperLogLog
///    sketches", arXiv:1702.01284 (2017), which needs no empirical bias tables.
///  - KLL: Z. Karnin, K. Lang, E. Liberty, "Optimal Quantile Approximation in Streams",
///    FOCS 2016 (lazy compactors with capacities k·(2/3)^depth; the bottom capacity-2 compactors
///    are replaced by the equivalent sampler the paper describes, and the sampler also engages
///    once the stream is long, see KllSketch).
///  - Frequent items: J. Misra, D. Gries, "Finding repeated elements", Sci. Comput. Program.
///    1982; merging as in P. Agarwal, G. Cormode, Z. Huang, J. Phillips, Z. Wei, K. Yi,
///    "Mergeable Summaries", PODS 2012.
///
/// Every sketch merges with another of the same parameters (the result summarizes the union of
/// the inputs) and round-trips through Serialize()/Deserialize() (a compact little-endian binary
/// string; callers that need text base64 it). Not thread-safe: one writer per sketch.
/// Knows nothing of Arrow data, tables or profiles.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/common/status.h"

namespace strata::quality {

// ---------------------------------------------------------------------------------------------
// Hashes. They are persisted inside serialized sketches: never change them.
// ---------------------------------------------------------------------------------------------

/// The splitmix64 finalizer: a bijective 64-bit mixer with full avalanche.
inline uint64_t Mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// Hash of an integer value (any width, sign-extended to 64 bits first).
inline uint64_t HashInt64(int64_t v) { return Mix64(static_cast<uint64_t>(v) + 0x9e3779b97f4a7c15ULL); }

/// Hash of a floating-point value; -0.0 hashes like 0.0. REQUIRES: v is not NaN.
inline uint64_t HashDouble(double v) {
  if (v == 0) v = 0;
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return Mix64(bits ^ 0x6a09e667f3bcc909ULL);
}

/// Hash of a byte string: one multiply-xorshift round per 8 bytes (the last, partial word read
/// with overlapping loads rather than byte by byte), then the full mixer (every input bit
/// reaches every output bit through the final Mix64).
inline uint64_t HashBytes(const void* data, size_t n) {
  constexpr uint64_t kMul = 0xff51afd7ed558ccdULL;
  const auto* p = static_cast<const unsigned char*>(data);
  auto load64 = [](const unsigned char* q) {
    uint64_t w;
    std::memcpy(&w, q, 8);
    return w;
  };
  auto load32 = [](const unsigned char* q) {
    uint32_t w;
    std::memcpy(&w, q, 4);
    return static_cast<uint64_t>(w);
  };
  uint64_t h = 0x243f6a8885a308d3ULL ^ (static_cast<uint64_t>(n) * 0x9e3779b97f4a7c15ULL);
  const size_t total = n;
  while (n >= 8) {
    h = (h ^ load64(p)) * kMul;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w;
    if (total >= 8) {
      w = load64(p + n - 8) >> (8 * (8 - n));  // the string's last 8 bytes, keeping the n new ones
    } else if (n >= 4) {
      w = load32(p) | (load32(p + n - 4) << 32);
    } else {
      w = p[0] | (static_cast<uint64_t>(p[n / 2]) << 8) | (static_cast<uint64_t>(p[n - 1]) << 16);
    }
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  return Mix64(h);
}
inline uint64_t HashBytes(std::string_view s) { return HashBytes(s.data(), s.size()); }

// ---------------------------------------------------------------------------------------------
// HyperLogLog
// ---------------------------------------------------------------------------------------------

/// Distinct count of a stream of 64-bit hashes. Exact (a set of the hashes, so exact up to 64-bit
/// hash collisions) while it has seen at most 2^precision / 8 distinct hashes; then 2^precision
/// registers of one byte, with a relative standard error of about 1.04 / sqrt(2^precision)
/// (0.81% at the default precision 14).
class HyperLogLog {
 public:
  static constexpr int kDefaultPrecision = 14;
  static constexpr int kMinPrecision = 4;
  static constexpr int kMaxPrecision = 18;

  /// REQUIRES: kMinPrecision <= precision <= kMaxPrecision.
  explicit HyperLogLog(int precision = kDefaultPrecision);

  void Add(uint64_t hash) {
    if (dense_) {
      AddDense(hash);
    } else {
      AddExact(hash);
    }
  }

  /// The estimated number of distinct hashes added (exact while exact()).
  double Estimate() const;
  /// True while the estimate is an exact count.
  bool exact() const { return !dense_; }
  int precision() const { return precision_; }

  /// Adds every hash `other` has seen. Fails (kInvalidArgument) when precisions differ.
  Status Merge(const HyperLogLog& other);

  std::string Serialize() const;
  static Result<HyperLogLog> Deserialize(std::string_view bytes);

 private:
  void AddDense(uint64_t hash) {
    const uint32_t idx = static_cast<uint32_t>(hash >> (64 - precision_));
    const uint64_t w = (hash << precision_) | (uint64_t{1} << (precision_ - 1));
    const uint8_t rho = static_cast<uint8_t>(__builtin_clzll(w) + 1);
    if (rho > registers_[idx]) registers_[idx] = rho;
  }
  void AddExact(uint64_t hash);
  void InsertExact(uint64_t hash);
  void ToDense();

  int precision_;
  bool dense_ = false;
  // Exact mode: open addressing over the hashes (0 marks an empty slot; hash 0 is stored as 1).
  std::vector<uint64_t> set_;
  size_t set_size_ = 0;
  std::vector<uint8_t> registers_;  // dense mode: 2^precision registers
};

// ---------------------------------------------------------------------------------------------
// KLL quantiles
// ---------------------------------------------------------------------------------------------

/// Approximate quantiles of a stream of doubles, in O(k) memory. Rank queries are unbiased, with a
/// normalized rank error of about 1% (k = 200, 99th percentile over queries: see the tests) that
/// does not grow with the stream; exact while no compaction has happened (fewer than about k·2
/// values). min() and max() are exact.
///
/// Speed: once n >= 2·kSampleDivisor, values first go through a sampler that keeps one value,
/// chosen uniformly, of each block of 2^s consecutive values, with 2^s <= n / kSampleDivisor
/// (s grows with n). Its added normalized rank error has a standard deviation of at most
/// sqrt(2^s / (4n)) <= 0.28%, and it makes updates O(1): the compactors see at most
/// 2·kSampleDivisor values over the whole stream.
class KllSketch {
 public:
  static constexpr int64_t kSampleDivisor = 32768;
  static constexpr int kDefaultK = 200;
  static constexpr int kMinK = 8;
  static constexpr int kMaxK = 65535;

  /// REQUIRES: kMinK <= k <= kMaxK. `seed` drives the random compactions (results are
  /// reproducible for a given seed and order of updates).
  explicit KllSketch(int k = kDefaultK, uint64_t seed = 0);

  /// REQUIRES: v is not NaN.
  void Add(double v) {
    if (++n_ >= next_sampler_n_) Rescale();
    if (v < min_) min_ = v;
    if (v > max_) max_ = v;
    if (sampler_level_ == 0) {
      levels_[0].push_back(v);
      if (++size_ >= max_size_) Compress();
      return;
    }
    // The sampler keeps one uniformly chosen value of each block of 2^sampler_level_ values.
    if (pending_weight_ == chosen_) pending_ = v;
    if (++pending_weight_ == block_) {
      pending_weight_ = 0;
      chosen_ = RandomBelow(block_);
      Emit(pending_);
      if (size_ >= max_size_) Compress();
    }
  }

  /// Adds everything `other` summarizes. Fails (kInvalidArgument) when k differs.
  Status Merge(const KllSketch& other);

  int64_t n() const { return n_; }
  bool empty() const { return n_ == 0; }
  int k() const { return k_; }
  /// Exact extremes (+inf / -inf when empty).
  double min() const { return min_; }
  double max() const { return max_; }
  /// Values kept (for tests and sizing).
  size_t num_retained() const;

  /// The smallest retained value whose cumulative weight reaches q·n (q clamped to [0, 1]); q = 0
  /// and q = 1 give the exact min and max. NaN when empty.
  double Quantile(double q) const;
  std::vector<double> Quantiles(const std::vector<double>& qs) const;
  /// Estimated fraction of the values that are < x, for each x of `points` (any order).
  std::vector<double> FractionsBelow(const std::vector<double>& points) const;

  std::string Serialize() const;
  static Result<KllSketch> Deserialize(std::string_view bytes);

 private:
  struct Weighted {
    double value;
    uint64_t weight;
  };
  std::vector<Weighted> SortedView() const;
  uint64_t Next() {
    rng_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(rng_);
  }
  uint64_t RandomBelow(uint64_t m) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * m) >> 64);
  }
  void Emit(double v) {
    levels_[sampler_level_].push_back(v);
    ++size_;
  }
  void AddWeighted(double v, uint64_t weight);
  void Compress();
  void CompactLevel(size_t h);
  void UpdateCapacities();
  void Rescale();

  int k_;
  uint64_t rng_;
  int64_t n_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> levels_;  // level h holds values of weight 2^h
  std::vector<uint32_t> capacities_;
  size_t size_ = 0;      // values held in levels_
  size_t max_size_ = 0;  // compaction starts when size_ reaches this
  // Sampler: levels below sampler_level_ are empty; a pending value stands for pending_weight_
  // (< block_) values of the current block.
  uint32_t sampler_level_ = 0;
  uint64_t block_ = 1;
  double pending_ = 0;
  uint64_t pending_weight_ = 0;
  uint64_t chosen_ = 0;  // position in the block whose value the sampler keeps
  int64_t next_sampler_n_ = 2 * kSampleDivisor;  // n at which the sampler level may rise
};

// ---------------------------------------------------------------------------------------------
// Frequent items
// ---------------------------------------------------------------------------------------------

/// Counts of 64-bit keys (an integer's bits, or the hash of a string with the string kept as its
/// payload). Exact while at most max_items distinct keys have been seen; after that a
/// Misra–Gries summary: when max_items counters are in use, the (max_items/4 + 1)-th largest
/// count is subtracted from every counter and those left at zero are dropped. Each reported count
/// is a lower bound, at most max_error() below the true count, max_error() <= n / (max_items/4 + 1),
/// and every key whose count exceeds that bound is kept.
class FrequentItems {
 public:
  static constexpr int kDefaultMaxItems = 2048;

  /// REQUIRES: max_items >= 2.
  explicit FrequentItems(int max_items = kDefaultMaxItems);

  /// Counts one occurrence; `payload` is kept with a key the first time it is seen. Returns true
  /// when the key was already counted (so the caller has seen this value before).
  bool Add(uint64_t key, std::string_view payload = {}) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = SlotOf(key); slots_[i].count != 0; i = (i + 1) & mask) {
      if (slots_[i].key == key) {
        ++slots_[i].count;
        return true;
      }
    }
    Insert(key, 1, payload);
    return false;
  }
  bool Add(uint64_t key, int64_t count, std::string_view payload);

  /// Adds the counts of `other`. Fails (kInvalidArgument) when max_items differs.
  Status Merge(const FrequentItems& other);

  /// True while every count is exact (no key was ever dropped).
  bool exact() const { return max_error_ == 0 && !purged_; }
  /// Bound on how far below the true count a reported count may be.
  int64_t max_error() const { return max_error_; }
  int max_items() const { return max_items_; }
  size_t size() const { return size_; }

  struct Item {
    uint64_t key;
    int64_t count;
    std::string payload;
  };
  /// The `n` keys with the largest counts, by count descending, then payload and key ascending.
  std::vector<Item> Top(size_t n) const;

  std::string Serialize() const;
  static Result<FrequentItems> Deserialize(std::string_view bytes);

 private:
  struct Slot {
    uint64_t key;
    int64_t count;  // 0 marks an empty slot
    uint32_t payload_offset;
    uint32_t payload_size;
  };
  size_t SlotOf(uint64_t key) const { return static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> shift_); }
  void Insert(uint64_t key, int64_t count, std::string_view payload);
  void Purge();
  void Rebuild(std::vector<Item> items);

  int max_items_;
  int shift_;
  std::vector<Slot> slots_;
  std::string arena_;  // payload bytes
  size_t size_ = 0;
  int64_t max_error_ = 0;
  bool purged_ = false;
};

}  // namespace strata::quality
