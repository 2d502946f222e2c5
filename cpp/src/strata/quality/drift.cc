#include "strata/quality/drift.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include <arrow/array.h>
#include <arrow/chunked_array.h>
#include <arrow/compute/api.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <arrow/util/bit_util.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "strata/common/json_writer.h"
#include "strata/quality/profile.h"
#include "strata/quality/sketches.h"

namespace strata::quality {

namespace {

using internal::ParallelFor;
using internal::ResolveThreads;

// =============================================================================================
// Input normalization
// =============================================================================================

enum class Family { kNumeric, kCategorical, kOther };

Family FamilyOf(const arrow::DataType& type) {
  using arrow::Type;
  switch (type.id()) {
    case Type::INT8:
    case Type::INT16:
    case Type::INT32:
    case Type::INT64:
    case Type::UINT8:
    case Type::UINT16:
    case Type::UINT32:
    case Type::UINT64:
    case Type::HALF_FLOAT:
    case Type::FLOAT:
    case Type::DOUBLE:
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256:
    case Type::DATE32:
    case Type::DATE64:
    case Type::TIMESTAMP:
    case Type::TIME32:
    case Type::TIME64:
    case Type::DURATION:
      return Family::kNumeric;
    case Type::BOOL:
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW:
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY:
      return Family::kCategorical;
    case Type::DICTIONARY:
      return FamilyOf(*static_cast<const arrow::DictionaryType&>(type).value_type());
    default:
      return Family::kOther;
  }
}

Result<std::shared_ptr<arrow::Array>> CastArray(const std::shared_ptr<arrow::Array>& a,
                                                const std::shared_ptr<arrow::DataType>& to) {
  ARROW_ASSIGN_OR_RAISE(auto d, arrow::compute::Cast(arrow::Datum(a), arrow::compute::CastOptions::Unsafe(to)));
  return d.make_array();
}

std::shared_ptr<arrow::Array> Reinterpret(const std::shared_ptr<arrow::Array>& a,
                                          const std::shared_ptr<arrow::DataType>& to) {
  auto data = a->data()->Copy();
  data->type = to;
  return arrow::MakeArray(data);
}

/// A chunk in a physical numeric type (integers, float, double) or the null type.
Result<std::shared_ptr<arrow::Array>> NumericChunk(const std::shared_ptr<arrow::Array>& a) {
  using arrow::Type;
  switch (a->type_id()) {
    case Type::INT8:
    case Type::INT16:
    case Type::INT32:
    case Type::INT64:
    case Type::UINT8:
    case Type::UINT16:
    case Type::UINT32:
    case Type::UINT64:
    case Type::FLOAT:
    case Type::DOUBLE:
    case Type::NA:
      return a;
    case Type::HALF_FLOAT:
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256:
      return CastArray(a, arrow::float64());
    case Type::DATE32:
    case Type::TIME32:
      return Reinterpret(a, arrow::int32());
    case Type::DATE64:
    case Type::TIMESTAMP:
    case Type::TIME64:
    case Type::DURATION:
      return Reinterpret(a, arrow::int64());
    case Type::DICTIONARY: {
      ARROW_ASSIGN_OR_RAISE(auto decoded, CastArray(a, static_cast<const arrow::DictionaryType&>(*a->type()).value_type()));
      return NumericChunk(decoded);
    }
    default:
      return Error(ErrorCode::kSchemaMismatch, "expected numeric values, got ", a->type()->ToString());
  }
}

Result<arrow::ArrayVector> NumericChunks(const arrow::ChunkedArray& col) {
  arrow::ArrayVector out;
  for (const auto& c : col.chunks()) {
    if (c->length() == 0) continue;
    ARROW_ASSIGN_OR_RAISE(auto n, NumericChunk(c));
    out.push_back(std::move(n));
  }
  return out;
}

/// Calls fn(const T* values) with the chunk's values (offset applied) in their physical type.
template <typename Fn>
void WithValues(const arrow::Array& a, Fn&& fn) {
  using arrow::Type;
  const auto& d = *a.data();
  switch (a.type_id()) {
    case Type::INT8: fn(d.GetValues<int8_t>(1)); break;
    case Type::INT16: fn(d.GetValues<int16_t>(1)); break;
    case Type::INT32: fn(d.GetValues<int32_t>(1)); break;
    case Type::INT64: fn(d.GetValues<int64_t>(1)); break;
    case Type::UINT8: fn(d.GetValues<uint8_t>(1)); break;
    case Type::UINT16: fn(d.GetValues<uint16_t>(1)); break;
    case Type::UINT32: fn(d.GetValues<uint32_t>(1)); break;
    case Type::UINT64: fn(d.GetValues<uint64_t>(1)); break;
    case Type::FLOAT: fn(d.GetValues<float>(1)); break;
    case Type::DOUBLE: fn(d.GetValues<double>(1)); break;
    default: break;  // the null type: no values
  }
}

/// A slice of one chunk: the unit of parallel work.
struct Range {
  const arrow::Array* array;
  int64_t begin, end;
};

std::vector<Range> SplitRanges(const arrow::ArrayVector& chunks, int64_t max_rows = int64_t{1} << 20) {
  std::vector<Range> out;
  for (const auto& c : chunks) {
    for (int64_t b = 0; b < c->length(); b += max_rows) out.push_back({c.get(), b, std::min(c->length(), b + max_rows)});
  }
  return out;
}

constexpr int kBlock = 1024;

/// Calls fn(const double* x, int n, int64_t first) for the range's values in blocks of up to
/// kBlock, converted to double. Null slots are included with whatever their buffer holds: the
/// callers undo them with ForEachNull.
template <typename Fn>
void ForEachBlock(const Range& r, Fn&& fn) {
  WithValues(*r.array, [&](const auto* v) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(v)>>;
    alignas(64) double buf[kBlock];
    for (int64_t b = r.begin; b < r.end; b += kBlock) {
      const int n = static_cast<int>(std::min<int64_t>(kBlock, r.end - b));
      if constexpr (std::is_same_v<T, double>) {
        fn(v + b, n, b);
      } else {
        for (int i = 0; i < n; ++i) buf[i] = static_cast<double>(v[b + i]);
        fn(static_cast<const double*>(buf), n, b);
      }
    }
  });
}

/// Calls fn(double garbage) for each null slot of the range (not for the null type, which has
/// no values); returns the range's null count.
template <typename Fn>
int64_t ForEachNull(const Range& r, Fn&& fn) {
  const arrow::Array& a = *r.array;
  if (a.type_id() == arrow::Type::NA) return r.end - r.begin;
  if (a.null_count() == 0) return 0;
  int64_t nulls = 0;
  const uint8_t* valid = a.null_bitmap_data();
  WithValues(a, [&](const auto* v) {
    for (int64_t i = r.begin; i < r.end; ++i) {
      if (!arrow::bit_util::GetBit(valid, a.offset() + i)) {
        ++nulls;
        fn(static_cast<double>(v[i]));
      }
    }
  });
  return nulls;
}

Status NoValues(const char* side) {
  return Error(ErrorCode::kInvalidArgument, "the ", side, " data has no values (empty, or only nulls and NaN)");
}

// =============================================================================================
// Exact quantile edges (numpy's "linear" method)
// =============================================================================================

/// numpy's _lerp: a + (b - a) * t, computed from b's side when t >= 0.5.
double Lerp(double a, double b, double t) {
  if (a == b) return a;
  const double diff = b - a;
  double v = t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
  if (std::isnan(v)) v = t < 0.5 ? a : b;  // infinite neighbours
  return v;
}

/// Order statistics (0-based ranks) needed for quantile i/bins, i = 1 .. bins-1, and the weight.
struct QuantilePosition {
  int64_t lo, hi;
  double gamma;
};

std::vector<QuantilePosition> QuantilePositions(int64_t n, int bins) {
  std::vector<QuantilePosition> out;
  for (int i = 1; i < bins; ++i) {
    const double q = static_cast<double>(i) / bins;
    const double virt = static_cast<double>(n - 1) * q;
    const double prev = std::floor(virt);
    int64_t lo = static_cast<int64_t>(prev);
    lo = std::clamp<int64_t>(lo, 0, n - 1);
    out.push_back({lo, std::min(lo + 1, n - 1), virt - prev});
  }
  return out;
}

// --- order-preserving keys and radix sort ---------------------------------------------------

uint64_t Key(double x) {
  if (x == 0) x = 0;  // -0.0 sorts and compares equal to 0.0
  uint64_t b;
  std::memcpy(&b, &x, sizeof(b));
  return (b >> 63) ? ~b : (b | (uint64_t{1} << 63));
}

double FromKey(uint64_t k) {
  const uint64_t b = (k >> 63) ? (k & ~(uint64_t{1} << 63)) : ~k;
  double x;
  std::memcpy(&x, &b, sizeof(x));
  return x;
}

/// LSD radix sort, 11-bit digits, skipping digits that are the same for every key.
void RadixSort(std::vector<uint64_t>& keys) {
  const size_t n = keys.size();
  if (n < 4096) {
    std::sort(keys.begin(), keys.end());
    return;
  }
  constexpr int kBits = 11, kPasses = 6, kRadix = 1 << kBits;
  std::vector<uint32_t> counts(static_cast<size_t>(kPasses) * kRadix, 0);
  for (uint64_t k : keys) {
    for (int p = 0; p < kPasses; ++p) ++counts[p * kRadix + ((k >> (p * kBits)) & (kRadix - 1))];
  }
  std::vector<uint64_t> tmp(n);
  uint64_t* src = keys.data();
  uint64_t* dst = tmp.data();
  for (int p = 0; p < kPasses; ++p) {
    uint32_t* c = &counts[p * kRadix];
    if (c[(src[0] >> (p * kBits)) & (kRadix - 1)] == n) continue;
    uint32_t sum = 0;
    for (int d = 0; d < kRadix; ++d) {
      const uint32_t x = c[d];
      c[d] = sum;
      sum += x;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint64_t k = src[i];
      dst[c[(k >> (p * kBits)) & (kRadix - 1)]++] = k;
    }
    std::swap(src, dst);
  }
  if (src != keys.data()) std::memcpy(keys.data(), src, n * sizeof(uint64_t));
}

/// The non-null, non-NaN values of `chunks` as sorted keys; the nulls and NaN are counted in
/// `ignored`.
std::vector<uint64_t> SortedKeys(const arrow::ArrayVector& chunks, int64_t* ignored) {
  int64_t total = 0;
  for (const auto& c : chunks) total += c->length();
  std::vector<uint64_t> keys(static_cast<size_t>(total));
  size_t used = 0;
  int64_t skipped = 0;
  for (const auto& r : SplitRanges(chunks)) {
    const arrow::Array& a = *r.array;
    if (a.type_id() == arrow::Type::NA) {
      skipped += r.end - r.begin;
      continue;
    }
    const uint8_t* valid = a.null_count() > 0 ? a.null_bitmap_data() : nullptr;
    ForEachBlock(r, [&](const double* x, int n, int64_t first) {
      for (int i = 0; i < n; ++i) {
        const bool ok = x[i] == x[i] && (valid == nullptr || arrow::bit_util::GetBit(valid, a.offset() + first + i));
        keys[used] = Key(x[i]);
        used += ok;
        skipped += !ok;
      }
    });
  }
  keys.resize(used);
  *ignored = skipped;
  RadixSort(keys);
  return keys;
}

/// Number of keys < Key(x).
int64_t CountBelow(const std::vector<uint64_t>& sorted, double x) {
  return std::lower_bound(sorted.begin(), sorted.end(), Key(x)) - sorted.begin();
}

std::vector<double> EdgesFromSorted(const std::vector<uint64_t>& sorted, int bins) {
  std::vector<double> edges;
  for (const auto& p : QuantilePositions(static_cast<int64_t>(sorted.size()), bins)) {
    edges.push_back(Lerp(FromKey(sorted[p.lo]), FromKey(sorted[p.hi]), p.gamma));
  }
  return edges;
}

std::vector<int64_t> CountsFromSorted(const std::vector<uint64_t>& sorted, const std::vector<double>& edges) {
  std::vector<int64_t> counts;
  int64_t prev = 0;
  for (double e : edges) {
    const int64_t below = CountBelow(sorted, e);
    counts.push_back(below - prev);
    prev = below;
  }
  counts.push_back(static_cast<int64_t>(sorted.size()) - prev);
  return counts;
}

// --- the streaming path: bucket histogram, then only the needed buckets --------------------

constexpr int kBuckets = 1 << 14;

/// Monotone map of values to buckets: linear over [lo, hi), values outside clamp to the end
/// buckets, NaN to bucket 0. Every pass uses this one function, so a value always lands in the
/// same bucket; being monotone, x < y implies bucket(x) <= bucket(y).
struct Bucketing {
  double lo = 0;
  double scale = 1;
  int buckets = 1;
  int operator()(double x) const {
    double t = (x - lo) * scale;
    const double last = buckets - 1;
    t = t >= 0 ? t : 0.0;
    t = t <= last ? t : last;
    return static_cast<int>(t);
  }
};

/// Picks the bucket range from a sample of the reference (its 0.25/bins and 1 - 0.25/bins
/// quantiles, at most 1% in from either end), so the buckets cover the body of the data.
Bucketing ChooseBucketing(const arrow::ArrayVector& chunks, int bins) {
  std::vector<int64_t> starts;
  int64_t total = 0;
  for (const auto& c : chunks) {
    starts.push_back(total);
    total += c->length();
  }
  Bucketing b;
  if (total == 0) return b;
  std::vector<double> sample;
  uint64_t rng = 0x5eed;
  const int kSample = 4096;
  for (int attempt = 0; attempt < 4 * kSample && static_cast<int>(sample.size()) < kSample; ++attempt) {
    rng += 0x9e3779b97f4a7c15ULL;
    const int64_t pos = static_cast<int64_t>(Mix64(rng) % static_cast<uint64_t>(total));
    const size_t ci = std::upper_bound(starts.begin(), starts.end(), pos) - starts.begin() - 1;
    const arrow::Array& a = *chunks[ci];
    const int64_t i = pos - starts[ci];
    if (a.type_id() == arrow::Type::NA || a.IsNull(i)) continue;
    WithValues(a, [&](const auto* v) {
      const double x = static_cast<double>(v[i]);
      if (std::isfinite(x)) sample.push_back(x);
    });
  }
  if (sample.size() < 2) return b;
  std::sort(sample.begin(), sample.end());
  const double tail = std::min(0.01, 0.25 / bins);
  const size_t k = static_cast<size_t>(tail * static_cast<double>(sample.size()));
  const double lo = sample[k], hi = sample[sample.size() - 1 - k];
  const double scale = kBuckets / (hi - lo);
  if (!(hi > lo) || !std::isfinite(scale) || !(scale > 0)) return b;
  b.lo = lo;
  b.scale = scale;
  b.buckets = kBuckets;
  return b;
}

// --- SIMD kernels ---------------------------------------------------------------------------
// Written with GCC/Clang vector extensions: W doubles per vector, 2 (SSE2, the x86-64 baseline),
// or 4 and 8 in clones compiled for AVX2 and AVX-512 and chosen at run time (no build flags
// needed). Every clone does the same IEEE operations as the scalar code, so a value gets the
// same bin or bucket in every pass.

typedef double V2d __attribute__((vector_size(16)));
typedef int64_t V2l __attribute__((vector_size(16)));
typedef int32_t V2i __attribute__((vector_size(8)));
typedef double V4d __attribute__((vector_size(32)));
typedef int64_t V4l __attribute__((vector_size(32)));
typedef int32_t V4i __attribute__((vector_size(16)));
typedef double V8d __attribute__((vector_size(64)));
typedef int64_t V8l __attribute__((vector_size(64)));
typedef int32_t V8i __attribute__((vector_size(32)));

template <typename VD>
struct VecTraits;
template <>
struct VecTraits<V2d> {
  using VL = V2l;
  using VI = V2i;
  static constexpr int kWidth = 2;
};
template <>
struct VecTraits<V4d> {
  using VL = V4l;
  using VI = V4i;
  static constexpr int kWidth = 4;
};
template <>
struct VecTraits<V8d> {
  using VL = V8l;
  using VI = V8i;
  static constexpr int kWidth = 8;
};

/// out[i] = #{edges <= x[i]} (0 for NaN); returns the NaN count.
template <typename VD, int E>
[[gnu::always_inline]] inline int64_t BinBlockImpl(const double* x, int n, const double* edges, int32_t* out) {
  using VL = typename VecTraits<VD>::VL;
  constexpr int W = VecTraits<VD>::kWidth;
  VD e[E];
  for (int j = 0; j < E; ++j) {
    for (int k = 0; k < W; ++k) e[j][k] = edges[j];
  }
  VL nans = {};
  int i = 0;
  for (; i + W <= n; i += W) {
    VD v;
    std::memcpy(&v, x + i, sizeof(v));
    VL acc = {};
#pragma GCC unroll 32
    for (int j = 0; j < E; ++j) acc -= (VL)(v >= e[j]);
    nans -= (VL)(v != v);
    for (int k = 0; k < W; ++k) out[i + k] = static_cast<int32_t>(acc[k]);
  }
  int64_t total = 0;
  for (int k = 0; k < W; ++k) total += nans[k];
  for (; i < n; ++i) {
    int32_t b = 0;
    for (int j = 0; j < E; ++j) b += x[i] >= edges[j] ? 1 : 0;
    out[i] = b;
    total += x[i] != x[i];
  }
  return total;
}

/// ge[j] += #{i : x[i] >= edges[j]} for each of the E edges; returns the NaN count. Vector
/// compares accumulated in registers: no per-value stores (bin counts are differences of these).
template <typename VD, int E>
[[gnu::always_inline]] inline int64_t CountGeImpl(const double* x, int n, const double* edges, int64_t* ge) {
  using VL = typename VecTraits<VD>::VL;
  constexpr int W = VecTraits<VD>::kWidth;
  VD e[E];
  VL acc[E];
#pragma GCC unroll 32
  for (int j = 0; j < E; ++j) {
    for (int k = 0; k < W; ++k) e[j][k] = edges[j];
    acc[j] = VL{};
  }
  VL nans = {};
  int i = 0;
  for (; i + W <= n; i += W) {
    VD v;
    std::memcpy(&v, x + i, sizeof(v));
#pragma GCC unroll 32
    for (int j = 0; j < E; ++j) acc[j] -= (VL)(v >= e[j]);
    nans -= (VL)(v != v);
  }
  int64_t total = 0;
  for (int k = 0; k < W; ++k) total += nans[k];
  for (int j = 0; j < E; ++j) {
    for (int k = 0; k < W; ++k) ge[j] += acc[j][k];
  }
  for (; i < n; ++i) {
    for (int j = 0; j < E; ++j) ge[j] += x[i] >= edges[j] ? 1 : 0;
    total += x[i] != x[i];
  }
  return total;
}

/// out[i] = bucket of x[i] (see Bucketing); returns the NaN count.
template <typename VD>
[[gnu::always_inline]] inline int64_t BucketBlockImpl(const double* x, int n, double lo, double scale, double last,
                                                      int32_t* out) {
  using VL = typename VecTraits<VD>::VL;
  using VI = typename VecTraits<VD>::VI;
  constexpr int W = VecTraits<VD>::kWidth;
  VD vlo, vscale, vlast, zero = {};
  for (int k = 0; k < W; ++k) {
    vlo[k] = lo;
    vscale[k] = scale;
    vlast[k] = last;
  }
  VL nans = {};
  int i = 0;
  for (; i + W <= n; i += W) {
    VD v;
    std::memcpy(&v, x + i, sizeof(v));
    VD t = (v - vlo) * vscale;
    t = t >= zero ? t : zero;
    t = t <= vlast ? t : vlast;
    VI b = __builtin_convertvector(t, VI);
    std::memcpy(out + i, &b, sizeof(b));
    nans -= (VL)(v != v);
  }
  int64_t total = 0;
  for (int k = 0; k < W; ++k) total += nans[k];
  for (; i < n; ++i) {
    double t = (x[i] - lo) * scale;
    t = t >= 0 ? t : 0.0;
    t = t <= last ? t : last;
    out[i] = static_cast<int32_t>(t);
    total += x[i] != x[i];
  }
  return total;
}

using BinFn = int64_t (*)(const double*, int, const double*, int32_t*);

template <int E>
int64_t BinBlockSse2(const double* x, int n, const double* edges, int32_t* out) {
  return BinBlockImpl<V2d, E>(x, n, edges, out);
}
template <int E>
__attribute__((target("avx2"))) int64_t BinBlockAvx2(const double* x, int n, const double* edges, int32_t* out) {
  return BinBlockImpl<V4d, E>(x, n, edges, out);
}

using CountGeFn = int64_t (*)(const double*, int, const double*, int64_t*);

template <int E>
int64_t CountGeSse2(const double* x, int n, const double* edges, int64_t* ge) {
  return CountGeImpl<V2d, E>(x, n, edges, ge);
}
template <int E>
__attribute__((target("avx2"))) int64_t CountGeAvx2(const double* x, int n, const double* edges, int64_t* ge) {
  return CountGeImpl<V4d, E>(x, n, edges, ge);
}

#define STRATA_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw")))
template <int E>
STRATA_AVX512 int64_t CountGeAvx512(const double* x, int n, const double* edges, int64_t* ge) {
  return CountGeImpl<V8d, E>(x, n, edges, ge);
}
template <int E>
STRATA_AVX512 int64_t BinBlockAvx512(const double* x, int n, const double* edges, int32_t* out) {
  return BinBlockImpl<V8d, E>(x, n, edges, out);
}
STRATA_AVX512 int64_t BucketBlockAvx512(const double* x, int n, double lo, double scale, double last, int32_t* out) {
  return BucketBlockImpl<V8d>(x, n, lo, scale, last, out);
}

int64_t BucketBlockSse2(const double* x, int n, double lo, double scale, double last, int32_t* out) {
  return BucketBlockImpl<V2d>(x, n, lo, scale, last, out);
}
__attribute__((target("avx2"))) int64_t BucketBlockAvx2(const double* x, int n, double lo, double scale, double last,
                                                        int32_t* out) {
  return BucketBlockImpl<V4d>(x, n, lo, scale, last, out);
}

enum class Isa { kSse2 = 0, kAvx2 = 1, kAvx512 = 2 };

Isa DetectedIsa() {
  static const Isa kIsa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")) {
      return Isa::kAvx512;
    }
    return __builtin_cpu_supports("avx2") ? Isa::kAvx2 : Isa::kSse2;
  }();
  return kIsa;
}

