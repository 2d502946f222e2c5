// Row-level expectations: a predicate per row, counted per morsel into per-thread states.
// Hand-written loops for ranges, lengths, sums and order; Arrow kernels for set membership,
// regular expressions, comparisons of two columns and SQL expressions.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <strings.h>
#include <limits>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/bitmap_ops.h>
#include <arrow/util/utf8.h>

#include "strata/expr/expr.h"
#include "strata/quality/expectations_internal.h"
#include "strata/quality/regex_match.h"

namespace strata::quality::internal {

int64_t ApplyValidity(const arrow::Array& array, uint8_t* fail) {
  const int64_t n = array.length();
  const int64_t nulls = array.null_count();
  if (nulls == 0) return n;
  if (nulls == n) {
    std::memset(fail, 0, static_cast<size_t>(n));
    return 0;
  }
  const uint8_t* bits = array.null_bitmap_data();
  const int64_t off = array.offset();
  for (int64_t i = 0; i < n; ++i) fail[i] &= static_cast<uint8_t>(arrow::bit_util::GetBit(bits, off + i));
  return n - nulls;
}

int64_t CountFails(const uint8_t* fail, int64_t n) {
  int64_t c = 0;
  for (int64_t i = 0; i < n; ++i) c += fail[i];
  return c;
}

namespace {

/// fail[i] = !bit(i) (or bit(i) when `fail_on_true`) for a boolean array's values.
void FailFromBooleans(const arrow::BooleanArray& b, bool fail_on_true, uint8_t* fail) {
  const uint8_t* bits = b.values()->data();
  const int64_t off = b.offset();
  const uint8_t flip = fail_on_true ? 0 : 1;
  for (int64_t i = 0; i < b.length(); ++i) fail[i] = static_cast<uint8_t>(arrow::bit_util::GetBit(bits, off + i)) ^ flip;
}

// ---- the generic row accumulator -------------------------------------------------------------

struct SampleChunk {
  int64_t morsel = 0;
  std::shared_ptr<arrow::Array> values;
};

struct RowState : AccState {
  int64_t element = 0;
  int64_t unexpected = 0;
  int64_t sampled = 0;
  std::vector<SampleChunk> chunks;
  std::vector<uint8_t> fail;
};

class RowAcc : public Accumulator {
 public:
  RowAcc(std::shared_ptr<const RowKernel> kernel, std::vector<int> sample_columns, int max_samples)
      : kernel_(std::move(kernel)), sample_columns_(std::move(sample_columns)), max_samples_(max_samples) {}

  std::unique_ptr<AccState> NewState() const override { return std::make_unique<RowState>(); }

  Status Update(AccState* s, const Morsel& m) const override {
    auto* st = static_cast<RowState*>(s);
    const int64_t n = m.batch->num_rows();
    st->fail.assign(static_cast<size_t>(n), 0);
    ARROW_ASSIGN_OR_RAISE(int64_t counted, kernel_->Evaluate(*m.batch, st->fail.data()));
    int64_t bad = CountFails(st->fail.data(), n);
    st->element += counted;
    st->unexpected += bad;
    if (bad > 0 && st->sampled < max_samples_) {
      std::vector<int64_t> rows;
      for (int64_t i = 0; i < n && static_cast<int64_t>(rows.size()) < max_samples_ - st->sampled; ++i) {
        if (st->fail[i]) rows.push_back(i);
      }
      ARROW_ASSIGN_OR_RAISE(auto values, TakeRows(*m.batch, sample_columns_, rows));
      st->chunks.push_back({m.index, std::move(values)});
      st->sampled += static_cast<int64_t>(rows.size());
    }
    return Status::OK();
  }

  void Merge(AccState* into, std::unique_ptr<AccState> from) const override {
    auto* a = static_cast<RowState*>(into);
    auto* b = static_cast<RowState*>(from.get());
    a->element += b->element;
    a->unexpected += b->unexpected;
    a->sampled += b->sampled;
    for (auto& c : b->chunks) a->chunks.push_back(std::move(c));
  }

 private:
  std::shared_ptr<const RowKernel> kernel_;
  std::vector<int> sample_columns_;
  int max_samples_;
};

/// The first `max` samples in data order, as one array (null when none).
Result<std::shared_ptr<arrow::Array>> GatherSamples(std::vector<SampleChunk> chunks, int max) {
  if (chunks.empty() || max <= 0) return nullptr;
  std::sort(chunks.begin(), chunks.end(), [](const SampleChunk& a, const SampleChunk& b) { return a.morsel < b.morsel; });
  arrow::ArrayVector arrays;
  int64_t total = 0;
  for (const auto& c : chunks) {
    if (total >= max) break;
    arrays.push_back(c.values);
    total += c.values->length();
  }
  ARROW_ASSIGN_OR_RAISE(auto all, arrow::Concatenate(arrays));
  return all->Slice(0, std::min<int64_t>(max, all->length()));
}

class RowBound : public BoundExpectation {
 public:
  RowBound(std::shared_ptr<const RowKernel> kernel, int acc, double mostly)
      : kernel_(std::move(kernel)), acc_(acc), mostly_(mostly) {}
  bool row_level() const override { return true; }
  Result<int64_t> FailRows(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    return kernel_->Evaluate(batch, fail);
  }
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    auto* st = static_cast<RowState*>(ctx.states[acc_]);
    SetRowOutcome(st->element, st->unexpected, mostly_, out);
    ARROW_ASSIGN_OR_RAISE(out->unexpected_samples, GatherSamples(std::move(st->chunks), ctx.max_samples));
    return Status::OK();
  }

