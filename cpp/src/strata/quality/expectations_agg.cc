// Aggregate and schema expectations: statistics of a column (moments, order statistics, null
// proportion, freshness) checked against ranges, and checks of the schema itself.
//
// Moments are computed per morsel in two cache-resident passes (sum/min/max, then the sum of
// squared deviations) and merged with Chan et al.'s parallel formula, so the variance stays
// accurate even for large means.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <arrow/api.h>
#include <arrow/util/bit_run_reader.h>

#include "strata/quality/expectations_internal.h"

namespace strata::quality::internal {
namespace {

/// A [min, max] check on a statistic.
struct Range {
  std::optional<double> min, max;
  bool strict_min = false, strict_max = false;
  bool Contains(double x) const {
    if (std::isnan(x)) return false;
    if (min && (strict_min ? !(x > *min) : !(x >= *min))) return false;
    if (max && (strict_max ? !(x < *max) : !(x <= *max))) return false;
    return true;
  }
};

/// The declared bounds of a range expectation; temporal bounds are parsed at bind time.
struct RangeSpec {
  Value min, max;
  bool strict_min = false, strict_max = false;

  Result<Range> Resolve(const arrow::DataType* type) const {
    Range r;
    r.strict_min = strict_min;
    r.strict_max = strict_max;
    for (int i = 0; i < 2; ++i) {
      const Value& v = i == 0 ? min : max;
      std::optional<double>& out = i == 0 ? r.min : r.max;
      if (v.is_null()) continue;
      if (v.is_number()) {
        out = v.as_double();
      } else if (type != nullptr) {
        ARROW_ASSIGN_OR_RAISE(auto b, ParseBound(v, *type, i == 0 ? "min" : "max"));
        out = static_cast<double>(*b);
      } else {
        return Status::Invalid(i == 0 ? "min" : "max", " must be a number");
      }
    }
    return r;
  }
};

Result<RangeSpec> ReadRangeSpec(Args* args, bool allow_text) {
  RangeSpec r;
  if (allow_text) {
    ARROW_ASSIGN_OR_RAISE(r.min, args->OptionalBound("min"));
    ARROW_ASSIGN_OR_RAISE(r.max, args->OptionalBound("max"));
  } else {
    ARROW_ASSIGN_OR_RAISE(auto lo, args->OptionalNumber("min"));
    ARROW_ASSIGN_OR_RAISE(auto hi, args->OptionalNumber("max"));
    const Value* vlo = args->Get("min");
    const Value* vhi = args->Get("max");
    if (lo) r.min = vlo->is_int() ? *vlo : Value::Double(*lo);
    if (hi) r.max = vhi->is_int() ? *vhi : Value::Double(*hi);
  }
  ARROW_ASSIGN_OR_RAISE(r.strict_min, args->OptionalBool("strict_min", false));
  ARROW_ASSIGN_OR_RAISE(r.strict_max, args->OptionalBool("strict_max", false));
  if (r.min.is_null() && r.max.is_null()) return args->Error("min", "needs min, max or both");
  return r;
}

/// An ISO-8601 (or plain) rendering of a physical value of `type`.
Value PhysicalToValue(const std::shared_ptr<arrow::DataType>& type, long double v) {
  if (!IsTemporal(*type)) {
    if (arrow::is_integer(type->id()) && v >= -9.2e18L && v <= 9.2e18L) return Value::Int(static_cast<int64_t>(v));
    return Value::Double(static_cast<double>(v));
  }
  std::shared_ptr<arrow::Buffer> buf;
  const bool narrow = type->id() == arrow::Type::DATE32 || type->id() == arrow::Type::TIME32;
  if (narrow) {
    int32_t x = static_cast<int32_t>(v);
    buf = arrow::Buffer::FromString(std::string(reinterpret_cast<const char*>(&x), 4));
  } else {
    int64_t x = static_cast<int64_t>(v);
    buf = arrow::Buffer::FromString(std::string(reinterpret_cast<const char*>(&x), 8));
  }
  auto arr = arrow::MakeArray(arrow::ArrayData::Make(type, 1, {nullptr, buf}, 0));
  auto s = arr->GetScalar(0);
  if (!s.ok()) return Value::Double(static_cast<double>(v));
  return ScalarToValue(**s);
}

// ---- moments -------------------------------------------------------------------------------

struct MomentsState : AccState {
  int64_t count = 0;  ///< non-null values, NaN included
  int64_t nan = 0;
  int64_t n = 0;      ///< non-NaN values
  double mean = 0, m2 = 0;
  __int128 isum = 0;
  double dsum = 0;
  bool has_minmax = false;
  long double min = 0, max = 0;

