#include "strata/quality/profile.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>
#include <thread>

#include <arrow/array.h>
#include <arrow/compute/api.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>
#include <arrow/util/base64.h>
#include <arrow/util/bit_util.h>

#include "strata/common/json_writer.h"
#include "strata/exec/scan.h"
#include "strata/table/json_util.h"
#include "strata/table/log_segment.h"
#include "strata/table/snapshot.h"

namespace strata::quality {

namespace internal {

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

Status ParallelFor(int64_t num_tasks, int threads, const std::function<Status(int64_t, int)>& fn) {
  threads = static_cast<int>(std::min<int64_t>(std::max(threads, 1), std::max<int64_t>(num_tasks, 1)));
  if (threads <= 1) {
    for (int64_t i = 0; i < num_tasks; ++i) ARROW_RETURN_NOT_OK(fn(i, 0));
    return Status::OK();
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  auto work = [&](int thread) {
    while (!failed.load(std::memory_order_relaxed)) {
      const int64_t i = next.fetch_add(1);
      if (i >= num_tasks) break;
      Status st = fn(i, thread);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = std::move(st);
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& t : pool) t.join();
  return first;
}

}  // namespace internal

namespace {

using table::internal::Field;
using table::internal::JsonValue;

ColumnKind KindOf(const arrow::DataType& type) {
  using arrow::Type;
  switch (type.id()) {
    case Type::INT8:
    case Type::INT16:
    case Type::INT32:
    case Type::INT64:
    case Type::UINT8:
    case Type::UINT16:
    case Type::UINT32:
      return ColumnKind::kInteger;
    case Type::UINT64:
    case Type::HALF_FLOAT:
    case Type::FLOAT:
    case Type::DOUBLE:
      return ColumnKind::kFloat;
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256:
      return ColumnKind::kDecimal;
    case Type::DATE32:
    case Type::DATE64:
    case Type::TIMESTAMP:
    case Type::TIME32:
    case Type::TIME64:
    case Type::DURATION:
      return ColumnKind::kTemporal;
    case Type::BOOL:
      return ColumnKind::kBoolean;
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW:
      return ColumnKind::kString;
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY:
      return ColumnKind::kBinary;
    case Type::DICTIONARY:
      return KindOf(*static_cast<const arrow::DictionaryType&>(type).value_type());
    default:
      return ColumnKind::kOther;
  }
}

bool IsNumeric(ColumnKind k) {
  return k == ColumnKind::kInteger || k == ColumnKind::kFloat || k == ColumnKind::kDecimal ||
         k == ColumnKind::kTemporal;
}
bool HasTop(ColumnKind k) {
  return k == ColumnKind::kInteger || k == ColumnKind::kBoolean || k == ColumnKind::kString ||
         k == ColumnKind::kBinary;
}
bool IsBytes(ColumnKind k) { return k == ColumnKind::kString || k == ColumnKind::kBinary; }

/// The array in the physical form the updaters take: dictionaries decoded, decimals, float16 and
/// uint64 as float64, views as large string/binary, temporal values as their integers.
Result<std::shared_ptr<arrow::Array>> Normalize(const std::shared_ptr<arrow::Array>& array) {
  using arrow::Type;
  auto cast = [&](const std::shared_ptr<arrow::DataType>& to) -> Result<std::shared_ptr<arrow::Array>> {
    arrow::compute::CastOptions opts = arrow::compute::CastOptions::Unsafe(to);
    ARROW_ASSIGN_OR_RAISE(auto datum, arrow::compute::Cast(arrow::Datum(array), opts));
    return datum.make_array();
  };
  auto reinterpret = [&](const std::shared_ptr<arrow::DataType>& to) {
    auto data = array->data()->Copy();
    data->type = to;
    return arrow::MakeArray(data);
  };
  switch (array->type_id()) {
    case Type::DICTIONARY: {
      ARROW_ASSIGN_OR_RAISE(auto decoded,
                            cast(static_cast<const arrow::DictionaryType&>(*array->type()).value_type()));
      return Normalize(decoded);
    }
    case Type::UINT64:
    case Type::HALF_FLOAT:
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256:
      return cast(arrow::float64());
    case Type::STRING_VIEW:
      return cast(arrow::large_utf8());
    case Type::BINARY_VIEW:
      return cast(arrow::large_binary());
    case Type::DATE32:
    case Type::TIME32:
      return reinterpret(arrow::int32());
    case Type::DATE64:
    case Type::TIMESTAMP:
    case Type::TIME64:
    case Type::DURATION:
      return reinterpret(arrow::int64());
    default:
      return array;
  }
}

/// Keeps the smaller (want_min) or larger of `cur` and `v` (both of the same alternative, or cur
/// unset).
void Extend(ProfileValue& cur, const ProfileValue& v, bool want_min) {
  if (std::holds_alternative<std::monostate>(v)) return;
  if (std::holds_alternative<std::monostate>(cur)) {
    cur = v;
    return;
  }
  if (cur.index() != v.index()) return;
  if (want_min ? v < cur : cur < v) cur = v;
}

}  // namespace

const char* ColumnKindName(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::kInteger: return "integer";
    case ColumnKind::kFloat: return "float";
    case ColumnKind::kDecimal: return "decimal";
    case ColumnKind::kTemporal: return "temporal";
    case ColumnKind::kBoolean: return "boolean";
    case ColumnKind::kString: return "string";
    case ColumnKind::kBinary: return "binary";
    case ColumnKind::kOther: return "other";
  }
  return "other";
}

namespace {

std::optional<ColumnKind> ParseKind(std::string_view s) {
  for (auto k : {ColumnKind::kInteger, ColumnKind::kFloat, ColumnKind::kDecimal, ColumnKind::kTemporal,
                 ColumnKind::kBoolean, ColumnKind::kString, ColumnKind::kBinary, ColumnKind::kOther}) {
    if (s == ColumnKindName(k)) return k;
  }
  return std::nullopt;
}

uint64_t SeedFor(const ProfileOptions& options, std::string_view name) {
  return HashBytes(name) ^ options.seed;
}

}  // namespace

// =============================================================================================
// ColumnProfile
// =============================================================================================

ColumnProfile ColumnProfile::Make(std::string name, const arrow::DataType& type, const ProfileOptions& options) {
  ColumnProfile c;
  c.type_ = type.ToString();
  c.kind_ = KindOf(type);
  if (c.kind_ != ColumnKind::kOther) c.hll_.emplace(options.hll_precision);
  if (IsNumeric(c.kind_)) c.kll_.emplace(options.kll_k, SeedFor(options, name));
  if (HasTop(c.kind_)) c.top_.emplace(options.max_top_items);
  c.name_ = std::move(name);
  return c;
}

/// The per-type update loops (a friend, so they can reach the accumulators).
struct ColumnUpdater {
  /// Folds one batch's moments into the column's (Chan et al.).
  /// x - k as a double, without overflowing when the two are far apart.
  static double Diff(int64_t x, int64_t k) {
    int64_t d;
    if (__builtin_sub_overflow(x, k, &d)) return static_cast<double>(x) - static_cast<double>(k);
    return static_cast<double>(d);
  }