 private:
  std::shared_ptr<const RowKernel> kernel_;
  int acc_;
  double mostly_;
};

}  // namespace

Result<std::unique_ptr<BoundExpectation>> BindRowKernel(BindContext* ctx, const Expectation& e,
                                                        std::shared_ptr<const RowKernel> kernel,
                                                        std::vector<int> sample_columns) {
  int max_samples = ctx->options.max_samples;
  ARROW_ASSIGN_OR_RAISE(int acc, ctx->AddAccumulator("row:" + std::to_string(e.index), [&]() -> Result<std::shared_ptr<Accumulator>> {
    return std::make_shared<RowAcc>(kernel, sample_columns, max_samples);
  }));
  return std::make_unique<RowBound>(std::move(kernel), acc, e.mostly);
}

namespace {

// ---- not_null ------------------------------------------------------------------------------

class NotNullKernel : public RowKernel {
 public:
  explicit NotNullKernel(int col) : col_(col) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    const auto& a = *batch.column(col_);
    const int64_t n = a.length();
    if (a.null_count() == 0) return n;
    if (a.type_id() == arrow::Type::NA) {
      std::memset(fail, 1, static_cast<size_t>(n));
      return n;
    }
    const uint8_t* bits = a.null_bitmap_data();
    for (int64_t i = 0; i < n; ++i) fail[i] = !arrow::bit_util::GetBit(bits, a.offset() + i);
    return n;
  }

 private:
  int col_;
};

// ---- between -------------------------------------------------------------------------------

/// Inclusive integer thresholds in T's domain; `empty` when no value can pass.
template <typename T>
struct IntThresholds {
  T lo = std::numeric_limits<T>::lowest();
  T hi = std::numeric_limits<T>::max();
  bool empty = false;
};

template <typename T>
IntThresholds<T> MakeIntThresholds(std::optional<long double> min, bool smin, std::optional<long double> max,
                                   bool smax) {
  IntThresholds<T> t;
  const long double tmin = static_cast<long double>(std::numeric_limits<T>::lowest());
  const long double tmax = static_cast<long double>(std::numeric_limits<T>::max());
  if (min) {
    long double lo = smin ? std::floor(*min) + 1 : std::ceil(*min);
    if (lo > tmax) t.empty = true;
    else if (lo > tmin) t.lo = static_cast<T>(lo);
  }
  if (max) {
    long double hi = smax ? std::ceil(*max) - 1 : std::floor(*max);
    if (hi < tmin) t.empty = true;
    else if (hi < tmax) t.hi = static_cast<T>(hi);
  }
  if (t.lo > t.hi) t.empty = true;
  return t;
}

template <typename T>
class IntBetweenKernel : public RowKernel {
 public:
  IntBetweenKernel(int col, IntThresholds<T> t) : col_(col), t_(t) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    const auto& a = *batch.column(col_);
    const int64_t n = a.length();
    if (t_.empty) {
      std::memset(fail, 1, static_cast<size_t>(n));
    } else {
      const T* v = a.data()->GetValues<T>(1);
      const T lo = t_.lo, hi = t_.hi;
      for (int64_t i = 0; i < n; ++i) fail[i] = static_cast<uint8_t>((v[i] < lo) | (v[i] > hi));
    }
    return ApplyValidity(a, fail);
  }

 private:
  int col_;
  IntThresholds<T> t_;
};

template <typename T, bool kStrictMin, bool kStrictMax>
class FloatBetweenKernel : public RowKernel {
 public:
  FloatBetweenKernel(int col, double lo, double hi) : col_(col), lo_(lo), hi_(hi) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    const auto& a = *batch.column(col_);
    const int64_t n = a.length();
    const T* v = a.data()->GetValues<T>(1);
    const double lo = lo_, hi = hi_;
    for (int64_t i = 0; i < n; ++i) {
      const double x = v[i];
      const bool ok_lo = kStrictMin ? x > lo : x >= lo;
      const bool ok_hi = kStrictMax ? x < hi : x <= hi;
      fail[i] = static_cast<uint8_t>(!(ok_lo & ok_hi));  // NaN compares false: fails
    }
    return ApplyValidity(a, fail);
  }

 private:
  int col_;
  double lo_, hi_;
};

template <typename T>
std::shared_ptr<RowKernel> MakeFloatBetween(int col, std::optional<long double> min, bool smin,
                                            std::optional<long double> max, bool smax) {
  double lo = min ? static_cast<double>(*min) : -std::numeric_limits<double>::infinity();
  double hi = max ? static_cast<double>(*max) : std::numeric_limits<double>::infinity();
  // Without a bound, +-inf still pass (inclusive comparison).
  bool sl = min && smin, sh = max && smax;
  if (sl && sh) return std::make_shared<FloatBetweenKernel<T, true, true>>(col, lo, hi);
  if (sl) return std::make_shared<FloatBetweenKernel<T, true, false>>(col, lo, hi);
  if (sh) return std::make_shared<FloatBetweenKernel<T, false, true>>(col, lo, hi);
  return std::make_shared<FloatBetweenKernel<T, false, false>>(col, lo, hi);
}