  void Absorb(int64_t n2, double mean2, double m22) {
    if (n2 == 0) return;
    if (n == 0) {
      n = n2;
      mean = mean2;
      m2 = m22;
      return;
    }
    const double total = static_cast<double>(n + n2);
    const double delta = mean2 - mean;
    mean += delta * static_cast<double>(n2) / total;
    m2 += m22 + delta * delta * static_cast<double>(n) * static_cast<double>(n2) / total;
    n += n2;
  }
  void AbsorbMinMax(long double lo, long double hi) {
    if (!has_minmax) {
      min = lo;
      max = hi;
      has_minmax = true;
    } else {
      min = std::min(min, lo);
      max = std::max(max, hi);
    }
  }
};

template <typename T>
class MomentsAcc : public Accumulator {
 public:
  explicit MomentsAcc(int col) : col_(col) {}
  std::unique_ptr<AccState> NewState() const override { return std::make_unique<MomentsState>(); }

  Status Update(AccState* s, const Morsel& m) const override {
    auto* st = static_cast<MomentsState*>(s);
    const auto& a = *m.batch->column(col_);
    const T* v = a.data()->GetValues<T>(1);
    // Pass 1: count, sum, min, max over the valid runs.
    int64_t k = 0, nan = 0;
    double dsum = 0;
    __int128 isum = 0;
    T lo = std::numeric_limits<T>::max(), hi = std::numeric_limits<T>::lowest();
    if constexpr (std::is_floating_point_v<T>) {
      lo = std::numeric_limits<T>::infinity();
      hi = -std::numeric_limits<T>::infinity();
    }
    auto pass1 = [&](int64_t pos, int64_t len) {
      if constexpr (std::is_floating_point_v<T>) {
        double s = 0;
        int64_t nn = 0;
        T l = lo, h = hi;
        for (int64_t i = pos; i < pos + len; ++i) {
          const T x = v[i];
          const bool is_nan = x != x;
          nn += is_nan;
          s += is_nan ? 0.0 : static_cast<double>(x);
          l = x < l ? x : l;
          h = x > h ? x : h;
        }
        dsum += s;
        nan += nn;
        lo = l;
        hi = h;
      } else if constexpr (sizeof(T) <= 4) {
        int64_t s = 0;
        T l = lo, h = hi;
        for (int64_t i = pos; i < pos + len; ++i) {
          const T x = v[i];
          s += x;
          l = x < l ? x : l;
          h = x > h ? x : h;
        }
        isum += s;
        lo = l;
        hi = h;
      } else {
        __int128 s = 0;
        T l = lo, h = hi;
        for (int64_t i = pos; i < pos + len; ++i) {
          const T x = v[i];
          s += x;
          l = x < l ? x : l;
          h = x > h ? x : h;
        }
        isum += s;
        lo = l;
        hi = h;
      }
      k += len;
    };
    const bool nulls = a.null_count() > 0;
    if (!nulls) {
      pass1(0, a.length());
    } else {
      arrow::internal::VisitSetBitRunsVoid(a.null_bitmap_data(), a.offset(), a.length(), pass1);
    }
    if (k == 0) return Status::OK();
    st->count += k;
    st->nan += nan;
    const int64_t good = k - nan;
    if (good == 0) return Status::OK();
    double mean;
    if constexpr (std::is_floating_point_v<T>) {
      st->dsum += dsum;
      mean = dsum / static_cast<double>(good);
    } else {
      st->isum += isum;
      mean = static_cast<double>(static_cast<long double>(isum) / good);
    }
    // Pass 2: squared deviations from the morsel's mean (NaN rows contribute nothing).
    double m2 = 0;
    auto pass2 = [&](int64_t pos, int64_t len) {
      double acc = 0;
      for (int64_t i = pos; i < pos + len; ++i) {
        const double d = static_cast<double>(v[i]) - mean;
        if constexpr (std::is_floating_point_v<T>) {
          acc += d == d ? d * d : 0.0;
        } else {
          acc += d * d;
        }
      }
      m2 += acc;
    };
    if (!nulls) {
      pass2(0, a.length());
    } else {
      arrow::internal::VisitSetBitRunsVoid(a.null_bitmap_data(), a.offset(), a.length(), pass2);
    }
    st->Absorb(good, mean, m2);
    st->AbsorbMinMax(static_cast<long double>(lo), static_cast<long double>(hi));
    return Status::OK();
  }