  /// Folds moments of n values (their mean minus `shift`, and m2) into the column's.
  static void AddMoments(ColumnProfile& c, int64_t n, double mean, double m2, int64_t shift) {
    if (n == 0) return;
    if (c.moment_n_ == 0) {
      c.moment_n_ = n;
      c.shift_ = shift;
      c.mean_ = mean;
      c.m2_ = m2;
      return;
    }
    mean += Diff(shift, c.shift_);
    const double na = static_cast<double>(c.moment_n_), nb = static_cast<double>(n);
    const double total = na + nb;
    const double delta = mean - c.mean_;
    c.mean_ += delta * nb / total;
    c.m2_ += m2 + delta * delta * na * nb / total;
    c.moment_n_ += n;
  }

  template <typename T, typename Fn>
  static void ForEachValid(const T* v, const uint8_t* valid, int64_t offset, int64_t n, Fn&& fn) {
    if (valid == nullptr) {
      for (int64_t i = 0; i < n; ++i) fn(v[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        if (arrow::bit_util::GetBit(valid, offset + i)) fn(v[i]);
      }
    }
  }

  template <typename T>
  static void Integers(ColumnProfile& c, const arrow::Array& a) {
    const T* v = a.data()->GetValues<T>(1);
    const uint8_t* valid = a.null_count() > 0 ? a.null_bitmap_data() : nullptr;
    const int64_t off = a.offset(), n = a.length();
    // Moments are of (x - shift): exact differences keep large integers (timestamps) precise.
    int64_t shift = c.shift_;
    if (c.moment_n_ == 0) {
      int64_t i = 0;
      while (i < n && valid != nullptr && !arrow::bit_util::GetBit(valid, off + i)) ++i;
      if (i == n) return;
      shift = static_cast<int64_t>(v[i]);
    }
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min(), cnt = 0;
    double sum = 0;
    auto& hll = *c.hll_;
    auto& kll = *c.kll_;
    FrequentItems* top = c.top_ ? &*c.top_ : nullptr;
    if (top != nullptr) {
      // A value the frequent-items table already holds was seen before: its hash and extremes
      // are already accounted for.
      ForEachValid(v, valid, off, n, [&](T raw) {
        const int64_t x = static_cast<int64_t>(raw);
        sum += Diff(x, shift);
        ++cnt;
        kll.Add(static_cast<double>(x));
        if (!top->Add(static_cast<uint64_t>(x))) {
          lo = std::min(lo, x);
          hi = std::max(hi, x);
          hll.Add(HashInt64(x));
        }
      });
    } else {
      ForEachValid(v, valid, off, n, [&](T raw) {
        const int64_t x = static_cast<int64_t>(raw);
        lo = std::min(lo, x);
        hi = std::max(hi, x);
        sum += Diff(x, shift);
        ++cnt;
        hll.Add(HashInt64(x));
        kll.Add(static_cast<double>(x));
      });
    }
    if (cnt == 0) return;
    const double mean = sum / static_cast<double>(cnt);
    double m2 = 0;
    ForEachValid(v, valid, off, n, [&](T raw) {
      const double d = Diff(static_cast<int64_t>(raw), shift) - mean;
      m2 += d * d;
    });
    AddMoments(c, cnt, mean, m2, shift);
    if (lo <= hi) {
      Extend(c.min_, ProfileValue(lo), true);
      Extend(c.max_, ProfileValue(hi), false);
    }
  }

  template <typename T>
  static void Floats(ColumnProfile& c, const arrow::Array& a) {
    const T* v = a.data()->GetValues<T>(1);
    const uint8_t* valid = a.null_count() > 0 ? a.null_bitmap_data() : nullptr;
    const int64_t off = a.offset(), n = a.length();
    double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
    int64_t cnt = 0, nans = 0;
    auto& hll = *c.hll_;
    auto& kll = *c.kll_;
    ForEachValid(v, valid, off, n, [&](T raw) {
      const double x = static_cast<double>(raw);
      if (x != x) {
        ++nans;
        return;
      }
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      sum += x;
      ++cnt;
      hll.Add(HashDouble(x));
      kll.Add(x);
    });
    c.nan_count_ += nans;
    if (cnt == 0) return;
    const double mean = sum / static_cast<double>(cnt);
    double m2 = 0;
    ForEachValid(v, valid, off, n, [&](T raw) {
      const double x = static_cast<double>(raw);
      if (x == x) m2 += (x - mean) * (x - mean);
    });
    AddMoments(c, cnt, mean, m2, 0);
    Extend(c.min_, ProfileValue(lo), true);
    Extend(c.max_, ProfileValue(hi), false);
  }

  static void Booleans(ColumnProfile& c, const arrow::Array& a) {
    const auto& b = static_cast<const arrow::BooleanArray&>(a);
    const int64_t valid = b.length() - b.null_count();
    const int64_t trues = b.true_count();
    const int64_t falses = valid - trues;
    if (valid == 0) return;
    if (trues > 0) {
      c.hll_->Add(HashInt64(1));
      c.top_->Add(1, trues, {});
    }
    if (falses > 0) {
      c.hll_->Add(HashInt64(0));
      c.top_->Add(0, falses, {});
    }
    const double mean = static_cast<double>(trues) / static_cast<double>(valid);
    const double m2 = trues * (1 - mean) * (1 - mean) + falses * mean * mean;
    AddMoments(c, valid, mean, m2, 0);
    Extend(c.min_, ProfileValue(falses == 0), true);
    Extend(c.max_, ProfileValue(trues > 0), false);
  }

  static void BytesValues(ColumnProfile& c, const arrow::Array& a, const std::function<std::string_view(int64_t)>& get) {
    // (generic path for fixed-size binary)
    const int64_t n = a.length();
    std::string_view lo, hi;
    bool any = false;
    for (int64_t i = 0; i < n; ++i) {
      if (a.IsNull(i)) continue;
      OneBytes(c, get(i), lo, hi, any);
    }
    FinishBytes(c, lo, hi, any);
  }

  static void OneBytes(ColumnProfile& c, std::string_view s, std::string_view& lo, std::string_view& hi, bool& any) {
    const int64_t len = static_cast<int64_t>(s.size());
    c.length_sum_ += len;
    const uint64_t h = HashBytes(s);
    if (c.top_->Add(h, s)) return;  // seen before: hash, extremes and length already counted
    if (!any) {
      lo = hi = s;
      any = true;
    } else {
      if (s < lo) lo = s;
      if (s > hi) hi = s;
    }
    c.length_min_ = std::min(c.length_min_, len);
    c.length_max_ = std::max(c.length_max_, len);
    c.hll_->Add(h);
  }

  static void FinishBytes(ColumnProfile& c, std::string_view lo, std::string_view hi, bool any) {
    if (!any) return;
    Extend(c.min_, ProfileValue(std::string(lo)), true);
    Extend(c.max_, ProfileValue(std::string(hi)), false);
  }

  template <typename Offset>
  static void Strings(ColumnProfile& c, const arrow::Array& a) {
    const Offset* offsets = a.data()->GetValues<Offset>(1);
    const char* data = reinterpret_cast<const char*>(a.data()->buffers[2] ? a.data()->buffers[2]->data() : nullptr);
    const uint8_t* valid = a.null_count() > 0 ? a.null_bitmap_data() : nullptr;
    const int64_t off = a.offset(), n = a.length();
    std::string_view lo, hi;
    bool any = false;
    for (int64_t i = 0; i < n; ++i) {
      if (valid != nullptr && !arrow::bit_util::GetBit(valid, off + i)) continue;
      std::string_view s(data + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i]));
      OneBytes(c, s, lo, hi, any);
    }
    FinishBytes(c, lo, hi, any);
  }
};

void ColumnProfile::AddNulls(int64_t rows) {
  count_ += rows;
  null_count_ += rows;
}

Status ColumnProfile::Update(const arrow::Array& values) {
  count_ += values.length();
  if (kind_ == ColumnKind::kOther) {
    null_count_ += values.type_id() == arrow::Type::NA ? values.length() : values.null_count();
    return Status::OK();
  }
  if (KindOf(*values.type()) != kind_) {
    count_ -= values.length();
    return Error(ErrorCode::kSchemaMismatch, "column '", name_, "' (", type_, ") cannot take values of type ",
                 values.type()->ToString());
  }
  if (values.type_id() == arrow::Type::NA) {
    null_count_ += values.length();
    return Status::OK();
  }
  auto arr = Normalize(arrow::MakeArray(values.data()));
  if (!arr.ok()) {
    count_ -= values.length();
    return WithContext(arr.status(), "profiling column '" + name_ + "'");
  }
  const arrow::Array& a = **arr;
  null_count_ += a.null_count();
  using arrow::Type;
  switch (a.type_id()) {
    case Type::INT8: ColumnUpdater::Integers<int8_t>(*this, a); break;
    case Type::INT16: ColumnUpdater::Integers<int16_t>(*this, a); break;
    case Type::INT32: ColumnUpdater::Integers<int32_t>(*this, a); break;
    case Type::INT64: ColumnUpdater::Integers<int64_t>(*this, a); break;
    case Type::UINT8: ColumnUpdater::Integers<uint8_t>(*this, a); break;
    case Type::UINT16: ColumnUpdater::Integers<uint16_t>(*this, a); break;
    case Type::UINT32: ColumnUpdater::Integers<uint32_t>(*this, a); break;
    case Type::FLOAT: ColumnUpdater::Floats<float>(*this, a); break;
    case Type::DOUBLE: ColumnUpdater::Floats<double>(*this, a); break;
    case Type::BOOL: ColumnUpdater::Booleans(*this, a); break;
    case Type::STRING:
    case Type::BINARY: ColumnUpdater::Strings<int32_t>(*this, a); break;
    case Type::LARGE_STRING:
    case Type::LARGE_BINARY: ColumnUpdater::Strings<int64_t>(*this, a); break;
    case Type::FIXED_SIZE_BINARY: {
      const auto& fb = static_cast<const arrow::FixedSizeBinaryArray&>(a);
      ColumnUpdater::BytesValues(*this, a, [&](int64_t i) {
        return std::string_view(reinterpret_cast<const char*>(fb.GetValue(i)), static_cast<size_t>(fb.byte_width()));
      });
      break;
    }
    default:
      return Error(ErrorCode::kUnsupportedFeature, "cannot profile column '", name_, "' of type ", type_);
  }
  return Status::OK();
}

Status ColumnProfile::Merge(const ColumnProfile& other) {
  if (other.kind_ != kind_) {
    return Error(ErrorCode::kSchemaMismatch, "cannot merge profiles of column '", name_, "': ", ColumnKindName(kind_),
                 " (", type_, ") and ", ColumnKindName(other.kind_), " (", other.type_, ")");
  }
  // Sketches first: they may refuse (different parameters) and must leave this unchanged then.
  std::optional<HyperLogLog> hll = hll_;
  std::optional<KllSketch> kll = kll_;
  std::optional<FrequentItems> top = top_;
  if (hll && other.hll_) ARROW_RETURN_NOT_OK(WithContext(hll->Merge(*other.hll_), "column '" + name_ + "'"));
  if (kll && other.kll_) ARROW_RETURN_NOT_OK(WithContext(kll->Merge(*other.kll_), "column '" + name_ + "'"));
  if (top && other.top_) ARROW_RETURN_NOT_OK(WithContext(top->Merge(*other.top_), "column '" + name_ + "'"));
  hll_ = std::move(hll);
  kll_ = std::move(kll);
  top_ = std::move(top);
  count_ += other.count_;
  null_count_ += other.null_count_;
  nan_count_ += other.nan_count_;
  Extend(min_, other.min_, true);
  Extend(max_, other.max_, false);
  ColumnUpdater::AddMoments(*this, other.moment_n_, other.mean_, other.m2_, other.shift_);
  length_min_ = std::min(length_min_, other.length_min_);
  length_max_ = std::max(length_max_, other.length_max_);
  length_sum_ += other.length_sum_;
  return Status::OK();
}

std::optional<double> ColumnProfile::distinct() const {
  if (!hll_) return std::nullopt;
  return hll_->Estimate();
}

bool ColumnProfile::distinct_exact() const { return hll_ && hll_->exact(); }

std::optional<double> ColumnProfile::mean() const {
  if (moment_n_ == 0) return std::nullopt;
  return static_cast<double>(shift_) + mean_;
}

std::optional<double> ColumnProfile::stdev() const {
  if (moment_n_ < 2) return std::nullopt;
  return std::sqrt(std::max(0.0, m2_) / static_cast<double>(moment_n_ - 1));
}

std::optional<int64_t> ColumnProfile::min_length() const {
  if (!IsBytes(kind_) || valid_count() == 0) return std::nullopt;
  return length_min_;
}
std::optional<int64_t> ColumnProfile::max_length() const {
  if (!IsBytes(kind_) || valid_count() == 0) return std::nullopt;
  return length_max_;
}
std::optional<double> ColumnProfile::mean_length() const {
  if (!IsBytes(kind_) || valid_count() == 0) return std::nullopt;
  return static_cast<double>(length_sum_) / static_cast<double>(valid_count());
}

std::optional<double> ColumnProfile::Quantile(double q) const {
  if (!kll_ || kll_->empty()) return std::nullopt;
  return kll_->Quantile(q);
}

std::vector<HistogramBin> ColumnProfile::Histogram(int bins) const {
  std::vector<HistogramBin> out;
  if (!kll_ || kll_->empty() || bins < 1) return out;
  const double lo = kll_->min(), hi = kll_->max();
  const int64_t n = kll_->n();
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) {
    out.push_back({lo, hi, n});
    return out;
  }
  std::vector<double> edges(bins + 1);
  for (int i = 0; i <= bins; ++i) edges[i] = i == bins ? hi : lo + (hi - lo) * i / bins;
  std::vector<double> inner(edges.begin() + 1, edges.end() - 1);
  auto below = kll_->FractionsBelow(inner);
  int64_t prev = 0;
  for (int i = 0; i < bins; ++i) {
    const int64_t cum = i + 1 == bins ? n : std::llround(below[i] * static_cast<double>(n));
    const int64_t c = std::max<int64_t>(0, cum - prev);
    out.push_back({edges[i], edges[i + 1], c});
    prev = std::max(prev, cum);
  }
  return out;
}