std::atomic<int> g_simd_limit{-1};  // tests: the highest level to use (-1: no limit)

Isa BestIsa() {
  const int limit = g_simd_limit.load(std::memory_order_relaxed);
  const Isa detected = DetectedIsa();
  return limit < 0 || limit >= static_cast<int>(detected) ? detected : static_cast<Isa>(limit);
}

/// Buckets of a block; returns the NaN count (NaN lands in bucket 0).
int64_t BucketBlock(const Bucketing& bk, const double* x, int n, int32_t* out) {
  const double last = bk.buckets - 1;
  switch (BestIsa()) {
    case Isa::kAvx512: return BucketBlockAvx512(x, n, bk.lo, bk.scale, last, out);
    case Isa::kAvx2: return BucketBlockAvx2(x, n, bk.lo, bk.scale, last, out);
    default: return BucketBlockSse2(x, n, bk.lo, bk.scale, last, out);
  }
}

/// The unrolled kernel for 1 to 32 edges; nullptr beyond (binary search).
template <int... Is>
BinFn PickBinFn(size_t m, std::integer_sequence<int, Is...>) {
  BinFn fn = nullptr;
  const Isa isa = BestIsa();
  ((m == static_cast<size_t>(Is + 1)
        ? (fn = isa == Isa::kAvx512 ? &BinBlockAvx512<Is + 1> : isa == Isa::kAvx2 ? &BinBlockAvx2<Is + 1> : &BinBlockSse2<Is + 1>,
           0)
        : 0),
   ...);
  return fn;
}