  void Merge(AccState* into, std::unique_ptr<AccState> from) const override {
    auto* a = static_cast<MomentsState*>(into);
    auto* b = static_cast<MomentsState*>(from.get());
    a->count += b->count;
    a->nan += b->nan;
    a->isum += b->isum;
    a->dsum += b->dsum;
    a->Absorb(b->n, b->mean, b->m2);
    if (b->has_minmax) a->AbsorbMinMax(b->min, b->max);
  }

 private:
  int col_;
};

Result<int> MomentsFor(BindContext* ctx, const std::string& column, const std::string& what) {
  ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
  const auto& type = *ctx->schema->field(col)->type();
  if (!IsNumericLike(type)) {
    return Status::Invalid("column '", column, "' is ", TypeName(type), ": ", what, " needs a numeric column");
  }
  return ctx->AddAccumulator("moments:" + std::to_string(col), [&]() -> Result<std::shared_ptr<Accumulator>> {
    std::shared_ptr<Accumulator> acc;
    ARROW_RETURN_NOT_OK(VisitPhysical(type, [&](auto tag) -> Status {
      acc = std::make_shared<MomentsAcc<decltype(tag)>>(col);
      return Status::OK();
    }));
    return acc;
  });
}

enum class Stat { kMean, kStdev, kSum, kMin, kMax };

class MomentBound : public BoundExpectation {
 public:
  MomentBound(int acc, Stat stat, Range range, std::shared_ptr<arrow::DataType> type)
      : acc_(acc), stat_(stat), range_(range), type_(std::move(type)) {}
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    auto* st = static_cast<MomentsState*>(ctx.states[acc_]);
    const bool floating = arrow::is_floating(type_->id());
    const double nan = std::numeric_limits<double>::quiet_NaN();
    out->success = false;
    if (st->count == 0) return Status::OK();  // no values: undefined, fails
    double x = 0;
    switch (stat_) {
      case Stat::kMean:
        x = st->nan > 0 ? nan
                        : (floating ? st->dsum / static_cast<double>(st->n)
                                    : static_cast<double>(static_cast<long double>(st->isum) / st->n));
        out->observed_value = Value::Double(x);
        break;
      case Stat::kStdev:
        if (st->count < 2) return Status::OK();
        x = st->nan > 0 ? nan : std::sqrt(std::max(0.0, st->m2 / static_cast<double>(st->n - 1)));
        out->observed_value = Value::Double(x);
        break;
      case Stat::kSum:
        if (floating || IsTemporal(*type_)) {
          x = st->nan > 0 ? nan : st->dsum;
          if (!floating) x = static_cast<double>(st->isum);
          out->observed_value = Value::Double(x);
        } else {
          x = static_cast<double>(st->isum);
          const __int128 lim = std::numeric_limits<int64_t>::max();
          out->observed_value = st->isum <= lim && st->isum >= -lim ? Value::Int(static_cast<int64_t>(st->isum)) : Value::Double(x);
        }
        break;
      case Stat::kMin:
      case Stat::kMax: {
        if (st->nan > 0) {
          x = nan;
          out->observed_value = Value::Double(x);
          break;
        }
        if (!st->has_minmax) return Status::OK();
        long double v = stat_ == Stat::kMin ? st->min : st->max;
        x = static_cast<double>(v);
        out->observed_value = floating ? Value::Double(x) : PhysicalToValue(type_, v);
        break;
      }
    }
    out->success = range_.Contains(x);
    return Status::OK();
  }