template <typename Fn>
void ForEachString(const arrow::Array& a, Fn&& fn) {
  if (a.type_id() == arrow::Type::LARGE_STRING || a.type_id() == arrow::Type::LARGE_BINARY) {
    const auto& s = static_cast<const arrow::LargeBinaryArray&>(a);
    for (int64_t i = 0; i < a.length(); ++i) fn(i, s.GetView(i));
  } else {
    const auto& s = static_cast<const arrow::BinaryArray&>(a);
    for (int64_t i = 0; i < a.length(); ++i) fn(i, s.GetView(i));
  }
}

class StringBetweenKernel : public RowKernel {
 public:
  StringBetweenKernel(int col, std::optional<std::string> lo, bool smin, std::optional<std::string> hi, bool smax)
      : col_(col), lo_(std::move(lo)), hi_(std::move(hi)), smin_(smin), smax_(smax) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    const auto& a = *batch.column(col_);
    ForEachString(a, [&](int64_t i, std::string_view v) {
      bool ok = true;
      if (lo_) ok = smin_ ? v > *lo_ : v >= *lo_;
      if (hi_) ok = ok && (smax_ ? v < *hi_ : v <= *hi_);
      fail[i] = !ok;
    });
    return ApplyValidity(a, fail);
  }

 private:
  int col_;
  std::optional<std::string> lo_, hi_;
  bool smin_, smax_;
};

/// Decimal columns are compared as doubles.
class CastThenKernel : public RowKernel {
 public:
  CastThenKernel(int col, std::shared_ptr<const RowKernel> inner) : col_(col), inner_(std::move(inner)) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    ARROW_ASSIGN_OR_RAISE(auto casted, arrow::compute::Cast(*batch.column(col_), arrow::float64()));
    auto one = arrow::RecordBatch::Make(arrow::schema({arrow::field("v", arrow::float64())}), batch.num_rows(), {casted});
    return inner_->Evaluate(*one, fail);
  }

 private:
  int col_;
  std::shared_ptr<const RowKernel> inner_;
};

class BetweenExpectation : public Expectation {
 public:
  Value min, max;
  bool strict_min = false, strict_max = false;

  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    const auto& type = *ctx->schema->field(col)->type();
    std::shared_ptr<RowKernel> kernel;
    if (IsStringLike(type) || type.id() == arrow::Type::BINARY || type.id() == arrow::Type::LARGE_BINARY) {
      if ((!min.is_null() && !min.is_string()) || (!max.is_null() && !max.is_string())) {
        return Status::Invalid("column '", column, "' is ", TypeName(type), ": min and max must be text");
      }
      auto opt = [](const Value& v) { return v.is_null() ? std::optional<std::string>() : std::optional<std::string>(v.as_string()); };
      kernel = std::make_shared<StringBetweenKernel>(col, opt(min), strict_min, opt(max), strict_max);
    } else if (arrow::is_decimal(type.id())) {
      if ((!min.is_null() && !min.is_number()) || (!max.is_null() && !max.is_number())) {
        return Status::Invalid("min and max must be numbers for a decimal column");
      }
      std::optional<long double> lo, hi;
      if (!min.is_null()) lo = min.as_double();
      if (!max.is_null()) hi = max.as_double();
      kernel = std::make_shared<CastThenKernel>(col, MakeFloatBetween<double>(0, lo, strict_min, hi, strict_max));
    } else if (IsNumericLike(type)) {
      ARROW_ASSIGN_OR_RAISE(auto lo, ParseBound(min, type, "min"));
      ARROW_ASSIGN_OR_RAISE(auto hi, ParseBound(max, type, "max"));
      ARROW_RETURN_NOT_OK(VisitPhysical(type, [&](auto tag) -> Status {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) {
          kernel = MakeFloatBetween<T>(col, lo, strict_min, hi, strict_max);
        } else {
          kernel = std::make_shared<IntBetweenKernel<T>>(col, MakeIntThresholds<T>(lo, strict_min, hi, strict_max));
        }
        return Status::OK();
      }));
    } else {
      return Status::Invalid("column '", column, "' is ", TypeName(type),
                             ": between needs a numeric, temporal or string column");
    }
    return BindRowKernel(ctx, *this, kernel, {col});
  }
};

// ---- in_set / not_in_set -------------------------------------------------------------------

class InSetKernel : public RowKernel {
 public:
  InSetKernel(int col, std::shared_ptr<arrow::Array> values, bool negate)
      : col_(col), options_(arrow::Datum(std::move(values)), arrow::compute::SetLookupOptions::MATCH), negate_(negate) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    const auto& a = batch.column(col_);
    ARROW_ASSIGN_OR_RAISE(auto r, arrow::compute::IsIn(a, options_));
    FailFromBooleans(static_cast<const arrow::BooleanArray&>(*r.make_array()), negate_, fail);
    return ApplyValidity(*a, fail);
  }

 private:
  int col_;
  arrow::compute::SetLookupOptions options_;
  bool negate_;
};

class InSetExpectation : public Expectation {
 public:
  Value values;
  bool negate = false;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    auto type = ctx->schema->field(col)->type();
    ARROW_ASSIGN_OR_RAISE(auto arr, ValuesToArray(values.as_list(), type, "values"));
    return BindRowKernel(ctx, *this, std::make_shared<InSetKernel>(col, arr, negate), {col});
  }
};

// ---- regex / not_regex ---------------------------------------------------------------------