/// The compare-and-count kernel for 1 to 32 edges; nullptr beyond.
template <int... Is>
CountGeFn PickCountGeFn(size_t m, std::integer_sequence<int, Is...>) {
  CountGeFn fn = nullptr;
  const Isa isa = BestIsa();
  ((m == static_cast<size_t>(Is + 1)
        ? (fn = isa == Isa::kAvx512 ? &CountGeAvx512<Is + 1> : isa == Isa::kAvx2 ? &CountGeAvx2<Is + 1> : &CountGeSse2<Is + 1>,
           0)
        : 0),
   ...);
  return fn;
}

int64_t BinBlockSearch(const double* x, int n, const std::vector<double>& edges, int32_t* out) {
  int64_t nans = 0;
  for (int i = 0; i < n; ++i) {
    out[i] = x[i] == x[i] ? static_cast<int32_t>(std::upper_bound(edges.begin(), edges.end(), x[i]) - edges.begin()) : 0;
    nans += x[i] != x[i];
  }
  return nans;
}

/// Counts per bin of the range's values (bins slots); NaN and nulls are counted apart.
void BinRange(const Range& r, const std::vector<double>& edges, int bins, int64_t* counts, int64_t* nans_out,
              int64_t* nulls_out) {
  const size_t m = edges.size();
  if (const CountGeFn count_ge = m == 0 ? nullptr : PickCountGeFn(m, std::make_integer_sequence<int, 32>())) {
    // ge[j] = #(x >= edges[j]): bin 0 = rest, bin j = ge[j-1] - ge[j], last bin = ge[m-1].
    int64_t ge[32] = {};
    int64_t total = 0, nans = 0;
    ForEachBlock(r, [&](const double* x, int n, int64_t) {
      total += n;
      nans += count_ge(x, n, edges.data(), ge);
    });
    *nulls_out += ForEachNull(r, [&](double g) {
      --total;
      if (g != g) {
        --nans;
        return;
      }
      for (size_t j = 0; j < m; ++j) ge[j] -= g >= edges[j] ? 1 : 0;
    });
    counts[0] += total - nans - ge[0];
    for (size_t j = 1; j < m; ++j) counts[j] += ge[j - 1] - ge[j];
    counts[m] += ge[m - 1];
    *nans_out += nans;
    return;
  }
  const BinFn fn = edges.empty() ? nullptr : PickBinFn(edges.size(), std::make_integer_sequence<int, 32>());
  auto bin_block = [&](const double* x, int n, int32_t* out) -> int64_t {
    if (edges.empty()) {
      int64_t nans = 0;
      for (int i = 0; i < n; ++i) {
        out[i] = 0;
        nans += x[i] != x[i];
      }
      return nans;
    }
    return fn != nullptr ? fn(x, n, edges.data(), out) : BinBlockSearch(x, n, edges, out);
  };
  // Four interleaved sets of counters break the increment chains of sorted data.
  std::vector<int64_t> c(4 * static_cast<size_t>(bins), 0);
  int64_t* c0 = c.data();
  int64_t* c1 = c0 + bins;
  int64_t* c2 = c1 + bins;
  int64_t* c3 = c2 + bins;
  int64_t nans = 0;
  alignas(64) int32_t idx[kBlock];
  ForEachBlock(r, [&](const double* x, int n, int64_t) {
    nans += bin_block(x, n, idx);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      ++c0[idx[i]];
      ++c1[idx[i + 1]];
      ++c2[idx[i + 2]];
      ++c3[idx[i + 3]];
    }
    for (; i < n; ++i) ++c0[idx[i]];
  });
  for (int j = 0; j < bins; ++j) counts[j] += c0[j] + c1[j] + c2[j] + c3[j];
  // NaN landed in bin 0; null slots landed wherever their garbage did.
  counts[0] -= nans;
  *nulls_out += ForEachNull(r, [&](double g) {
    int32_t b = 0;
    if (bin_block(&g, 1, &b) > 0) {
      --nans;  // a NaN in a null slot: neither a value nor a NaN
    } else {
      --counts[b];
    }
  });
  *nans_out += nans;
}