 private:
  int acc_;
  Stat stat_;
  Range range_;
  std::shared_ptr<arrow::DataType> type_;
};

class MomentExpectation : public Expectation {
 public:
  Stat stat = Stat::kMean;
  RangeSpec range;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int acc, MomentsFor(ctx, column, spec.type));
    auto type = ctx->schema->field(*ctx->Column(column))->type();
    bool temporal_bounds = stat == Stat::kMin || stat == Stat::kMax;
    ARROW_ASSIGN_OR_RAISE(auto r, range.Resolve(temporal_bounds ? type.get() : nullptr));
    return std::make_unique<MomentBound>(acc, stat, r, type);
  }
};

// ---- median / quantiles --------------------------------------------------------------------

struct SortedState : AccState {
  std::vector<double> values;  ///< non-null, non-NaN values
  int64_t nan = 0;
};

template <typename T>
class SortedAcc : public Accumulator {
 public:
  explicit SortedAcc(int col) : col_(col) {}
  std::unique_ptr<AccState> NewState() const override { return std::make_unique<SortedState>(); }
  Status Update(AccState* s, const Morsel& m) const override {
    auto* st = static_cast<SortedState*>(s);
    const auto& a = *m.batch->column(col_);
    const T* v = a.data()->GetValues<T>(1);
    auto add = [&](int64_t pos, int64_t len) {
      for (int64_t i = pos; i < pos + len; ++i) {
        const double x = static_cast<double>(v[i]);
        if (x != x) {
          ++st->nan;
        } else {
          st->values.push_back(x);
        }
      }
    };
    if (a.null_count() == 0) {
      add(0, a.length());
    } else {
      arrow::internal::VisitSetBitRunsVoid(a.null_bitmap_data(), a.offset(), a.length(), add);
    }
    return Status::OK();
  }
  void Merge(AccState* into, std::unique_ptr<AccState> from) const override {
    auto* a = static_cast<SortedState*>(into);
    auto* b = static_cast<SortedState*>(from.get());
    a->nan += b->nan;
    a->values.insert(a->values.end(), b->values.begin(), b->values.end());
  }

 private:
  int col_;
};

/// numpy's default ("linear") quantile of the values; reorders them.
double Quantile(std::vector<double>* v, double q) {
  const size_t n = v->size();
  const double pos = q * static_cast<double>(n - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(lo);
  std::nth_element(v->begin(), v->begin() + static_cast<std::ptrdiff_t>(lo), v->end());
  const double a = (*v)[lo];
  if (frac == 0 || lo + 1 >= n) return a;
  const double b = *std::min_element(v->begin() + static_cast<std::ptrdiff_t>(lo) + 1, v->end());
  return a + (b - a) * frac;
}

class QuantileBound : public BoundExpectation {
 public:
  QuantileBound(int acc, std::vector<double> qs, std::vector<Range> ranges, bool median)
      : acc_(acc), qs_(std::move(qs)), ranges_(std::move(ranges)), median_(median) {}
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    auto* st = static_cast<SortedState*>(ctx.states[acc_]);
    out->success = false;
    if (st->values.empty() && st->nan == 0) return Status::OK();
    Value::List values;
    bool ok = true;
    for (size_t i = 0; i < qs_.size(); ++i) {
      double x = st->nan > 0 ? std::numeric_limits<double>::quiet_NaN() : Quantile(&st->values, qs_[i]);
      values.push_back(Value::Double(x));
      ok &= ranges_[i].Contains(x);
    }
    out->success = ok;
    if (median_) {
      out->observed_value = values[0];
    } else {
      Value::List qv;
      for (double q : qs_) qv.push_back(Value::Double(q));
      out->observed_value = Value::MakeMap({{"quantiles", Value::MakeList(std::move(qv))}, {"values", Value::MakeList(std::move(values))}});
    }
    return Status::OK();
  }

 private:
  int acc_;
  std::vector<double> qs_;
  std::vector<Range> ranges_;
  bool median_;
};