/// RE2's semantics (Arrow's match_substring_regex), with PCRE2's JIT as the fast path where it
/// provably agrees (regex_match.h says why and when).
class RegexKernel : public RowKernel {
 public:
  RegexKernel(int col, std::string pattern, bool negate, bool utf8)
      : col_(col), options_(pattern), negate_(negate), utf8_(utf8), fast_(FastRegex::Compile(pattern, utf8)) {
    arrow::util::InitializeUTF8();
  }

  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    const auto& a = batch.column(col_);
    if (fast_ != nullptr && !fast_->gave_up()) {
      const arrow::ArrayData& d = *a->data();
      const bool large = d.type->id() == arrow::Type::LARGE_STRING || d.type->id() == arrow::Type::LARGE_BINARY;
      if (large) return EvaluateFast<int64_t>(*a, fail);
      if (d.type->id() == arrow::Type::STRING || d.type->id() == arrow::Type::BINARY) {
        return EvaluateFast<int32_t>(*a, fail);
      }
    }
    return EvaluateRe2(*a, fail);
  }

 private:
  Result<int64_t> EvaluateRe2(const arrow::Array& a, uint8_t* fail) const {
    ARROW_ASSIGN_OR_RAISE(auto r, arrow::compute::CallFunction("match_substring_regex", {a.data()}, &options_));
    FailFromBooleans(static_cast<const arrow::BooleanArray&>(*r.make_array()), negate_, fail);
    return ApplyValidity(a, fail);
  }

  /// Every value valid UTF-8: the values' bytes as a whole are, and no value starts or ends
  /// inside a character (a boundary is a byte that is not a continuation byte 10xxxxxx).
  template <typename Offset>
  static bool AllValidUtf8(const Offset* offsets, const char* data, int64_t n) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(data);
    const Offset begin = offsets[0], end = offsets[n];
    if (!arrow::util::ValidateUTF8(bytes + begin, end - begin)) return false;
    for (int64_t i = 1; i < n; ++i) {
      if (offsets[i] < end && (bytes[offsets[i]] & 0xC0) == 0x80) return false;
    }
    return true;
  }

  template <typename Offset>
  Result<int64_t> EvaluateFast(const arrow::Array& a, uint8_t* fail) const {
    const arrow::ArrayData& d = *a.data();
    const Offset* offsets = d.GetValues<Offset>(1);
    const char* data = d.buffers[2] != nullptr ? reinterpret_cast<const char*>(d.buffers[2]->data()) : "";
    const uint8_t* validity = d.null_count != 0 && d.buffers[0] != nullptr ? d.buffers[0]->data() : nullptr;
    if (utf8_ && !AllValidUtf8(offsets, data, d.length)) return EvaluateRe2(a, fail);  // rare: RE2 copes
    FastRegex::Matcher m(*fast_);
    const uint8_t fail_on_match = negate_ ? 1 : 0;
    std::vector<int64_t> undecided;
    for (int64_t i = 0; i < d.length; ++i) {
      if (validity != nullptr && !arrow::bit_util::GetBit(validity, d.offset + i)) {
        fail[i] = 0;
        continue;
      }
      const std::string_view v(data + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i]));
      const int r = m.Match(v);
      if (r < 0) {
        fast_->NoteUndecided();
        // Past the limit of undecided values the column is RE2's, from this batch on: a pattern
        // that backtracks badly would otherwise spend the match limit on every value.
        if (fast_->gave_up()) return EvaluateRe2(a, fail);
        undecided.push_back(i);
        continue;
      }
      fail[i] = static_cast<uint8_t>(r) ^ fail_on_match ^ 1;
    }
    for (int64_t i : undecided) {  // past PCRE2's match limit: RE2 decides, in linear time
      uint8_t one = 0;
      ARROW_RETURN_NOT_OK(EvaluateRe2(*a.Slice(i, 1), &one).status());
      fail[i] = one;
    }
    return a.length() - a.null_count();
  }

  int col_;
  arrow::compute::MatchSubstringOptions options_;
  bool negate_;
  bool utf8_;
  std::unique_ptr<FastRegex> fast_;
};

class RegexExpectation : public Expectation {
 public:
  std::string pattern;
  bool negate = false;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    const auto& type = *ctx->schema->field(col)->type();
    if (!IsStringLike(type) && type.id() != arrow::Type::BINARY && type.id() != arrow::Type::LARGE_BINARY) {
      return Status::Invalid("column '", column, "' is ", TypeName(type), ": ", spec.type, " needs a string column");
    }
    const bool utf8 = IsStringLike(type);
    return BindRowKernel(ctx, *this, std::make_shared<RegexKernel>(col, pattern, negate, utf8), {col});
  }
};

// ---- string_length_between -----------------------------------------------------------------

class StringLengthKernel : public RowKernel {
 public:
  StringLengthKernel(int col, int64_t lo, int64_t hi) : col_(col), lo_(lo), hi_(hi) {}

  /// Whether every byte of the array's string data (the referenced range) is ASCII.
  static bool AllAscii(const arrow::Array& a) {
    int64_t begin, end;
    const uint8_t* data;
    if (a.type_id() == arrow::Type::LARGE_STRING) {
      const int64_t* off = a.data()->GetValues<int64_t>(1);
      begin = off[0];
      end = off[a.length()];
      data = a.data()->buffers[2] ? a.data()->buffers[2]->data() : nullptr;
    } else {
      const int32_t* off = a.data()->GetValues<int32_t>(1);
      begin = off[0];
      end = off[a.length()];
      data = a.data()->buffers[2] ? a.data()->buffers[2]->data() : nullptr;
    }
    if (data == nullptr || end <= begin) return true;
    uint8_t any = 0;
    for (int64_t i = begin; i < end; ++i) any |= data[i];
    return (any & 0x80) == 0;
  }