/// Current-data counts per bin over all ranges, in parallel; `ignored` gets nulls and NaN.
Result<std::vector<int64_t>> BinAll(const std::vector<Range>& ranges, const std::vector<double>& edges, int bins,
                                    int threads, int64_t* ignored) {
  std::vector<std::vector<int64_t>> parts(ranges.size(), std::vector<int64_t>(bins, 0));
  std::vector<int64_t> skipped(ranges.size(), 0);
  ARROW_RETURN_NOT_OK(ParallelFor(static_cast<int64_t>(ranges.size()), threads, [&](int64_t t, int) {
    int64_t nans = 0, nulls = 0;
    BinRange(ranges[t], edges, bins, parts[t].data(), &nans, &nulls);
    skipped[t] = nans + nulls;
    return Status::OK();
  }));
  std::vector<int64_t> counts(bins, 0);
  *ignored = 0;
  for (size_t t = 0; t < ranges.size(); ++t) {
    for (int j = 0; j < bins; ++j) counts[j] += parts[t][j];
    *ignored += skipped[t];
  }
  return counts;
}

/// Histogram of the range's values over the buckets; ids[i] gets the bucket of the range's
/// i-th slot (so the second pass reads 2 bytes per value, not 8). Returns nulls + NaN.
int64_t HistogramRange(const Range& r, const Bucketing& bk, uint32_t* hist, uint16_t* ids) {
  std::vector<uint32_t> second(bk.buckets, 0);  // interleaved, for sorted data
  uint32_t* h1 = second.data();
  int64_t nans = 0;
  alignas(64) int32_t idx[kBlock];
  ForEachBlock(r, [&](const double* x, int n, int64_t first) {
    nans += BucketBlock(bk, x, n, idx);
    uint16_t* out = ids + (first - r.begin);
    for (int i = 0; i < n; ++i) out[i] = static_cast<uint16_t>(idx[i]);
    int i = 0;
    for (; i + 2 <= n; i += 2) {
      ++hist[idx[i]];
      ++h1[idx[i + 1]];
    }
    if (i < n) ++hist[idx[i]];
  });
  for (int b = 0; b < bk.buckets; ++b) hist[b] += h1[b];
  hist[0] -= static_cast<uint32_t>(nans);  // NaN landed in bucket 0
  const int64_t nulls = ForEachNull(r, [&](double g) {
    if (g != g) {
      --nans;
    } else {
      --hist[bk(g)];
    }
  });
  return nulls + nans;
}

// --- finding the wanted buckets' slots ----------------------------------------------------
// Pass 2 looks for the few (<= 2 * (bins - 1)) wanted bucket ids among all of pass 1's ids. The
// x86 clones compare 8, 16 or 32 ids at a time with each wanted id and report the groups that
// hold one; the scalar fallback checks every id.

constexpr int kMaxVectorWanted = 64;

/// Writes to `groups` the start of every group of G ids (from 0, whole groups only) holding a
/// wanted id; returns how many, and sets *scanned to the ids covered.
using FindGroupsFn = int64_t (*)(const uint16_t*, int64_t, const uint16_t*, int, int64_t*, int64_t*);

#if defined(__x86_64__)
int64_t FindGroupsSse2(const uint16_t* ids, int64_t n, const uint16_t* want, int nw, int64_t* groups,
                       int64_t* scanned) {
  __m128i w[kMaxVectorWanted];
  for (int j = 0; j < nw; ++j) w[j] = _mm_set1_epi16(static_cast<int16_t>(want[j]));
  int64_t k = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ids + i));
    __m128i m = _mm_setzero_si128();
    for (int j = 0; j < nw; ++j) m = _mm_or_si128(m, _mm_cmpeq_epi16(v, w[j]));
    if (_mm_movemask_epi8(m) != 0) groups[k++] = i;
  }
  *scanned = i;
  return k;
}

__attribute__((target("avx2"))) int64_t FindGroupsAvx2(const uint16_t* ids, int64_t n, const uint16_t* want, int nw,
                                                       int64_t* groups, int64_t* scanned) {
  __m256i w[kMaxVectorWanted];
  for (int j = 0; j < nw; ++j) w[j] = _mm256_set1_epi16(static_cast<int16_t>(want[j]));
  int64_t k = 0, i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ids + i));
    __m256i m = _mm256_setzero_si256();
    for (int j = 0; j < nw; ++j) m = _mm256_or_si256(m, _mm256_cmpeq_epi16(v, w[j]));
    if (!_mm256_testz_si256(m, m)) groups[k++] = i;
  }
  *scanned = i;
  return k;
}