class QuantileExpectation : public Expectation {
 public:
  std::vector<double> qs;
  std::vector<Range> ranges;
  bool median = false;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    const auto& type = *ctx->schema->field(col)->type();
    if (!IsNumericLike(type)) {
      return Status::Invalid("column '", column, "' is ", TypeName(type), ": ", spec.type, " needs a numeric column");
    }
    ARROW_ASSIGN_OR_RAISE(int acc, ctx->AddAccumulator("sorted:" + std::to_string(col), [&]() -> Result<std::shared_ptr<Accumulator>> {
      std::shared_ptr<Accumulator> a;
      ARROW_RETURN_NOT_OK(VisitPhysical(type, [&](auto tag) -> Status {
        a = std::make_shared<SortedAcc<decltype(tag)>>(col);
        return Status::OK();
      }));
      return a;
    }));
    return std::make_unique<QuantileBound>(acc, qs, ranges, median);
  }
};

// ---- null_proportion_between ---------------------------------------------------------------

struct NullState : AccState {
  int64_t rows = 0, nulls = 0;
};

class NullCountAcc : public Accumulator {
 public:
  explicit NullCountAcc(int col) : col_(col) {}
  std::unique_ptr<AccState> NewState() const override { return std::make_unique<NullState>(); }
  Status Update(AccState* s, const Morsel& m) const override {
    auto* st = static_cast<NullState*>(s);
    const auto& a = *m.batch->column(col_);
    st->rows += a.length();
    st->nulls += a.null_count();
    return Status::OK();
  }
  void Merge(AccState* into, std::unique_ptr<AccState> from) const override {
    auto* a = static_cast<NullState*>(into);
    auto* b = static_cast<NullState*>(from.get());
    a->rows += b->rows;
    a->nulls += b->nulls;
  }

 private:
  int col_;
};

class NullProportionBound : public BoundExpectation {
 public:
  NullProportionBound(int acc, Range range) : acc_(acc), range_(range) {}
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    auto* st = static_cast<NullState*>(ctx.states[acc_]);
    out->success = false;
    if (st->rows == 0) return Status::OK();
    double p = static_cast<double>(st->nulls) / static_cast<double>(st->rows);
    out->observed_value = Value::Double(p);
    out->success = range_.Contains(p);
    return Status::OK();
  }

 private:
  int acc_;
  Range range_;
};

class NullProportionExpectation : public Expectation {
 public:
  RangeSpec range;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    ARROW_ASSIGN_OR_RAISE(int acc, ctx->AddAccumulator("nulls:" + std::to_string(col), [&]() -> Result<std::shared_ptr<Accumulator>> {
      return std::make_shared<NullCountAcc>(col);
    }));
    ARROW_ASSIGN_OR_RAISE(auto r, range.Resolve(nullptr));
    return std::make_unique<NullProportionBound>(acc, r);
  }
};

// ---- freshness -----------------------------------------------------------------------------

/// "90s", "15m", "2h", "1d", "1w", "1h30m" (a plain number is seconds) in microseconds.
Result<int64_t> ParseDuration(const std::string& text) {
  if (text.empty()) return Status::Invalid("empty duration");
  long double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    if (j == i) return Status::Invalid("'", text, "' is not a duration (e.g. 30s, 15m, 2h, 1d)");
    long double n = std::strtold(text.substr(i, j - i).c_str(), nullptr);
    size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    std::string unit = text.substr(j, k - j);
    long double mult;
    if (unit.empty() || unit == "s") mult = 1;
    else if (unit == "ms") mult = 1e-3L;
    else if (unit == "m" || unit == "min") mult = 60;
    else if (unit == "h") mult = 3600;
    else if (unit == "d") mult = 86400;
    else if (unit == "w") mult = 7 * 86400;
    else return Status::Invalid("'", text, "': unknown unit '", unit, "' (use s, m, h, d or w)");
    total += n * mult;
    any = true;
    i = k;
    while (i < text.size() && text[i] == ' ') ++i;
  }
  if (!any) return Status::Invalid("'", text, "' is not a duration");
  return static_cast<int64_t>(total * 1e6L);
}