std::vector<TopValue> ColumnProfile::TopValues(size_t n) const {
  std::vector<TopValue> out;
  if (!top_) return out;
  for (auto& it : top_->Top(n)) {
    TopValue tv;
    tv.count = it.count;
    switch (kind_) {
      case ColumnKind::kBoolean: tv.value = it.key != 0; break;
      case ColumnKind::kInteger: tv.value = static_cast<int64_t>(it.key); break;
      default: tv.value = std::move(it.payload); break;
    }
    out.push_back(std::move(tv));
  }
  return out;
}

bool ColumnProfile::top_values_exact() const { return top_ && top_->exact(); }
int64_t ColumnProfile::top_values_max_error() const { return top_ ? top_->max_error() : 0; }

// =============================================================================================
// Profile
// =============================================================================================

Result<Profile> Profile::Make(const arrow::Schema& schema, const ProfileOptions& options) {
  Profile p;
  p.options_ = options;
  p.options_.columns.clear();
  if (options.columns.empty()) {
    for (const auto& f : schema.fields()) p.columns_.push_back(ColumnProfile::Make(f->name(), *f->type(), options));
  } else {
    for (const auto& name : options.columns) {
      auto f = schema.GetFieldByName(name);
      if (!f) {
        return Error(ErrorCode::kInvalidArgument, "cannot profile unknown column '", name, "' (columns: ",
                     schema.ToString(), ")");
      }
      p.columns_.push_back(ColumnProfile::Make(name, *f->type(), options));
    }
  }
  return p;
}