__attribute__((target("avx512f,avx512bw"))) int64_t FindGroupsAvx512(const uint16_t* ids, int64_t n,
                                                                     const uint16_t* want, int nw, int64_t* groups,
                                                                     int64_t* scanned) {
  __m512i w[kMaxVectorWanted];
  for (int j = 0; j < nw; ++j) w[j] = _mm512_set1_epi16(static_cast<int16_t>(want[j]));
  int64_t k = 0, i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i v = _mm512_loadu_si512(ids + i);
    __mmask32 m = 0;
    for (int j = 0; j < nw; ++j) m |= _mm512_cmpeq_epi16_mask(v, w[j]);
    if (m != 0) groups[k++] = i;
  }
  *scanned = i;
  return k;
}
#endif

FindGroupsFn PickFindGroups(int* group) {
#if defined(__x86_64__)
  switch (BestIsa()) {
    case Isa::kAvx512: *group = 32; return &FindGroupsAvx512;
    case Isa::kAvx2: *group = 16; return &FindGroupsAvx2;
    default: *group = 8; return &FindGroupsSse2;
  }
#else
  *group = 0;
  return nullptr;
#endif
}

/// Appends the range's non-null, non-NaN values whose bucket (from pass 1's ids) is wanted.
void CollectFromIds(const Range& r, const uint16_t* ids, const std::vector<uint8_t>& wanted, std::vector<double>* out) {
  const arrow::Array& a = *r.array;
  if (a.type_id() == arrow::Type::NA) return;
  const uint8_t* valid = a.null_count() > 0 ? a.null_bitmap_data() : nullptr;
  const uint8_t* w = wanted.data();
  std::vector<uint16_t> want;
  for (size_t b = 0; b < wanted.size(); ++b) {
    if (wanted[b]) want.push_back(static_cast<uint16_t>(b));
  }
  const int64_t n = r.end - r.begin;
  WithValues(a, [&](const auto* v) {
    auto take = [&](int64_t from, int64_t to) {
      for (int64_t i = from; i < to; ++i) {
        if (w[ids[i]]) {
          const int64_t slot = r.begin + i;
          const double x = static_cast<double>(v[slot]);
          if (x == x && (valid == nullptr || arrow::bit_util::GetBit(valid, a.offset() + slot))) out->push_back(x);
        }
      }
    };
    int group = 0;
    const FindGroupsFn find = want.size() <= kMaxVectorWanted ? PickFindGroups(&group) : nullptr;
    if (find == nullptr) {
      take(0, n);
      return;
    }
    std::vector<int64_t> groups(static_cast<size_t>(n / group + 1));
    int64_t scanned = 0;
    const int64_t k = find(ids, n, want.data(), static_cast<int>(want.size()), groups.data(), &scanned);
    for (int64_t g = 0; g < k; ++g) take(groups[g], groups[g] + group);
    take(scanned, n);
  });
}

/// Reusable buffers for pass 1's bucket ids. Fresh multi-megabyte allocations cost a page fault
/// per 4 KiB (measured: about a fifth of PSI's CPU time for 10M-row columns), so buffers are
/// kept for later calls, at most kMaxPooled of them (a range's buffer is at most 2 MiB).
class IdBufferPool {
 public:
  static constexpr size_t kMaxPooled = 64;
  std::vector<uint16_t> Take(size_t n) {
    std::vector<uint16_t> v;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        v = std::move(free_.back());
        free_.pop_back();
      }
    }
    v.resize(n);
    return v;
  }
  void Give(std::vector<uint16_t> v) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMaxPooled) free_.push_back(std::move(v));
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<uint16_t>> free_;
};

IdBufferPool& IdBuffers() {
  static IdBufferPool* pool = new IdBufferPool;  // never destroyed: usable until exit
  return *pool;
}

/// Exact quantile edges of the reference and both sides' bin counts, without sorting.
Result<QuantileBins> StreamingBins(const arrow::ArrayVector& ref, const arrow::ArrayVector& cur, int bins,
                                   int threads) {
  const Bucketing bk = ChooseBucketing(ref, bins);
  const auto ref_ranges = SplitRanges(ref);
  const auto cur_ranges = SplitRanges(cur);

  // Pass 1 over the reference: a histogram of buckets, remembering each slot's bucket.
  std::vector<std::vector<uint32_t>> hists(ref_ranges.size());
  std::vector<std::vector<uint16_t>> ids(ref_ranges.size());
  std::vector<int64_t> ref_ignored(ref_ranges.size(), 0);
  ARROW_RETURN_NOT_OK(ParallelFor(static_cast<int64_t>(ref_ranges.size()), threads, [&](int64_t t, int) {
    hists[t].assign(bk.buckets, 0);
    ids[t] = IdBuffers().Take(static_cast<size_t>(ref_ranges[t].end - ref_ranges[t].begin));
    ref_ignored[t] = HistogramRange(ref_ranges[t], bk, hists[t].data(), ids[t].data());
    return Status::OK();
  }));
  std::vector<int64_t> cum(bk.buckets + 1, 0);  // cum[b]: values in buckets < b
  for (const auto& h : hists) {
    for (int b = 0; b < bk.buckets; ++b) cum[b + 1] += h[b];
  }
  for (int b = 0; b < bk.buckets; ++b) cum[b + 1] += cum[b];
  hists.clear();
  QuantileBins out;
  for (int64_t x : ref_ignored) out.reference_ignored += x;
  const int64_t n = cum[bk.buckets];
  if (n == 0) return NoValues("reference");

  // The buckets holding the needed order statistics.
  const auto positions = QuantilePositions(n, bins);
  auto bucket_of_rank = [&](int64_t r) {
    return static_cast<int>(std::upper_bound(cum.begin(), cum.end(), r) - cum.begin()) - 1;
  };
  std::vector<uint8_t> wanted(bk.buckets, 0);
  for (const auto& p : positions) {
    wanted[bucket_of_rank(p.lo)] = 1;
    wanted[bucket_of_rank(p.hi)] = 1;
  }

  // Pass 2: the values of those buckets, found through the bucket ids.
  std::vector<std::vector<double>> collected(ref_ranges.size());
  ARROW_RETURN_NOT_OK(ParallelFor(static_cast<int64_t>(ref_ranges.size()), threads, [&](int64_t t, int) {
    CollectFromIds(ref_ranges[t], ids[t].data(), wanted, &collected[t]);
    IdBuffers().Give(std::move(ids[t]));
    return Status::OK();
  }));
  std::unordered_map<int, std::vector<double>> by_bucket;
  for (auto& part : collected) {
    for (double x : part) {
      const int b = bk(x);
      if (wanted[b]) by_bucket[b].push_back(x);
    }
    part.clear();
    part.shrink_to_fit();
  }
  for (auto& [b, values] : by_bucket) std::sort(values.begin(), values.end());
  auto order_stat = [&](int64_t r) {
    const int b = bucket_of_rank(r);
    return by_bucket[b][static_cast<size_t>(r - cum[b])];
  };
  for (const auto& p : positions) out.edges.push_back(Lerp(order_stat(p.lo), order_stat(p.hi), p.gamma));

  // Reference counts: below(e) = values in buckets before e's + those in e's bucket below e.
  bool exact = true;
  std::vector<int64_t> below;
  for (double e : out.edges) {
    const int b = bk(e);
    auto it = by_bucket.find(b);
    if (it != by_bucket.end()) {
      below.push_back(cum[b] + (std::lower_bound(it->second.begin(), it->second.end(), e) - it->second.begin()));
    } else if (cum[b + 1] == cum[b]) {
      below.push_back(cum[b]);
    } else {
      exact = false;  // cannot happen for an edge between two order statistics; count directly
      break;
    }
  }
  if (exact) {
    int64_t prev = 0;
    for (int64_t x : below) {
      out.reference.push_back(x - prev);
      prev = x;
    }
    out.reference.push_back(n - prev);
  } else {
    int64_t ignored = 0;
    ARROW_ASSIGN_OR_RAISE(out.reference, BinAll(ref_ranges, out.edges, bins, threads, &ignored));
  }
  ARROW_ASSIGN_OR_RAISE(out.current, BinAll(cur_ranges, out.edges, bins, threads, &out.current_ignored));
  int64_t cur_n = 0;
  for (int64_t c : out.current) cur_n += c;
  if (cur_n == 0) return NoValues("current");
  return out;
}

Result<QuantileBins> SortedBins(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur, int bins) {
  if (ref.empty()) return NoValues("reference");
  if (cur.empty()) return NoValues("current");
  QuantileBins out;
  out.edges = EdgesFromSorted(ref, bins);
  out.reference = CountsFromSorted(ref, out.edges);
  out.current = CountsFromSorted(cur, out.edges);
  return out;
}