/// Microseconds since the epoch of a physical temporal value.
long double ToMicros(const arrow::DataType& type, long double v) {
  switch (type.id()) {
    case arrow::Type::DATE32: return v * 86400.0L * 1e6L;
    case arrow::Type::DATE64: return v * 1e3L;
    case arrow::Type::TIMESTAMP:
      switch (static_cast<const arrow::TimestampType&>(type).unit()) {
        case arrow::TimeUnit::SECOND: return v * 1e6L;
        case arrow::TimeUnit::MILLI: return v * 1e3L;
        case arrow::TimeUnit::MICRO: return v;
        case arrow::TimeUnit::NANO: return v / 1e3L;
      }
      return v;
    default:
      return v;
  }
}

class FreshnessBound : public BoundExpectation {
 public:
  FreshnessBound(int acc, int64_t max_age_us, std::shared_ptr<arrow::DataType> type)
      : acc_(acc), max_age_us_(max_age_us), type_(std::move(type)) {}
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    auto* st = static_cast<MomentsState*>(ctx.states[acc_]);
    out->success = false;
    if (!st->has_minmax) return Status::OK();
    long double newest = ToMicros(*type_, st->max);
    long double age = static_cast<long double>(ctx.now_us) - newest;
    out->observed_value = Value::MakeMap({{"max", PhysicalToValue(type_, st->max)},
                                          {"age_seconds", Value::Double(static_cast<double>(age / 1e6L))}});
    out->success = age <= static_cast<long double>(max_age_us_);
    return Status::OK();
  }

 private:
  int acc_;
  int64_t max_age_us_;
  std::shared_ptr<arrow::DataType> type_;
};

class FreshnessExpectation : public Expectation {
 public:
  int64_t max_age_us = 0;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    auto type = ctx->schema->field(col)->type();
    if (type->id() != arrow::Type::TIMESTAMP && type->id() != arrow::Type::DATE32 && type->id() != arrow::Type::DATE64) {
      return Status::Invalid("column '", column, "' is ", TypeName(*type), ": freshness needs a timestamp or date column");
    }
    ARROW_ASSIGN_OR_RAISE(int acc, MomentsFor(ctx, column, "freshness"));
    return std::make_unique<FreshnessBound>(acc, max_age_us, type);
  }
};

// ---- row count and schema ------------------------------------------------------------------

/// A result known at bind time (schema checks).
class FixedBound : public BoundExpectation {
 public:
  FixedBound(bool success, Value observed) : success_(success), observed_(std::move(observed)) {}
  Status Finish(const FinishContext&, ExpectationResult* out) const override {
    out->success = success_;
    out->observed_value = observed_;
    return Status::OK();
  }

 private:
  bool success_;
  Value observed_;
};

class RowCountBound : public BoundExpectation {
 public:
  explicit RowCountBound(Range range) : range_(range) {}
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    out->observed_value = Value::Int(ctx.row_count);
    out->success = range_.Contains(static_cast<double>(ctx.row_count));
    return Status::OK();
  }

 private:
  Range range_;
};

class RowCountExpectation : public Expectation {
 public:
  RangeSpec range;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext*) const override {
    ARROW_ASSIGN_OR_RAISE(auto r, range.Resolve(nullptr));
    return std::make_unique<RowCountBound>(r);
  }
};

class ColumnCountExpectation : public Expectation {
 public:
  RangeSpec range;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(auto r, range.Resolve(nullptr));
    int n = ctx->full_schema->num_fields();
    return std::make_unique<FixedBound>(r.Contains(n), Value::Int(n));
  }
};

bool Matches(const std::string& declared, const arrow::DataType& actual) {
  if (TypeMatches(declared, actual)) return true;
  if (actual.id() == arrow::Type::DICTIONARY) {
    return TypeMatches(declared, *static_cast<const arrow::DictionaryType&>(actual).value_type());
  }
  return false;
}