const ColumnProfile* Profile::column(std::string_view name) const {
  for (const auto& c : columns_) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

Status Profile::Update(const arrow::RecordBatch& batch) {
  const auto& schema = *batch.schema();
  for (auto& c : columns_) {
    const int i = schema.GetFieldIndex(c.name());
    if (i < 0) {
      c.AddNulls(batch.num_rows());
    } else {
      ARROW_RETURN_NOT_OK(c.Update(*batch.column(i)));
    }
  }
  num_rows_ += batch.num_rows();
  return Status::OK();
}

Status Profile::Merge(const Profile& other) {
  std::vector<ColumnProfile> merged = columns_;
  for (auto& c : merged) {
    const ColumnProfile* o = other.column(c.name());
    if (o != nullptr) {
      ARROW_RETURN_NOT_OK(c.Merge(*o));
    } else {
      c.AddNulls(other.num_rows_);
    }
  }
  for (const auto& o : other.columns_) {
    if (column(o.name()) == nullptr) {
      ColumnProfile c = o;
      c.AddNulls(num_rows_);
      merged.push_back(std::move(c));
    }
  }
  columns_ = std::move(merged);
  num_rows_ += other.num_rows_;
  return Status::OK();
}

Result<Profile> Profile::Select(const std::vector<std::string>& names) const {
  Profile p;
  p.options_ = options_;
  p.num_rows_ = num_rows_;
  p.table_version_ = table_version_;
  for (const auto& n : names) {
    const ColumnProfile* c = column(n);
    if (c == nullptr) return Error(ErrorCode::kInvalidArgument, "the profile has no column '", n, "'");
    p.columns_.push_back(*c);
  }
  return p;
}

// --- JSON -------------------------------------------------------------------------------------

namespace {

constexpr const char* kFormat = "strata.profile";
constexpr int kFormatVersion = 1;
const double kSummaryQuantiles[] = {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99};

void WriteValue(JsonWriter& w, const ProfileValue& v, ColumnKind kind) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          w.Null();
        } else if constexpr (std::is_same_v<T, bool>) {
          w.Bool(x);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          w.Int(x);
        } else if constexpr (std::is_same_v<T, double>) {
          w.Double(x);
        } else {
          w.String(kind == ColumnKind::kBinary ? arrow::util::base64_encode(x) : x);
        }
      },
      v);
}