  template <typename O>
  void LengthsFromOffsets(const O* off, int64_t n, uint8_t* fail) const {
    const int64_t lo = lo_, hi = hi_;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t len = static_cast<int64_t>(off[i + 1] - off[i]);
      fail[i] = static_cast<uint8_t>((len < lo) | (len > hi));
    }
  }

  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    const auto& a = *batch.column(col_);
    const int64_t lo = lo_, hi = hi_;
    if (AllAscii(a)) {  // characters = bytes: lengths straight from the offsets
      if (a.type_id() == arrow::Type::LARGE_STRING) {
        LengthsFromOffsets(a.data()->GetValues<int64_t>(1), a.length(), fail);
      } else {
        LengthsFromOffsets(a.data()->GetValues<int32_t>(1), a.length(), fail);
      }
      return ApplyValidity(a, fail);
    }
    ForEachString(a, [&](int64_t i, std::string_view v) {
      const auto len = static_cast<int64_t>(v.size());
      // Characters <= bytes <= 4 * characters: most strings are decided by their byte length.
      if (len < lo || (len + 3) / 4 > hi) {
        fail[i] = 1;
        return;
      }
      if (len <= hi && (len == 0 || lo <= 1)) return;
      int64_t chars = 0;
      for (unsigned char c : v) chars += (c & 0xC0) != 0x80;
      fail[i] = static_cast<uint8_t>((chars < lo) | (chars > hi));
    });
    return ApplyValidity(a, fail);
  }

 private:
  int col_;
  int64_t lo_, hi_;
};

class StringLengthExpectation : public Expectation {
 public:
  int64_t min = 0, max = std::numeric_limits<int64_t>::max();
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    const auto& type = *ctx->schema->field(col)->type();
    if (!IsStringLike(type)) {
      return Status::Invalid("column '", column, "' is ", TypeName(type), ": string_length_between needs a string column");
    }
    return BindRowKernel(ctx, *this, std::make_shared<StringLengthKernel>(col, min, max), {col});
  }
};

// ---- column pairs --------------------------------------------------------------------------

class PairKernel : public RowKernel {
 public:
  PairKernel(int a, int b, std::string function) : a_(a), b_(b), function_(std::move(function)) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    ARROW_ASSIGN_OR_RAISE(auto r, arrow::compute::CallFunction(function_, {batch.column(a_), batch.column(b_)}));
    auto arr = r.make_array();
    FailFromBooleans(static_cast<const arrow::BooleanArray&>(*arr), false, fail);
    return ApplyValidity(*arr, fail);
  }

 private:
  int a_, b_;
  std::string function_;
};

class PairExpectation : public Expectation {
 public:
  std::string function;  // less, less_equal, equal
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int a, ctx->Column(columns[0]));
    ARROW_ASSIGN_OR_RAISE(int b, ctx->Column(columns[1]));
    auto ta = ctx->schema->field(a)->type(), tb = ctx->schema->field(b)->type();
    ARROW_ASSIGN_OR_RAISE(auto ea, arrow::MakeEmptyArray(ta));
    ARROW_ASSIGN_OR_RAISE(auto eb, arrow::MakeEmptyArray(tb));
    auto probe = arrow::compute::CallFunction(function, {ea, eb});
    if (!probe.ok()) {
      return Status::Invalid("cannot compare column '", columns[0], "' (", TypeName(*ta), ") with '", columns[1], "' (",
                             TypeName(*tb), ")");
    }
    return BindRowKernel(ctx, *this, std::make_shared<PairKernel>(a, b, function), {a, b});
  }
};

// ---- multicolumn_sum_equal -----------------------------------------------------------------

class SumKernel : public RowKernel {
 public:
  SumKernel(std::vector<int> cols, bool integral, double total) : cols_(std::move(cols)), integral_(integral), total_(total) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    const int64_t n = batch.num_rows();
    std::vector<uint8_t> valid(static_cast<size_t>(n), 1);
    for (int c : cols_) ApplyValidity(*batch.column(c), valid.data());
    if (integral_) {
      const bool total_ok = std::floor(total_) == total_ && std::fabs(total_) < 9.2e18;
      const int64_t total = total_ok ? static_cast<int64_t>(total_) : 0;
      std::vector<int64_t> sum(static_cast<size_t>(n), 0);
      std::vector<uint8_t> overflow(static_cast<size_t>(n), 0);
      for (int c : cols_) {
        ARROW_ASSIGN_OR_RAISE(auto casted, arrow::compute::Cast(*batch.column(c), arrow::int64()));
        const int64_t* v = casted->data()->GetValues<int64_t>(1);
        for (int64_t i = 0; i < n; ++i) overflow[i] |= __builtin_add_overflow(sum[i], v[i], &sum[i]);
      }
      for (int64_t i = 0; i < n; ++i) fail[i] = static_cast<uint8_t>(valid[i] & ((total_ok ? 0 : 1) | overflow[i] | (sum[i] != total ? 1 : 0)));
    } else {
      std::vector<double> sum(static_cast<size_t>(n), 0);
      for (int c : cols_) {
        ARROW_ASSIGN_OR_RAISE(auto casted, arrow::compute::Cast(*batch.column(c), arrow::float64()));
        const double* v = casted->data()->GetValues<double>(1);
        for (int64_t i = 0; i < n; ++i) sum[i] += v[i];
      }
      const double tol = 1e-9 * std::max(1.0, std::fabs(total_));
      for (int64_t i = 0; i < n; ++i) fail[i] = static_cast<uint8_t>(valid[i] & !(std::fabs(sum[i] - total_) <= tol));
    }
    int64_t counted = 0;
    for (int64_t i = 0; i < n; ++i) counted += valid[i];
    return counted;
  }

 private:
  std::vector<int> cols_;
  bool integral_;
  double total_;
};