class SchemaEqualsExpectation : public Expectation {
 public:
  std::vector<std::pair<std::string, std::optional<std::string>>> expected;  // name, type
  bool ordered = false;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    const auto& schema = *ctx->full_schema;
    Value::Map observed;
    for (const auto& f : schema.fields()) observed.emplace_back(f->name(), Value::String(TypeName(*f->type())));
    bool ok = schema.num_fields() == static_cast<int>(expected.size());
    for (size_t i = 0; ok && i < expected.size(); ++i) {
      const auto& [name, type] = expected[i];
      int idx = schema.GetFieldIndex(name);
      if (idx < 0 || (ordered && idx != static_cast<int>(i))) {
        ok = false;
        break;
      }
      if (type && !Matches(*type, *schema.field(idx)->type())) ok = false;
    }
    return std::make_unique<FixedBound>(ok, Value::MakeMap(std::move(observed)));
  }
};

class ColumnExistsExpectation : public Expectation {
 public:
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    int idx = ctx->full_schema->GetFieldIndex(column);
    return std::make_unique<FixedBound>(idx >= 0, Value::Bool(idx >= 0));
  }
};

class ValuesOfTypeExpectation : public Expectation {
 public:
  std::vector<std::string> types;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    int idx = ctx->full_schema->GetFieldIndex(column);
    if (idx < 0) ARROW_RETURN_NOT_OK(ctx->Column(column).status());
    const auto& type = *ctx->full_schema->field(idx)->type();
    bool ok = false;
    for (const auto& t : types) ok |= Matches(t, type);
    return std::make_unique<FixedBound>(ok, Value::String(TypeName(type)));
  }
};

}  // namespace