KsResult KsFromSorted(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  const size_t n1 = a.size(), n2 = b.size();
  size_t i = 0, j = 0;
  double d = 0;
  while (i < n1 && j < n2) {
    const uint64_t k = std::min(a[i], b[j]);
    while (i < n1 && a[i] == k) ++i;
    while (j < n2 && b[j] == k) ++j;
    d = std::max(d, std::abs(static_cast<double>(i) / n1 - static_cast<double>(j) / n2));
  }
  KsResult r;
  r.statistic = d;
  r.reference_count = static_cast<int64_t>(n1);
  r.current_count = static_cast<int64_t>(n2);
  const double en = static_cast<double>(n1) * static_cast<double>(n2) / static_cast<double>(n1 + n2);
  r.pvalue = KolmogorovSurvival(d * std::sqrt(en));
  return r;
}

/// Both sides' sorted keys, sorted concurrently.
Status SortBoth(const arrow::ArrayVector& ref, const arrow::ArrayVector& cur, int threads, std::vector<uint64_t>* rk,
                std::vector<uint64_t>* ck, int64_t* ref_ignored, int64_t* cur_ignored) {
  return ParallelFor(2, threads, [&](int64_t t, int) {
    if (t == 0) {
      *rk = SortedKeys(ref, ref_ignored);
    } else {
      *ck = SortedKeys(cur, cur_ignored);
    }
    return Status::OK();
  });
}

// =============================================================================================
// Categorical counts
// =============================================================================================

enum class CatKind { kBytes, kBool, kInt };

Result<std::shared_ptr<arrow::Array>> CategoricalChunk(const std::shared_ptr<arrow::Array>& a) {
  using arrow::Type;
  switch (a->type_id()) {
    case Type::DICTIONARY: {
      ARROW_ASSIGN_OR_RAISE(auto decoded, CastArray(a, static_cast<const arrow::DictionaryType&>(*a->type()).value_type()));
      return CategoricalChunk(decoded);
    }
    case Type::STRING_VIEW:
      return CastArray(a, arrow::large_utf8());
    case Type::BINARY_VIEW:
      return CastArray(a, arrow::large_binary());
    case Type::DATE32:
    case Type::TIME32:
      return Reinterpret(a, arrow::int32());
    case Type::DATE64:
    case Type::TIMESTAMP:
    case Type::TIME64:
    case Type::DURATION:
      return Reinterpret(a, arrow::int64());
    default:
      return a;
  }
}

std::optional<CatKind> CatKindOf(arrow::Type::type id) {
  using arrow::Type;
  switch (id) {
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::FIXED_SIZE_BINARY:
      return CatKind::kBytes;
    case Type::BOOL:
      return CatKind::kBool;
    case Type::INT8:
    case Type::INT16:
    case Type::INT32:
    case Type::INT64:
    case Type::UINT8:
    case Type::UINT16:
    case Type::UINT32:
    case Type::UINT64:
      return CatKind::kInt;
    default:
      return std::nullopt;
  }
}

struct CategoryCounter {
  std::unordered_map<std::string_view, size_t> bytes;
  std::unordered_map<int64_t, size_t> ints;
  std::vector<std::string_view> byte_keys;
  std::vector<int64_t> int_keys;
  std::vector<int64_t> counts[2];

  size_t Slot(size_t index) {
    if (counts[0].size() <= index) {
      counts[0].resize(index + 1, 0);
      counts[1].resize(index + 1, 0);
    }
    return index;
  }
  void AddBytes(std::string_view s, int side) {
    auto [it, fresh] = bytes.try_emplace(s, byte_keys.size());
    if (fresh) byte_keys.push_back(s);
    ++counts[side][Slot(it->second)];
  }
  void AddInt(int64_t v, int side) {
    auto [it, fresh] = ints.try_emplace(v, int_keys.size());
    if (fresh) int_keys.push_back(v);
    ++counts[side][Slot(it->second)];
  }

  /// Counts `chunk` into `side`; returns its nulls.
  int64_t Add(const arrow::Array& a, int side) {
    using arrow::Type;
    int64_t nulls = a.null_count();
    switch (a.type_id()) {
      case Type::STRING:
      case Type::BINARY: {
        const auto& s = static_cast<const arrow::BinaryArray&>(a);
        for (int64_t i = 0; i < s.length(); ++i) {
          if (s.IsValid(i)) AddBytes(s.GetView(i), side);
        }
        break;
      }
      case Type::LARGE_STRING:
      case Type::LARGE_BINARY: {
        const auto& s = static_cast<const arrow::LargeBinaryArray&>(a);
        for (int64_t i = 0; i < s.length(); ++i) {
          if (s.IsValid(i)) AddBytes(s.GetView(i), side);
        }
        break;
      }
      case Type::FIXED_SIZE_BINARY: {
        const auto& s = static_cast<const arrow::FixedSizeBinaryArray&>(a);
        for (int64_t i = 0; i < s.length(); ++i) {
          if (s.IsValid(i)) AddBytes(s.GetView(i), side);
        }
        break;
      }
      case Type::BOOL: {
        const auto& b = static_cast<const arrow::BooleanArray&>(a);
        const int64_t trues = b.true_count();
        const int64_t falses = b.length() - b.null_count() - trues;
        // false and true are integer keys 0 and 1, named at the end.
        if (falses > 0) {
          AddInt(0, side);
          counts[side][ints[0]] += falses - 1;
        }
        if (trues > 0) {
          AddInt(1, side);
          counts[side][ints[1]] += trues - 1;
        }
        break;
      }
      case Type::NA:
        nulls = a.length();
        break;
      default: {
        WithValues(a, [&](const auto* v) {
          for (int64_t i = 0; i < a.length(); ++i) {
            if (a.IsValid(i)) AddInt(static_cast<int64_t>(v[i]), side);
          }
        });
        break;
      }
    }
    return nulls;
  }
};

struct PreparedCategorical {
  arrow::ArrayVector chunks;
  std::optional<CatKind> kind;
};

Result<PreparedCategorical> PrepareCategorical(const arrow::ChunkedArray& col, const char* side) {
  PreparedCategorical p;
  for (const auto& c : col.chunks()) {
    ARROW_ASSIGN_OR_RAISE(auto n, CategoricalChunk(c));
    if (n->type_id() == arrow::Type::NA || n->length() == 0) {
      p.chunks.push_back(n);
      continue;
    }
    auto k = CatKindOf(n->type_id());
    if (!k) {
      return Error(ErrorCode::kSchemaMismatch, "expected categorical values (strings, booleans or integers) in the ",
                   side, " data, got ", c->type()->ToString());
    }
    if (p.kind && *p.kind != *k) return Error(ErrorCode::kSchemaMismatch, "mixed value types in the ", side, " data");
    p.kind = k;
    p.chunks.push_back(n);
  }
  return p;
}

// =============================================================================================
// Report helpers
// =============================================================================================

bool Wants(const DriftOptions& o, const char* metric, bool by_default) {
  if (o.metrics.empty()) return by_default;
  return std::find(o.metrics.begin(), o.metrics.end(), metric) != o.metrics.end();
}

Status CheckMetrics(const DriftOptions& o) {
  for (const auto& m : o.metrics) {
    if (m != "psi" && m != "ks" && m != "js" && m != "chi2") {
      return Error(ErrorCode::kInvalidArgument, "unknown drift metric '", m, "' (choose from psi, ks, js, chi2)");
    }
  }
  if (o.bins < 1) return Error(ErrorCode::kInvalidArgument, "bins must be >= 1, not ", o.bins);
  return Status::OK();
}

Status CheckBins(int bins) {
  if (bins < 1) return Error(ErrorCode::kInvalidArgument, "bins must be >= 1, not ", bins);
  return Status::OK();
}

}  // namespace

// =============================================================================================
// Public functions
// =============================================================================================

double PsiFromCounts(const std::vector<int64_t>& reference, const std::vector<int64_t>& current, double epsilon) {
  double r_total = 0, c_total = 0;
  for (int64_t x : reference) r_total += static_cast<double>(x);
  for (int64_t x : current) c_total += static_cast<double>(x);
  double psi = 0;
  for (size_t i = 0; i < reference.size() && i < current.size(); ++i) {
    double r = reference[i] / r_total, c = current[i] / c_total;
    if (r == 0) r = epsilon;
    if (c == 0) c = epsilon;
    psi += (c - r) * std::log(c / r);
  }
  return psi;
}