void WriteOptional(JsonWriter& w, const std::optional<double>& v) {
  if (v) {
    w.Double(*v);
  } else {
    w.Null();
  }
}

Result<double> ReadDouble(const JsonValue& v, std::string_view what) {
  if (v.IsNumber()) return v.GetDouble();
  if (v.IsString()) {
    std::string_view s(v.GetString(), v.GetStringLength());
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return Error(ErrorCode::kInvalidArgument, "profile JSON: '", what, "' is not a number");
}

Result<int64_t> ReadInt(const JsonValue& obj, std::string_view key) {
  const JsonValue* f = Field(obj, key);
  if (f == nullptr || !f->IsInt64()) return Error(ErrorCode::kInvalidArgument, "profile JSON: missing integer '", key, "'");
  return f->GetInt64();
}

Result<ProfileValue> ReadValue(const JsonValue* v, ColumnKind kind, std::string_view what) {
  if (v == nullptr || v->IsNull()) return ProfileValue();
  switch (kind) {
    case ColumnKind::kInteger:
    case ColumnKind::kTemporal:
      if (!v->IsInt64()) break;
      return ProfileValue(v->GetInt64());
    case ColumnKind::kFloat:
    case ColumnKind::kDecimal: {
      ARROW_ASSIGN_OR_RAISE(double d, ReadDouble(*v, what));
      return ProfileValue(d);
    }
    case ColumnKind::kBoolean:
      if (!v->IsBool()) break;
      return ProfileValue(v->GetBool());
    case ColumnKind::kString:
      if (!v->IsString()) break;
      return ProfileValue(std::string(v->GetString(), v->GetStringLength()));
    case ColumnKind::kBinary: {
      if (!v->IsString()) break;
      ARROW_ASSIGN_OR_RAISE(auto bytes, arrow::util::base64_decode(std::string_view(v->GetString(), v->GetStringLength())));
      return ProfileValue(std::move(bytes));
    }
    case ColumnKind::kOther:
      break;
  }
  return Error(ErrorCode::kInvalidArgument, "profile JSON: '", what, "' has the wrong type");
}

Result<std::string> ReadBase64(const JsonValue& obj, std::string_view key) {
  const JsonValue* f = Field(obj, key);
  if (f == nullptr || !f->IsString()) return Error(ErrorCode::kInvalidArgument, "profile JSON: missing '", key, "'");
  return arrow::util::base64_decode(std::string_view(f->GetString(), f->GetStringLength()));
}

std::string FormatQuantile(double q) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", q);
  return buf;
}

}  // namespace