Result<std::shared_ptr<Expectation>> CompileAggregate(const ExpectationSpec& spec, Args* args) {
  const std::string& t = spec.type;
  auto with_column = [&](std::shared_ptr<Expectation> e) -> Result<std::shared_ptr<Expectation>> {
    ARROW_ASSIGN_OR_RAISE(e->column, args->RequiredString("column"));
    e->columns = {e->column};
    return e;
  };
  if (t == "row_count_between") {
    auto e = std::make_shared<RowCountExpectation>();
    ARROW_ASSIGN_OR_RAISE(e->range, ReadRangeSpec(args, false));
    return e;
  }
  if (t == "column_count_between") {
    auto e = std::make_shared<ColumnCountExpectation>();
    ARROW_ASSIGN_OR_RAISE(e->range, ReadRangeSpec(args, false));
    return e;
  }
  if (t == "schema_equals") {
    auto e = std::make_shared<SchemaEqualsExpectation>();
    const Value* cols = args->Get("columns");
    if (cols == nullptr) return args->Error("columns", "is required");
    if (cols->is_map()) {
      for (const auto& [name, type] : cols->as_map()) {
        if (!type.is_string() && !type.is_null()) return args->Error("columns", "the type of '" + name + "' must be a string");
        e->expected.emplace_back(name, type.is_string() ? std::optional<std::string>(type.as_string()) : std::nullopt);
      }
    } else if (cols->is_list()) {
      for (const auto& item : cols->as_list()) {
        if (item.is_string()) {
          e->expected.emplace_back(item.as_string(), std::nullopt);
        } else if (item.is_map() && item.Find("name") && item.Find("name")->is_string()) {
          const Value* ty = item.Find("type");
          if (ty != nullptr && !ty->is_string()) return args->Error("columns", "a column's type must be a string");
          e->expected.emplace_back(item.Find("name")->as_string(),
                                   ty ? std::optional<std::string>(ty->as_string()) : std::nullopt);
        } else {
          return args->Error("columns", "expected column names or {name, type} maps, got " + item.ToString());
        }
      }
    } else {
      return args->Error("columns", std::string("expected a map of name: type, got ") + Value::KindName(cols->kind()));
    }
    ARROW_ASSIGN_OR_RAISE(e->ordered, args->OptionalBool("ordered", false));
    return e;
  }
  if (t == "column_exists") return with_column(std::make_shared<ColumnExistsExpectation>());
  if (t == "values_of_type") {
    auto e = std::make_shared<ValuesOfTypeExpectation>();
    ARROW_RETURN_NOT_OK(with_column(e).status());
    const Value* v = args->Get("value_type");
    if (v == nullptr) return args->Error("value_type", "is required");
    if (v->is_string()) {
      e->types = {v->as_string()};
    } else if (v->is_list()) {
      for (const auto& x : v->as_list()) {
        if (!x.is_string()) return args->Error("value_type", "expected type names, got " + v->ToString());
        e->types.push_back(x.as_string());
      }
    } else {
      return args->Error("value_type", "expected a type name such as int64 or string");
    }
    return e;
  }
  static const std::map<std::string, Stat> kStats = {{"mean_between", Stat::kMean}, {"stdev_between", Stat::kStdev},
                                                     {"sum_between", Stat::kSum},   {"min_between", Stat::kMin},
                                                     {"max_between", Stat::kMax}};
  if (auto it = kStats.find(t); it != kStats.end()) {
    auto e = std::make_shared<MomentExpectation>();
    ARROW_RETURN_NOT_OK(with_column(e).status());
    e->stat = it->second;
    ARROW_ASSIGN_OR_RAISE(e->range, ReadRangeSpec(args, e->stat == Stat::kMin || e->stat == Stat::kMax));
    return e;
  }
  if (t == "median_between") {
    auto e = std::make_shared<QuantileExpectation>();
    ARROW_RETURN_NOT_OK(with_column(e).status());
    ARROW_ASSIGN_OR_RAISE(auto rs, ReadRangeSpec(args, false));
    ARROW_ASSIGN_OR_RAISE(auto r, rs.Resolve(nullptr));
    e->qs = {0.5};
    e->ranges = {r};
    e->median = true;
    return e;
  }
  if (t == "quantiles_between") {
    auto e = std::make_shared<QuantileExpectation>();
    ARROW_RETURN_NOT_OK(with_column(e).status());
    ARROW_ASSIGN_OR_RAISE(auto qs, args->RequiredList("quantiles"));
    ARROW_ASSIGN_OR_RAISE(auto ranges, args->RequiredList("ranges"));
    for (const auto& q : qs.as_list()) {
      if (!q.is_number() || !(q.as_double() >= 0 && q.as_double() <= 1)) {
        return args->Error("quantiles", "expected numbers between 0 and 1, got " + qs.ToString());
      }
      e->qs.push_back(q.as_double());
    }
    if (e->qs.empty()) return args->Error("quantiles", "must not be empty");
    if (ranges.as_list().size() != e->qs.size()) {
      return args->Error("ranges", "needs one [min, max] per quantile (" + std::to_string(e->qs.size()) + "), got " +
                                       std::to_string(ranges.as_list().size()));
    }
    for (const auto& r : ranges.as_list()) {
      const auto& pair = r.as_list();
      if (!r.is_list() || pair.size() != 2 || !(pair[0].is_null() || pair[0].is_number()) ||
          !(pair[1].is_null() || pair[1].is_number())) {
        return args->Error("ranges", "each range must be [min, max] (numbers or null), got " + r.ToString());
      }
      Range range;
      if (!pair[0].is_null()) range.min = pair[0].as_double();
      if (!pair[1].is_null()) range.max = pair[1].as_double();
      e->ranges.push_back(range);
    }
    return e;
  }
  if (t == "null_proportion_between") {
    auto e = std::make_shared<NullProportionExpectation>();
    ARROW_RETURN_NOT_OK(with_column(e).status());
    ARROW_ASSIGN_OR_RAISE(e->range, ReadRangeSpec(args, false));
    return e;
  }
  if (t == "freshness") {
    auto e = std::make_shared<FreshnessExpectation>();
    ARROW_RETURN_NOT_OK(with_column(e).status());
    const Value* v = args->Get("max_age");
    if (v == nullptr) return args->Error("max_age", "is required");
    if (v->is_number()) {
      e->max_age_us = static_cast<int64_t>(v->as_double() * 1e6);
    } else if (v->is_string()) {
      auto d = ParseDuration(v->as_string());
      if (!d.ok()) return args->Error("max_age", d.status().message());
      e->max_age_us = *d;
    } else {
      return args->Error("max_age", "expected a duration such as 2h");
    }
    return e;
  }
  return Status::Invalid("not an aggregate expectation: ", t);
}

}  // namespace strata::quality::internal