class SumEqualExpectation : public Expectation {
 public:
  double total = 0;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    std::vector<int> cols;
    bool integral = true;
    for (const auto& c : columns) {
      ARROW_ASSIGN_OR_RAISE(int i, ctx->Column(c));
      const auto& t = *ctx->schema->field(i)->type();
      if (!arrow::is_integer(t.id()) && !arrow::is_floating(t.id()) && !arrow::is_decimal(t.id())) {
        return Status::Invalid("column '", c, "' is ", TypeName(t), ": multicolumn_sum_equal needs numeric columns");
      }
      integral &= arrow::is_integer(t.id());
      cols.push_back(i);
    }
    return BindRowKernel(ctx, *this, std::make_shared<SumKernel>(cols, integral, total), cols);
  }
};

// ---- expression ----------------------------------------------------------------------------

class ExpressionKernel : public RowKernel {
 public:
  ExpressionKernel(arrow::compute::Expression bound, std::shared_ptr<arrow::Schema> schema)
      : bound_(std::move(bound)), schema_(std::move(schema)) {}
  Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    ARROW_ASSIGN_OR_RAISE(auto v, arrow::compute::ExecuteScalarExpression(bound_, *schema_, arrow::Datum(batch)));
    std::shared_ptr<arrow::Array> arr;
    if (v.is_scalar()) {
      ARROW_ASSIGN_OR_RAISE(arr, arrow::MakeArrayFromScalar(*v.scalar(), batch.num_rows()));
    } else {
      arr = v.make_array();
    }
    if (arr->type_id() == arrow::Type::NA) return 0;
    FailFromBooleans(static_cast<const arrow::BooleanArray&>(*arr), false, fail);
    return ApplyValidity(*arr, fail);
  }

 private:
  arrow::compute::Expression bound_;
  std::shared_ptr<arrow::Schema> schema_;
};

class ExpressionExpectation : public Expectation {
 public:
  expr::NodePtr node;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(auto e, expr::ToArrow(node, *ctx->schema));
    ARROW_ASSIGN_OR_RAISE(e, e.Bind(*ctx->schema));
    if (e.type() == nullptr || (e.type()->id() != arrow::Type::BOOL && e.type()->id() != arrow::Type::NA)) {
      return Status::Invalid("expression '", expr::ToString(node), "' is not boolean (it gives ",
                             e.type() ? e.type()->ToString() : "?", ")");
    }
    std::vector<int> cols;
    for (const auto& path : expr::ReferencedColumns(node)) {
      std::string top = path.substr(0, path.find('.'));
      int i = ctx->schema->GetFieldIndex(top);
      if (i < 0) {  // ToArrow resolved it case-insensitively
        for (int k = 0; k < ctx->schema->num_fields(); ++k) {
          if (strcasecmp(ctx->schema->field(k)->name().c_str(), top.c_str()) == 0) i = k;
        }
      }
      if (i >= 0 && std::find(cols.begin(), cols.end(), i) == cols.end()) cols.push_back(i);
    }
    if (cols.empty()) cols.push_back(0);
    return BindRowKernel(ctx, *this, std::make_shared<ExpressionKernel>(std::move(e), ctx->schema), cols);
  }
};

// ---- increasing / decreasing ---------------------------------------------------------------
// Order is checked within each morsel; the boundary between consecutive morsels is checked
// after the pass from each morsel's first and last values.

template <typename T>
struct OrderMorsel {
  int64_t index = 0;
  bool has_value = false;
  T first{}, last{};
  int64_t first_row = 0;
};

template <typename T>
struct OrderSample {
  int64_t morsel, row;
  T value;
};

template <typename T>
struct OrderState : AccState {
  int64_t element = 0, unexpected = 0;
  std::vector<OrderMorsel<T>> morsels;
  std::vector<OrderSample<T>> samples;
  std::vector<uint8_t> fail;
};

template <typename T>
class OrderLogic {
 public:
  OrderLogic(bool decreasing, bool strict) : decreasing_(decreasing), strict_(strict) {}
  /// Whether `x` following `prev` breaks the order.
  bool Breaks(T prev, T x) const {
    if (decreasing_) return strict_ ? !(x < prev) : x > prev;
    return strict_ ? !(x > prev) : x < prev;
  }
  static bool IsNaN(T x) {
    if constexpr (std::is_floating_point_v<T>) return std::isnan(x);
    return false;
  }
  /// Fails within one array (the first value is compared with `*prev` when given); returns the
  /// number of non-null rows and updates the morsel summary.
  int64_t Run(const arrow::Array& a, uint8_t* fail, OrderMorsel<T>* m) const {
    const T* v = a.data()->GetValues<T>(1);
    const int64_t n = a.length();
    const bool has_nulls = a.null_count() > 0;
    const uint8_t* bits = has_nulls ? a.null_bitmap_data() : nullptr;
    bool have = false;
    T prev{};
    int64_t counted = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (has_nulls && !arrow::bit_util::GetBit(bits, a.offset() + i)) continue;
      ++counted;
      const T x = v[i];
      if (IsNaN(x)) {
        fail[i] = 1;
        continue;
      }
      if (!have) {
        m->has_value = true;
        m->first = x;
        m->first_row = i;
      } else {
        fail[i] = Breaks(prev, x);
      }
      prev = x;
      have = true;
    }
    if (have) m->last = prev;
    return counted;
  }

 private:
  bool decreasing_, strict_;
};