std::string Profile::ToJson(int histogram_bins, size_t top_values) const {
  JsonWriter w;
  w.BeginObject();
  w.Key("format").String(kFormat);
  w.Key("format_version").Int(kFormatVersion);
  w.Key("num_rows").Int(num_rows_);
  w.Key("table_version");
  if (table_version_) {
    w.Int(*table_version_);
  } else {
    w.Null();
  }
  w.Key("options").BeginObject();
  w.Key("hll_precision").Int(options_.hll_precision);
  w.Key("kll_k").Int(options_.kll_k);
  w.Key("max_top_items").Int(options_.max_top_items);
  w.EndObject();
  w.Key("columns").BeginArray();
  for (const auto& c : columns_) {
    w.BeginObject();
    w.Key("name").String(c.name());
    w.Key("type").String(c.type());
    w.Key("kind").String(ColumnKindName(c.kind()));
    w.Key("count").Int(c.count());
    w.Key("null_count").Int(c.null_count());
    w.Key("nan_count").Int(c.nan_count());
    w.Key("valid_count").Int(c.valid_count());
    w.Key("distinct");
    WriteOptional(w, c.distinct());
    w.Key("distinct_exact").Bool(c.distinct_exact());
    w.Key("min");
    WriteValue(w, c.min(), c.kind());
    w.Key("max");
    WriteValue(w, c.max(), c.kind());
    w.Key("mean");
    WriteOptional(w, c.mean());
    w.Key("stdev");
    WriteOptional(w, c.stdev());
    if (IsBytes(c.kind())) {
      w.Key("min_length");
      if (auto v = c.min_length()) w.Int(*v); else w.Null();
      w.Key("max_length");
      if (auto v = c.max_length()) w.Int(*v); else w.Null();
      w.Key("mean_length");
      WriteOptional(w, c.mean_length());
    }
    if (c.kll()) {
      w.Key("quantiles").BeginObject();
      if (!c.kll()->empty()) {
        for (double q : kSummaryQuantiles) {
          w.Key(FormatQuantile(q));
          w.Double(*c.Quantile(q));
        }
      }
      w.EndObject();
      w.Key("histogram").BeginArray();
      for (const auto& b : c.Histogram(histogram_bins)) {
        w.BeginArray().Double(b.lower).Double(b.upper).Int(b.count).EndArray();
      }
      w.EndArray();
    }
    if (c.top()) {
      w.Key("top_values").BeginArray();
      for (const auto& tv : c.TopValues(top_values)) {
        w.BeginArray();
        WriteValue(w, tv.value, c.kind());
        w.Int(tv.count).EndArray();
      }
      w.EndArray();
      w.Key("top_values_exact").Bool(c.top_values_exact());
      w.Key("top_values_max_error").Int(c.top_values_max_error());
    }
    // Everything needed to merge this profile later.
    w.Key("state").BeginObject();
    w.Key("moments").BeginArray().Int(c.moment_n_).Double(c.mean_).Double(c.m2_).Int(c.shift_).EndArray();
    if (IsBytes(c.kind())) {
      w.Key("lengths").BeginArray().Int(c.length_min_).Int(c.length_max_).Int(c.length_sum_).EndArray();
    }
    if (c.hll()) w.Key("hll").String(arrow::util::base64_encode(c.hll()->Serialize()));
    if (c.kll()) w.Key("kll").String(arrow::util::base64_encode(c.kll()->Serialize()));
    if (c.top()) w.Key("top").String(arrow::util::base64_encode(c.top()->Serialize()));
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Release();
}

Result<Profile> Profile::FromJson(std::string_view json) {
  table::internal::JsonDocument doc;
  std::string error;
  if (!table::internal::ParseJson(&doc, json, &error)) {
    return Error(ErrorCode::kInvalidArgument, "profile JSON does not parse: ", error);
  }
  auto fmt = table::internal::OptString(doc, "format");
  if (!fmt || *fmt != kFormat) {
    return Error(ErrorCode::kInvalidArgument, "not a strata profile (format is not '", kFormat, "')");
  }
  ARROW_ASSIGN_OR_RAISE(int64_t version, ReadInt(doc, "format_version"));
  if (version != kFormatVersion) {
    return Error(ErrorCode::kUnsupportedFeature, "profile format version ", version, " (this strata reads ",
                 kFormatVersion, ")");
  }
  Profile p;
  ARROW_ASSIGN_OR_RAISE(p.num_rows_, ReadInt(doc, "num_rows"));
  if (const JsonValue* tv = Field(doc, "table_version")) {
    if (!tv->IsInt64()) return Error(ErrorCode::kInvalidArgument, "profile JSON: bad table_version");
    p.table_version_ = tv->GetInt64();
  }
  const JsonValue* opts = Field(doc, "options");
  if (opts == nullptr) return Error(ErrorCode::kInvalidArgument, "profile JSON: missing 'options'");
  ARROW_ASSIGN_OR_RAISE(int64_t hp, ReadInt(*opts, "hll_precision"));
  ARROW_ASSIGN_OR_RAISE(int64_t kk, ReadInt(*opts, "kll_k"));
  ARROW_ASSIGN_OR_RAISE(int64_t mt, ReadInt(*opts, "max_top_items"));
  p.options_.hll_precision = static_cast<int>(hp);
  p.options_.kll_k = static_cast<int>(kk);
  p.options_.max_top_items = static_cast<int>(mt);
  const JsonValue* cols = Field(doc, "columns");
  if (cols == nullptr || !cols->IsArray()) return Error(ErrorCode::kInvalidArgument, "profile JSON: missing 'columns'");
  for (const auto& cj : cols->GetArray()) {
    ColumnProfile c;
    auto name = table::internal::OptString(cj, "name");
    auto type = table::internal::OptString(cj, "type");
    auto kind_name = table::internal::OptString(cj, "kind");
    auto kind = kind_name ? ParseKind(*kind_name) : std::nullopt;
    if (!name || !type || !kind) {
      return Error(ErrorCode::kInvalidArgument, "profile JSON: a column lacks name, type or kind");
    }
    c.name_ = *name;
    c.type_ = *type;
    c.kind_ = *kind;
    auto ctx = [&](const Status& st) { return WithContext(st, "profile JSON, column '" + c.name_ + "'"); };
    auto count = ReadInt(cj, "count");
    auto nulls = ReadInt(cj, "null_count");
    auto nans = ReadInt(cj, "nan_count");
    if (!count.ok() || !nulls.ok() || !nans.ok()) return ctx(Error(ErrorCode::kInvalidArgument, "bad counts"));
    c.count_ = *count;
    c.null_count_ = *nulls;
    c.nan_count_ = *nans;
    if (c.count_ < 0 || c.null_count_ < 0 || c.nan_count_ < 0 || c.null_count_ + c.nan_count_ > c.count_) {
      return ctx(Error(ErrorCode::kInvalidArgument, "inconsistent counts"));
    }
    auto mn = ReadValue(Field(cj, "min"), c.kind_, "min");
    auto mx = ReadValue(Field(cj, "max"), c.kind_, "max");
    if (!mn.ok()) return ctx(mn.status());
    if (!mx.ok()) return ctx(mx.status());
    c.min_ = *mn;
    c.max_ = *mx;
    const JsonValue* state = Field(cj, "state");
    if (state == nullptr) return ctx(Error(ErrorCode::kInvalidArgument, "missing 'state'"));
    const JsonValue* moments = Field(*state, "moments");
    if (moments == nullptr || !moments->IsArray() || moments->Size() != 4 || !(*moments)[0].IsInt64() ||
        !(*moments)[3].IsInt64()) {
      return ctx(Error(ErrorCode::kInvalidArgument, "bad 'moments'"));
    }
    c.moment_n_ = (*moments)[0].GetInt64();
    c.shift_ = (*moments)[3].GetInt64();
    auto mean = ReadDouble((*moments)[1], "moments");
    auto m2 = ReadDouble((*moments)[2], "moments");
    if (!mean.ok() || !m2.ok()) return ctx(Error(ErrorCode::kInvalidArgument, "bad 'moments'"));
    c.mean_ = *mean;
    c.m2_ = *m2;
    if (IsBytes(c.kind_)) {
      const JsonValue* lengths = Field(*state, "lengths");
      if (lengths == nullptr || !lengths->IsArray() || lengths->Size() != 3 || !(*lengths)[0].IsInt64() ||
          !(*lengths)[1].IsInt64() || !(*lengths)[2].IsInt64()) {
        return ctx(Error(ErrorCode::kInvalidArgument, "bad 'lengths'"));
      }
      c.length_min_ = (*lengths)[0].GetInt64();
      c.length_max_ = (*lengths)[1].GetInt64();
      c.length_sum_ = (*lengths)[2].GetInt64();
    }
    if (c.kind_ != ColumnKind::kOther) {
      auto bytes = ReadBase64(*state, "hll");
      if (!bytes.ok()) return ctx(bytes.status());
      auto hll = HyperLogLog::Deserialize(*bytes);
      if (!hll.ok()) return ctx(hll.status());
      if (hll->precision() != p.options_.hll_precision) {
        return ctx(Error(ErrorCode::kInvalidArgument, "HLL precision differs from the options"));
      }
      c.hll_ = std::move(*hll);
    }
    if (IsNumeric(c.kind_)) {
      auto bytes = ReadBase64(*state, "kll");
      if (!bytes.ok()) return ctx(bytes.status());
      auto kll = KllSketch::Deserialize(*bytes);
      if (!kll.ok()) return ctx(kll.status());
      if (kll->k() != p.options_.kll_k) {
        return ctx(Error(ErrorCode::kInvalidArgument, "KLL k differs from the options"));
      }
      if (kll->n() != c.count_ - c.null_count_ - c.nan_count_) {
        return ctx(Error(ErrorCode::kInvalidArgument, "the quantile sketch does not cover the valid values"));
      }
      c.kll_ = std::move(*kll);
    }
    if (HasTop(c.kind_)) {
      auto bytes = ReadBase64(*state, "top");
      if (!bytes.ok()) return ctx(bytes.status());
      auto top = FrequentItems::Deserialize(*bytes);
      if (!top.ok()) return ctx(top.status());
      if (top->max_items() != p.options_.max_top_items) {
        return ctx(Error(ErrorCode::kInvalidArgument, "top items differ from the options"));
      }
      c.top_ = std::move(*top);
    }
    p.columns_.push_back(std::move(c));
  }
  return p;
}

// =============================================================================================
// The parallel pass
// =============================================================================================

Result<Profile> ProfileStream(arrow::RecordBatchReader& reader, const ProfileOptions& options) {
  const int threads = internal::ResolveThreads(options.threads);
  std::vector<Profile> partial;
  for (int t = 0; t < threads; ++t) {
    ProfileOptions o = options;
    o.seed = options.seed + static_cast<uint64_t>(t) * 0x9e3779b97f4a7c15ULL;
    ARROW_ASSIGN_OR_RAISE(auto p, Profile::Make(*reader.schema(), o));
    partial.push_back(std::move(p));
  }
  const int64_t slice_rows = std::max<int64_t>(1, options.slice_rows);
  std::mutex mu;
  std::shared_ptr<arrow::RecordBatch> batch;
  int64_t offset = 0;
  bool done = false;
  auto next_slice = [&](std::shared_ptr<arrow::RecordBatch>* out) -> Status {
    std::lock_guard<std::mutex> lock(mu);
    while (!done) {
      if (batch && offset < batch->num_rows()) {
        const int64_t len = std::min(slice_rows, batch->num_rows() - offset);
        *out = offset == 0 && len == batch->num_rows() ? batch : batch->Slice(offset, len);
        offset += len;
        return Status::OK();
      }
      Status st = reader.ReadNext(&batch);
      offset = 0;
      if (!st.ok()) {
        done = true;
        return st;
      }
      if (!batch) done = true;
    }
    out->reset();
    return Status::OK();
  };
  ARROW_RETURN_NOT_OK(internal::ParallelFor(threads, threads, [&](int64_t, int thread) -> Status {
    std::shared_ptr<arrow::RecordBatch> slice;
    while (true) {
      ARROW_RETURN_NOT_OK(next_slice(&slice));
      if (!slice) return Status::OK();
      Status st = partial[thread].Update(*slice);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
        return st;
      }
    }
  }));
  Profile out = std::move(partial[0]);
  for (int t = 1; t < threads; ++t) ARROW_RETURN_NOT_OK(out.Merge(partial[t]));
  return out;
}