double JsDivergenceFromCounts(const std::vector<int64_t>& reference, const std::vector<int64_t>& current) {
  double r_total = 0, c_total = 0;
  for (int64_t x : reference) r_total += static_cast<double>(x);
  for (int64_t x : current) c_total += static_cast<double>(x);
  if (r_total == 0 || c_total == 0) return std::numeric_limits<double>::quiet_NaN();
  double js = 0;
  for (size_t i = 0; i < reference.size() && i < current.size(); ++i) {
    const double p = reference[i] / r_total, q = current[i] / c_total, m = 0.5 * (p + q);
    if (p > 0) js += 0.5 * p * std::log2(p / m);
    if (q > 0) js += 0.5 * q * std::log2(q / m);
  }
  return std::clamp(js, 0.0, 1.0);
}

double KolmogorovSurvival(double x) {
  if (!(x > 0)) return 1.0;
  constexpr double kPi = 3.14159265358979323846;
  if (x < 1.0) {
    // P(K <= x) = sqrt(2 pi) / x * sum_{j>=1} exp(-(2j-1)^2 pi^2 / (8 x^2)), converging fast here.
    const double w = kPi * kPi / (8 * x * x);
    double s = 0;
    for (int j = 1; j < 100; ++j) {
      const double t = std::exp(-(2.0 * j - 1) * (2.0 * j - 1) * w);
      s += t;
      if (t < 1e-17 * s) break;
    }
    return std::clamp(1 - std::sqrt(2 * kPi) / x * s, 0.0, 1.0);
  }
  // P(K > x) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 x^2).
  double s = 0, sign = 1;
  for (int j = 1; j < 100; ++j) {
    const double t = std::exp(-2.0 * j * j * x * x);
    s += sign * t;
    sign = -sign;
    if (t < 1e-17) break;
  }
  return std::clamp(2 * s, 0.0, 1.0);
}

double ChiSquareSurvival(double x, double dof) {
  if (!(dof > 0)) return 1.0;
  if (!(x > 0)) return 1.0;
  if (std::isinf(x)) return 0.0;
  const double a = dof / 2, z = x / 2;
  const double log_prefix = -z + a * std::log(z) - std::lgamma(a);
  if (z < a + 1) {
    // Series for the lower regularized gamma P(a, z).
    double term = 1 / a, sum = term;
    for (int n = 1; n < 100000; ++n) {
      term *= z / (a + n);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return std::clamp(1 - sum * std::exp(log_prefix), 0.0, 1.0);
  }
  // Continued fraction for Q(a, z) (modified Lentz).
  constexpr double kTiny = 1e-300;
  double b = z + 1 - a, c = 1 / kTiny, d = 1 / b, h = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1) < 1e-16) break;
  }
  return std::clamp(std::exp(log_prefix) * h, 0.0, 1.0);
}

ChiSquareResult ChiSquareFromCounts(const std::vector<int64_t>& reference, const std::vector<int64_t>& current) {
  ChiSquareResult out;
  double r_total = 0, c_total = 0;
  int64_t k = 0;
  for (size_t i = 0; i < reference.size() && i < current.size(); ++i) {
    r_total += static_cast<double>(reference[i]);
    c_total += static_cast<double>(current[i]);
    if (reference[i] + current[i] > 0) ++k;
  }
  const double total = r_total + c_total;
  if (k < 2 || r_total == 0 || c_total == 0) return out;
  double stat = 0;
  for (size_t i = 0; i < reference.size() && i < current.size(); ++i) {
    const double t = static_cast<double>(reference[i] + current[i]);
    if (t == 0) continue;
    const double er = r_total * t / total, ec = c_total * t / total;
    stat += (reference[i] - er) * (reference[i] - er) / er + (current[i] - ec) * (current[i] - ec) / ec;
  }
  out.statistic = stat;
  out.dof = k - 1;
  out.pvalue = ChiSquareSurvival(stat, static_cast<double>(out.dof));
  return out;
}

Result<QuantileBins> BinByReferenceQuantiles(const arrow::ChunkedArray& reference, const arrow::ChunkedArray& current,
                                             int bins, int threads) {
  ARROW_RETURN_NOT_OK(CheckBins(bins));
  ARROW_ASSIGN_OR_RAISE(auto ref, NumericChunks(reference));
  ARROW_ASSIGN_OR_RAISE(auto cur, NumericChunks(current));
  return StreamingBins(ref, cur, bins, ResolveThreads(threads));
}

Result<PsiResult> Psi(const arrow::ChunkedArray& reference, const arrow::ChunkedArray& current, int bins,
                      double epsilon, int threads) {
  PsiResult out;
  ARROW_ASSIGN_OR_RAISE(out.bins, BinByReferenceQuantiles(reference, current, bins, threads));
  out.psi = PsiFromCounts(out.bins.reference, out.bins.current, epsilon);
  return out;
}

Result<KsResult> KolmogorovSmirnov(const arrow::ChunkedArray& reference, const arrow::ChunkedArray& current,
                                   int threads) {
  ARROW_ASSIGN_OR_RAISE(auto ref, NumericChunks(reference));
  ARROW_ASSIGN_OR_RAISE(auto cur, NumericChunks(current));
  std::vector<uint64_t> rk, ck;
  int64_t ri = 0, ci = 0;
  ARROW_RETURN_NOT_OK(SortBoth(ref, cur, ResolveThreads(threads), &rk, &ck, &ri, &ci));
  if (rk.empty()) return NoValues("reference");
  if (ck.empty()) return NoValues("current");
  return KsFromSorted(rk, ck);
}

Result<CategoryCounts> CountCategories(const arrow::ChunkedArray& reference, const arrow::ChunkedArray& current) {
  ARROW_ASSIGN_OR_RAISE(auto ref, PrepareCategorical(reference, "reference"));
  ARROW_ASSIGN_OR_RAISE(auto cur, PrepareCategorical(current, "current"));
  if (ref.kind && cur.kind && *ref.kind != *cur.kind) {
    return Error(ErrorCode::kSchemaMismatch, "the reference (", reference.type()->ToString(), ") and current (",
                 current.type()->ToString(), ") values are of different kinds");
  }
  const CatKind kind = ref.kind ? *ref.kind : (cur.kind ? *cur.kind : CatKind::kBytes);
  CategoryCounter counter;
  CategoryCounts out;
  for (const auto& c : ref.chunks) out.reference_ignored += counter.Add(*c, 0);
  for (const auto& c : cur.chunks) out.current_ignored += counter.Add(*c, 1);
  // Sorted categories.
  std::vector<size_t> order;
  if (kind == CatKind::kBytes) {
    order.resize(counter.byte_keys.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return counter.byte_keys[a] < counter.byte_keys[b]; });
    for (size_t i : order) out.categories.emplace_back(counter.byte_keys[i]);
  } else {
    order.resize(counter.int_keys.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return counter.int_keys[a] < counter.int_keys[b]; });
    for (size_t i : order) {
      const int64_t v = counter.int_keys[i];
      out.categories.push_back(kind == CatKind::kBool ? (v ? "true" : "false") : std::to_string(v));
    }
  }
  for (size_t i : order) {
    out.reference.push_back(counter.counts[0][i]);
    out.current.push_back(counter.counts[1][i]);
  }
  int64_t rn = 0, cn = 0;
  for (int64_t x : out.reference) rn += x;
  for (int64_t x : out.current) cn += x;
  if (rn == 0) return NoValues("reference");
  if (cn == 0) return NoValues("current");
  return out;
}

// =============================================================================================
// The report
// =============================================================================================

bool DriftReport::has_alerts() const {
  for (const auto& c : columns) {
    if (!c.alerts.empty()) return true;
  }
  return false;
}