template <typename T>
class OrderAcc : public Accumulator {
 public:
  OrderAcc(int col, OrderLogic<T> logic, int max_samples) : col_(col), logic_(logic), max_samples_(max_samples) {}
  std::unique_ptr<AccState> NewState() const override { return std::make_unique<OrderState<T>>(); }
  Status Update(AccState* s, const Morsel& m) const override {
    auto* st = static_cast<OrderState<T>*>(s);
    const auto& a = *m.batch->column(col_);
    const int64_t n = a.length();
    st->fail.assign(static_cast<size_t>(n), 0);
    OrderMorsel<T> om;
    om.index = m.index;
    st->element += logic_.Run(a, st->fail.data(), &om);
    const T* v = a.data()->GetValues<T>(1);
    for (int64_t i = 0; i < n; ++i) {
      if (!st->fail[i]) continue;
      ++st->unexpected;
      if (static_cast<int64_t>(st->samples.size()) < max_samples_) st->samples.push_back({m.index, i, v[i]});
    }
    st->morsels.push_back(om);
    return Status::OK();
  }
  void Merge(AccState* into, std::unique_ptr<AccState> from) const override {
    auto* a = static_cast<OrderState<T>*>(into);
    auto* b = static_cast<OrderState<T>*>(from.get());
    a->element += b->element;
    a->unexpected += b->unexpected;
    a->morsels.insert(a->morsels.end(), b->morsels.begin(), b->morsels.end());
    a->samples.insert(a->samples.end(), b->samples.begin(), b->samples.end());
  }
  Status Finalize(AccState* s, int) const override {
    auto* st = static_cast<OrderState<T>*>(s);
    std::sort(st->morsels.begin(), st->morsels.end(), [](const auto& x, const auto& y) { return x.index < y.index; });
    bool have = false;
    T prev{};
    for (const auto& m : st->morsels) {
      if (!m.has_value) continue;
      if (have && logic_.Breaks(prev, m.first)) {
        ++st->unexpected;
        st->samples.push_back({m.index, m.first_row, m.first});
      }
      prev = m.last;
      have = true;
    }
    std::sort(st->samples.begin(), st->samples.end(),
              [](const auto& x, const auto& y) { return x.morsel != y.morsel ? x.morsel < y.morsel : x.row < y.row; });
    if (static_cast<int64_t>(st->samples.size()) > max_samples_) st->samples.resize(static_cast<size_t>(max_samples_));
    return Status::OK();
  }

 private:
  int col_;
  OrderLogic<T> logic_;
  int max_samples_;
};

template <typename T>
class OrderBound : public BoundExpectation {
 public:
  OrderBound(int col, OrderLogic<T> logic, int acc, double mostly, std::shared_ptr<arrow::DataType> type)
      : col_(col), logic_(logic), acc_(acc), mostly_(mostly), type_(std::move(type)) {}
  bool row_level() const override { return true; }
  Result<int64_t> FailRows(const arrow::RecordBatch& batch, uint8_t* fail) const override {
    OrderMorsel<T> m;
    return logic_.Run(*batch.column(col_), fail, &m);
  }
  Status Finish(const FinishContext& ctx, ExpectationResult* out) const override {
    auto* st = static_cast<OrderState<T>*>(ctx.states[acc_]);
    SetRowOutcome(st->element, st->unexpected, mostly_, out);
    if (!st->samples.empty()) {
      std::vector<T> vals;
      for (const auto& s : st->samples) vals.push_back(s.value);
      ARROW_ASSIGN_OR_RAISE(auto owned, arrow::AllocateBuffer(static_cast<int64_t>(vals.size() * sizeof(T))));
      std::memcpy(owned->mutable_data(), vals.data(), vals.size() * sizeof(T));
      out->unexpected_samples = arrow::MakeArray(
          arrow::ArrayData::Make(type_, static_cast<int64_t>(vals.size()), {nullptr, std::move(owned)}, 0));
    }
    return Status::OK();
  }

 private:
  int col_;
  OrderLogic<T> logic_;
  int acc_;
  double mostly_;
  std::shared_ptr<arrow::DataType> type_;
};

class OrderExpectation : public Expectation {
 public:
  bool decreasing = false, strict = false;
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    auto type = ctx->schema->field(col)->type();
    if (!IsNumericLike(*type)) {
      return Status::Invalid("column '", column, "' is ", TypeName(*type), ": ", spec.type,
                             " needs a numeric or temporal column");
    }
    std::unique_ptr<BoundExpectation> out;
    int max_samples = ctx->options.max_samples;
    ARROW_RETURN_NOT_OK(VisitPhysical(*type, [&](auto tag) -> Status {
      using T = decltype(tag);
      OrderLogic<T> logic(decreasing, strict);
      ARROW_ASSIGN_OR_RAISE(int acc, ctx->AddAccumulator("order:" + std::to_string(index), [&]() -> Result<std::shared_ptr<Accumulator>> {
        return std::make_shared<OrderAcc<T>>(col, logic, max_samples);
      }));
      out = std::make_unique<OrderBound<T>>(col, logic, acc, mostly, type);
      return Status::OK();
    }));
    return out;
  }
};