// =============================================================================================
// Table profiles
// =============================================================================================

const char* ProfileSourceName(ProfileSource source) {
  switch (source) {
    case ProfileSource::kStored: return "stored";
    case ProfileSource::kIncremental: return "incremental";
    case ProfileSource::kFull: return "full";
  }
  return "full";
}

std::string StoredProfilePath(int64_t version) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s/%020lld.json", kProfileDir, static_cast<long long>(version));
  return buf;
}

Result<std::vector<int64_t>> ListStoredProfiles(storage::ObjectStore& store) {
  ARROW_ASSIGN_OR_RAISE(auto entries, store.ListNames(kProfileDir));
  std::vector<int64_t> versions;
  for (const auto& e : entries) {
    std::string_view name = e.path;
    auto slash = name.rfind('/');
    if (slash != std::string_view::npos) name = name.substr(slash + 1);
    if (name.size() != 25 || name.substr(20) != ".json") continue;
    int64_t v = 0;
    bool digits = true;
    for (char ch : name.substr(0, 20)) {
      if (ch < '0' || ch > '9') digits = false;
      v = v * 10 + (ch - '0');
    }
    if (digits) versions.push_back(v);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

Result<std::optional<Profile>> ReadStoredProfile(storage::ObjectStore& store, int64_t version) {
  const std::string path = StoredProfilePath(version);
  auto buf = store.Read(path);
  if (!buf.ok()) {
    if (storage::IsNotFound(buf.status())) return std::optional<Profile>();
    return buf.status();
  }
  auto p = Profile::FromJson(std::string_view(reinterpret_cast<const char*>((*buf)->data()), (*buf)->size()));
  if (!p.ok()) return WithContext(p.status(), "reading " + path);
  return std::optional<Profile>(std::move(*p));
}

Status WriteStoredProfile(storage::ObjectStore& store, const Profile& profile) {
  if (!profile.table_version()) {
    return Error(ErrorCode::kInvalidArgument, "cannot store a profile that describes no table version");
  }
  return store.Write(StoredProfilePath(*profile.table_version()), profile.ToJson());
}

namespace {

bool SameSketches(const ProfileOptions& a, const ProfileOptions& b) {
  return a.hll_precision == b.hll_precision && a.kll_k == b.kll_k && a.max_top_items == b.max_top_items;
}

/// The files added by the commits after `base` up to `version` when those commits only add
/// files (blind appends); nullopt otherwise (or when the log no longer has every commit).
Result<std::optional<std::vector<table::AddFile>>> AppendedFiles(storage::ObjectStore& store, int64_t base,
                                                                 int64_t version) {
  using Files = std::optional<std::vector<table::AddFile>>;
  ARROW_ASSIGN_OR_RAISE(auto listing, table::ListLog(store, /*with_metadata=*/false));
  std::vector<table::LogFile> commits;
  for (const auto& c : listing.commits) {
    if (c.version > base && c.version <= version) commits.push_back(c);
  }
  if (static_cast<int64_t>(commits.size()) != version - base) return Files();
  ARROW_ASSIGN_OR_RAISE(auto parsed, table::ReadCommits(store, commits));
  std::vector<table::AddFile> adds;
  for (const auto& actions : parsed) {
    for (const auto& action : actions) {
      if (const auto* add = std::get_if<table::AddFile>(&action)) {
        if (!add->data_change || add->deletion_vector) return Files();
        adds.push_back(*add);
      } else if (!std::holds_alternative<table::CommitInfo>(action) && !std::holds_alternative<table::Txn>(action) &&
                 !std::holds_alternative<table::DomainMetadata>(action)) {
        return Files();  // remove, metaData, protocol, cdc: not a blind append
      }
    }
  }
  return Files(std::move(adds));
}

Result<Profile> ScanProfile(table::SnapshotPtr snap, const ProfileOptions& options) {
  exec::ScanOptions scan;
  scan.columns = options.columns;
  ARROW_ASSIGN_OR_RAISE(auto reader, exec::Scan(std::move(snap), scan));
  return ProfileStream(*reader, options);
}

}  // namespace

Result<TableProfile> ProfileTable(std::shared_ptr<storage::ObjectStore> store, std::optional<int64_t> version,
                                  const TableProfileOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(store, version));
  TableProfile out;
  out.version = snap->version();
  const auto& wanted = options.profile.columns;
  const bool whole_table = wanted.empty();

  if (options.use_stored) {
    auto stored = ReadStoredProfile(*store, out.version);
    if (stored.ok() && stored->has_value() && SameSketches((*stored)->options(), options.profile)) {
      out.source = ProfileSource::kStored;
      if (whole_table) {
        out.profile = std::move(**stored);
      } else {
        ARROW_ASSIGN_OR_RAISE(out.profile, (*stored)->Select(wanted));
      }
      return out;
    }
  }

  if (options.use_stored && whole_table) {
    ARROW_ASSIGN_OR_RAISE(auto versions, ListStoredProfiles(*store));
    auto it = std::lower_bound(versions.begin(), versions.end(), out.version);
    if (it != versions.begin()) {
      const int64_t base_version = *std::prev(it);
      auto base = ReadStoredProfile(*store, base_version);
      ARROW_ASSIGN_OR_RAISE(auto adds, AppendedFiles(*store, base_version, out.version));
      if (base.ok() && base->has_value() && adds && SameSketches((*base)->options(), options.profile)) {
        std::vector<table::Action> actions = {table::Action(snap->protocol()), table::Action(snap->metadata())};
        for (auto& a : *adds) actions.push_back(table::Action(std::move(a)));
        ARROW_ASSIGN_OR_RAISE(auto delta_snap,
                              table::Snapshot::FromActions(store, out.version, snap->timestamp_ms(), {std::move(actions)}));
        ARROW_ASSIGN_OR_RAISE(auto delta, ScanProfile(delta_snap, options.profile));
        Profile merged = std::move(**base);
        if (merged.Merge(delta).ok()) {
          out.profile = std::move(merged);
          out.source = ProfileSource::kIncremental;
          out.base_version = base_version;
          out.files_scanned = static_cast<int64_t>(delta_snap->files().size());
          out.rows_scanned = delta.num_rows();
        }
      }
    }
  }

  if (out.source != ProfileSource::kIncremental) {
    ARROW_ASSIGN_OR_RAISE(out.profile, ScanProfile(snap, options.profile));
    out.source = ProfileSource::kFull;
    out.files_scanned = static_cast<int64_t>(snap->files().size());
    out.rows_scanned = out.profile.num_rows();
  }
  out.profile.set_table_version(out.version);
  if (options.store && whole_table) {
    STRATA_RETURN_NOT_OK_CTX(WriteStoredProfile(*store, out.profile),
                             "storing the profile of version " + std::to_string(out.version));
  }
  return out;
}

}  // namespace strata::quality