std::string DriftReport::ToJson() const {
  JsonWriter w;
  auto opt = [&](const std::optional<double>& v) {
    if (v) {
      w.Double(*v);
    } else {
      w.Null();
    }
  };
  w.BeginObject();
  w.Key("has_alerts").Bool(has_alerts());
  w.Key("options").BeginObject();
  w.Key("bins").Int(options.bins);
  w.Key("epsilon").Double(options.epsilon);
  w.Key("thresholds").BeginObject();
  w.Key("psi").Double(options.psi_threshold);
  w.Key("ks_pvalue").Double(options.ks_pvalue_threshold);
  w.Key("js").Double(options.js_threshold);
  w.Key("chi2_pvalue");
  opt(options.chi2_pvalue_threshold);
  w.EndObject();
  w.EndObject();
  w.Key("columns").BeginArray();
  for (const auto& c : columns) {
    w.BeginObject();
    w.Key("name").String(c.name);
    w.Key("kind").String(c.kind);
    w.Key("reference_count").Int(c.reference_count);
    w.Key("current_count").Int(c.current_count);
    w.Key("reference_ignored").Int(c.reference_ignored);
    w.Key("current_ignored").Int(c.current_ignored);
    w.Key("psi");
    opt(c.psi);
    w.Key("ks");
    if (c.ks) {
      w.BeginObject().Key("statistic").Double(c.ks->statistic).Key("pvalue").Double(c.ks->pvalue).EndObject();
    } else {
      w.Null();
    }
    w.Key("chi2");
    if (c.chi2) {
      w.BeginObject()
          .Key("statistic")
          .Double(c.chi2->statistic)
          .Key("dof")
          .Int(c.chi2->dof)
          .Key("pvalue")
          .Double(c.chi2->pvalue)
          .EndObject();
    } else {
      w.Null();
    }
    w.Key("js");
    opt(c.js);
    w.Key("alerts").BeginArray();
    for (const auto& a : c.alerts) {
      w.BeginObject().Key("metric").String(a.metric).Key("value").Double(a.value);
      w.Key("threshold").Double(a.threshold).EndObject();
    }
    w.EndArray();
    w.Key("skipped");
    if (c.skipped.empty()) {
      w.Null();
    } else {
      w.String(c.skipped);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Release();
}

namespace {

/// Fills the metrics of a numeric column.
Status NumericDrift(const arrow::ChunkedArray& ref_col, const arrow::ChunkedArray& cur_col, const DriftOptions& o,
                    int threads, ColumnDrift* cd) {
  ARROW_ASSIGN_OR_RAISE(auto ref, NumericChunks(ref_col));
  ARROW_ASSIGN_OR_RAISE(auto cur, NumericChunks(cur_col));
  const bool want_psi = Wants(o, "psi", true), want_ks = Wants(o, "ks", true), want_js = Wants(o, "js", true);
  const bool want_chi2 = Wants(o, "chi2", false);
  QuantileBins bins;
  if (want_ks) {
    std::vector<uint64_t> rk, ck;
    ARROW_RETURN_NOT_OK(SortBoth(ref, cur, threads, &rk, &ck, &cd->reference_ignored, &cd->current_ignored));
    ARROW_ASSIGN_OR_RAISE(bins, SortedBins(rk, ck, o.bins));
    cd->ks = KsFromSorted(rk, ck);
  } else {
    ARROW_ASSIGN_OR_RAISE(bins, StreamingBins(ref, cur, o.bins, threads));
    cd->reference_ignored = bins.reference_ignored;
    cd->current_ignored = bins.current_ignored;
  }
  for (int64_t x : bins.reference) cd->reference_count += x;
  for (int64_t x : bins.current) cd->current_count += x;
  if (want_psi) cd->psi = PsiFromCounts(bins.reference, bins.current, o.epsilon);
  if (want_js) cd->js = JsDivergenceFromCounts(bins.reference, bins.current);
  if (want_chi2) cd->chi2 = ChiSquareFromCounts(bins.reference, bins.current);
  return Status::OK();
}

Status CategoricalDrift(const arrow::ChunkedArray& ref_col, const arrow::ChunkedArray& cur_col, const DriftOptions& o,
                        ColumnDrift* cd) {
  ARROW_ASSIGN_OR_RAISE(auto counts, CountCategories(ref_col, cur_col));
  cd->reference_ignored = counts.reference_ignored;
  cd->current_ignored = counts.current_ignored;
  for (int64_t x : counts.reference) cd->reference_count += x;
  for (int64_t x : counts.current) cd->current_count += x;
  if (Wants(o, "psi", true)) cd->psi = PsiFromCounts(counts.reference, counts.current, o.epsilon);
  if (Wants(o, "js", true)) cd->js = JsDivergenceFromCounts(counts.reference, counts.current);
  if (Wants(o, "chi2", true)) cd->chi2 = ChiSquareFromCounts(counts.reference, counts.current);
  return Status::OK();
}

void AddAlerts(const DriftOptions& o, ColumnDrift* cd) {
  if (cd->psi && *cd->psi > o.psi_threshold) cd->alerts.push_back({"psi", *cd->psi, o.psi_threshold});
  if (cd->ks && cd->ks->pvalue < o.ks_pvalue_threshold) {
    cd->alerts.push_back({"ks_pvalue", cd->ks->pvalue, o.ks_pvalue_threshold});
  }
  if (cd->js && *cd->js > o.js_threshold) cd->alerts.push_back({"js", *cd->js, o.js_threshold});
  if (cd->chi2 && o.chi2_pvalue_threshold && cd->chi2->dof > 0 && cd->chi2->pvalue < *o.chi2_pvalue_threshold) {
    cd->alerts.push_back({"chi2_pvalue", cd->chi2->pvalue, *o.chi2_pvalue_threshold});
  }
}

}  // namespace

Result<DriftReport> Drift(arrow::RecordBatchReader& reference, arrow::RecordBatchReader& current,
                          const DriftOptions& options) {
  ARROW_RETURN_NOT_OK(CheckMetrics(options));
  ARROW_ASSIGN_OR_RAISE(auto ref, reference.ToTable());
  ARROW_ASSIGN_OR_RAISE(auto cur, current.ToTable());
  const int threads = ResolveThreads(options.threads);
  DriftReport report;
  report.options = options;
  std::vector<std::string> names = options.columns;
  if (names.empty()) {
    for (const auto& f : ref->schema()->fields()) names.push_back(f->name());
    for (const auto& f : cur->schema()->fields()) {
      if (ref->schema()->GetFieldIndex(f->name()) < 0) names.push_back(f->name());
    }
  } else {
    for (const auto& n : names) {
      if (ref->schema()->GetFieldIndex(n) < 0 || cur->schema()->GetFieldIndex(n) < 0) {
        return Error(ErrorCode::kInvalidArgument, "drift: column '", n, "' is not in ",
                     ref->schema()->GetFieldIndex(n) < 0 ? "the reference" : "the current data");
      }
    }
  }
  for (const auto& name : names) {
    ColumnDrift cd;
    cd.name = name;
    auto rc = ref->GetColumnByName(name);
    auto cc = cur->GetColumnByName(name);
    if (!rc || !cc) {
      cd.skipped = rc ? "only in the reference" : "only in the current data";
      report.columns.push_back(std::move(cd));
      continue;
    }
    const Family rf = FamilyOf(*rc->type()), cf = FamilyOf(*cc->type());
    if (rf == Family::kOther || cf == Family::kOther) {
      cd.skipped = "unsupported type " + (rf == Family::kOther ? rc->type() : cc->type())->ToString();
    } else if (rf != cf) {
      cd.skipped = "types differ: " + rc->type()->ToString() + " in the reference, " + cc->type()->ToString() +
                   " in the current data";
    } else {
      cd.kind = rf == Family::kNumeric ? "numeric" : "categorical";
      Status st = rf == Family::kNumeric ? NumericDrift(*rc, *cc, options, threads, &cd)
                                         : CategoricalDrift(*rc, *cc, options, &cd);
      if (!st.ok()) {
        if (!HasCode(st, ErrorCode::kInvalidArgument) && !HasCode(st, ErrorCode::kSchemaMismatch)) {
          return WithContext(st, "drift of column '" + name + "'");
        }
        ColumnDrift empty;
        empty.name = name;
        empty.kind = cd.kind;
        empty.skipped = st.message();
        cd = std::move(empty);
      } else {
        AddAlerts(options, &cd);
      }
    }
    report.columns.push_back(std::move(cd));
  }
  return report;
}

namespace internal {

int SetSimdLevelForTesting(int level) {
  g_simd_limit = level;
  return static_cast<int>(BestIsa());
}

}  // namespace internal

}  // namespace strata::quality