// ---- not_null (expectation) ------------------------------------------------------------------

class NotNullExpectation : public Expectation {
 public:
  Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const override {
    ARROW_ASSIGN_OR_RAISE(int col, ctx->Column(column));
    return BindRowKernel(ctx, *this, std::make_shared<NotNullKernel>(col), {col});
  }
};

Status CheckRegex(const std::string& pattern) {
  arrow::StringBuilder b;
  ARROW_RETURN_NOT_OK(b.Append("probe"));
  ARROW_ASSIGN_OR_RAISE(auto arr, b.Finish());
  arrow::compute::MatchSubstringOptions o(pattern);
  return arrow::compute::CallFunction("match_substring_regex", {arr}, &o).status();
}

}  // namespace

Result<std::shared_ptr<Expectation>> CompileRow(const ExpectationSpec& spec, Args* args, const std::string&) {
  const std::string& t = spec.type;
  auto single = [&](auto e) -> Result<std::shared_ptr<Expectation>> {
    ARROW_ASSIGN_OR_RAISE(e->column, args->RequiredString("column"));
    e->columns = {e->column};
    return e;
  };
  if (t == "not_null") return single(std::make_shared<NotNullExpectation>());
  if (t == "between") {
    auto e = std::make_shared<BetweenExpectation>();
    ARROW_RETURN_NOT_OK(single(e).status());
    ARROW_ASSIGN_OR_RAISE(e->min, args->OptionalBound("min"));
    ARROW_ASSIGN_OR_RAISE(e->max, args->OptionalBound("max"));
    ARROW_ASSIGN_OR_RAISE(e->strict_min, args->OptionalBool("strict_min", false));
    ARROW_ASSIGN_OR_RAISE(e->strict_max, args->OptionalBool("strict_max", false));
    if (e->min.is_null() && e->max.is_null()) return args->Error("min", "between needs min, max or both");
    return e;
  }
  if (t == "in_set" || t == "not_in_set") {
    auto e = std::make_shared<InSetExpectation>();
    ARROW_RETURN_NOT_OK(single(e).status());
    ARROW_ASSIGN_OR_RAISE(e->values, args->RequiredList("values"));
    e->negate = t == "not_in_set";
    for (const auto& v : e->values.as_list()) {
      if (v.is_list() || v.is_map()) return args->Error("values", "must hold plain values, got " + v.ToString());
    }
    return e;
  }
  if (t == "regex" || t == "not_regex") {
    auto e = std::make_shared<RegexExpectation>();
    ARROW_RETURN_NOT_OK(single(e).status());
    ARROW_ASSIGN_OR_RAISE(e->pattern, args->RequiredString("pattern"));
    e->negate = t == "not_regex";
    Status st = CheckRegex(e->pattern);
    if (!st.ok()) return args->Error("pattern", "invalid regular expression: " + st.message());
    return e;
  }
  if (t == "string_length_between") {
    auto e = std::make_shared<StringLengthExpectation>();
    ARROW_RETURN_NOT_OK(single(e).status());
    ARROW_ASSIGN_OR_RAISE(auto lo, args->OptionalInt("min"));
    ARROW_ASSIGN_OR_RAISE(auto hi, args->OptionalInt("max"));
    if (!lo && !hi) return args->Error("min", "string_length_between needs min, max or both");
    if (lo && *lo < 0) return args->Error("min", "must not be negative");
    if (lo) e->min = *lo;
    if (hi) e->max = *hi;
    return e;
  }
  if (t == "increasing" || t == "decreasing") {
    auto e = std::make_shared<OrderExpectation>();
    ARROW_RETURN_NOT_OK(single(e).status());
    e->decreasing = t == "decreasing";
    ARROW_ASSIGN_OR_RAISE(e->strict, args->OptionalBool("strict", false));
    return e;
  }
  if (t == "column_pair_less" || t == "column_pair_equal") {
    auto e = std::make_shared<PairExpectation>();
    ARROW_ASSIGN_OR_RAISE(auto a, args->RequiredString("column_a"));
    ARROW_ASSIGN_OR_RAISE(auto b, args->RequiredString("column_b"));
    e->columns = {a, b};
    if (t == "column_pair_equal") {
      e->function = "equal";
    } else {
      ARROW_ASSIGN_OR_RAISE(bool or_equal, args->OptionalBool("or_equal", false));
      e->function = or_equal ? "less_equal" : "less";
    }
    return e;
  }
  if (t == "multicolumn_sum_equal") {
    auto e = std::make_shared<SumEqualExpectation>();
    ARROW_ASSIGN_OR_RAISE(e->columns, args->StringList("columns", 1));
    ARROW_ASSIGN_OR_RAISE(e->total, args->RequiredNumber("total"));
    return e;
  }
  if (t == "expression") {
    auto e = std::make_shared<ExpressionExpectation>();
    ARROW_ASSIGN_OR_RAISE(auto sql, args->RequiredString("expr"));
    auto node = expr::Parse(sql);
    if (!node.ok()) return args->Error("expr", node.status().message());
    e->node = *node;
    for (const auto& path : expr::ReferencedColumns(e->node)) {
      std::string top = path.substr(0, path.find('.'));
      if (std::find(e->columns.begin(), e->columns.end(), top) == e->columns.end()) e->columns.push_back(top);
    }
    return e;
  }
  return Status::Invalid("not a row expectation: ", t);
}

}  // namespace strata::quality::internal
