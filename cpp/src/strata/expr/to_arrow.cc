// ToArrow: column resolution, literal coercion and the translation to Arrow compute calls.
//
// Semantics follow Spark SQL in ANSI mode: arithmetic overflow and division by zero are errors
// (the *_checked kernels), `/` on integers divides as DOUBLE, boolean logic is Kleene, a string
// or TIMESTAMP without an offset is read as UTC.

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <unordered_map>
#include <limits>
#include <mutex>

#include <arrow/array/builder_base.h>
#include <arrow/array/util.h>
#include <arrow/record_batch.h>
#include <arrow/compute/api_scalar.h>
#include <arrow/compute/cast.h>
#include <arrow/compute/initialize.h>
#include <arrow/scalar.h>
#include <arrow/type.h>
#include <arrow/util/decimal.h>

#include "strata/expr/expr_internal.h"

namespace strata::expr {

namespace cp = arrow::compute;
using arrow::DataType;
using arrow::Scalar;
using arrow::Type;

// ---------------------------------------------------------------------------------------------
// Column resolution

namespace {

std::string ListNames(const arrow::FieldVector& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i == 20) {
      out += ", ... (" + std::to_string(fields.size()) + " in all)";
      break;
    }
    if (i > 0) out += ", ";
    out += fields[i]->name();
  }
  return out.empty() ? "none" : out;
}

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

/// Finds `name` among `fields`: exact match first, then a unique case-insensitive one.
Result<std::shared_ptr<arrow::Field>> FindField(const arrow::FieldVector& fields,
                                                const std::string& name,
                                                const std::string& context) {
  for (const auto& f : fields) {
    if (f->name() == name) return f;
  }
  std::vector<std::shared_ptr<arrow::Field>> matches;
  for (const auto& f : fields) {
    if (EqualsIgnoreCase(f->name(), name)) matches.push_back(f);
  }
  if (matches.size() == 1) return matches[0];
  if (matches.size() > 1) {
    return Error(ErrorCode::kInvalidArgument, "column reference '", name, "'", context,
                 " is ambiguous: it matches ", ListNames(matches), " case-insensitively");
  }
  if (context.empty()) {
    return Error(ErrorCode::kInvalidArgument, "unknown column '", name,
                 "' (available: ", ListNames(fields), ")");
  }
  return Error(ErrorCode::kInvalidArgument, "no field '", name, "'", context,
               " (fields: ", ListNames(fields), ")");
}

Result<ResolvedColumn> ResolveFrom(const std::vector<std::string>& path, size_t first,
                                   const arrow::Schema& schema) {
  ResolvedColumn out;
  const arrow::FieldVector* fields = &schema.fields();
  std::shared_ptr<arrow::Field> field;
  for (size_t i = first; i < path.size(); ++i) {
    if (fields == nullptr) {
      return Error(ErrorCode::kInvalidArgument, "column '", JoinPath(out.names), "' of type ",
                   field->type()->ToString(), " has no field '", path[i], "'");
    }
    const std::string context = out.names.empty() ? "" : " in struct '" + JoinPath(out.names) + "'";
    STRATA_ASSIGN_OR_RAISE(field, FindField(*fields, path[i], context));
    out.names.push_back(field->name());
    fields = field->type()->id() == Type::STRUCT ? &field->type()->fields() : nullptr;
  }
  out.type = field->type();
  out.dotted = JoinPath(out.names);
  return out;
}

}  // namespace

Result<ResolvedColumn> ResolveColumn(const std::vector<std::string>& path,
                                     const arrow::Schema& schema) {
  if (path.empty()) return Error(ErrorCode::kInvalidArgument, "empty column reference");
  auto full = ResolveFrom(path, 0, schema);
  if (full.ok() || path.size() == 1) return full;
  // `t.id`: a table alias qualifier, when `t` is not itself a column.
  auto unqualified = ResolveFrom(path, 1, schema);
  if (unqualified.ok() && !FindField(schema.fields(), path[0], "").ok()) return unqualified;
  return full;
}

// ---------------------------------------------------------------------------------------------
// Literals

std::shared_ptr<Scalar> LiteralScalar(const Literal& lit) {
  switch (lit.kind) {
    case LiteralKind::kNull: return arrow::MakeNullScalar(arrow::null());
    case LiteralKind::kBool: return std::make_shared<arrow::BooleanScalar>(lit.b);
    case LiteralKind::kInt: return std::make_shared<arrow::Int64Scalar>(lit.i);
    case LiteralKind::kDouble: return std::make_shared<arrow::DoubleScalar>(lit.d);
    case LiteralKind::kString: return std::make_shared<arrow::StringScalar>(lit.s);
    case LiteralKind::kDate:
      return std::make_shared<arrow::Date32Scalar>(static_cast<int32_t>(lit.i));
    case LiteralKind::kTimestamp:
      return std::make_shared<arrow::TimestampScalar>(
          lit.i, arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"));
    case LiteralKind::kTimestampNtz:
      return std::make_shared<arrow::TimestampScalar>(lit.i,
                                                      arrow::timestamp(arrow::TimeUnit::MICRO));
  }
  return arrow::MakeNullScalar(arrow::null());
}

namespace {

CoercedLiteral Exact(std::shared_ptr<Scalar> s) { return {Coercion::kExact, std::move(s)}; }
CoercedLiteral Inexact() { return {Coercion::kInexact, nullptr}; }
CoercedLiteral Incompatible() { return {Coercion::kIncompatible, nullptr}; }

bool IsInteger(Type::type id) { return arrow::is_integer(id); }
bool IsString(Type::type id) {
  return id == Type::STRING || id == Type::LARGE_STRING || id == Type::STRING_VIEW;
}
bool IsBinaryLike(Type::type id) {
  return IsString(id) || id == Type::BINARY || id == Type::LARGE_BINARY ||
         id == Type::BINARY_VIEW;
}

int64_t UnitsPerSecond(arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND: return 1;
    case arrow::TimeUnit::MILLI: return 1000;
    case arrow::TimeUnit::MICRO: return 1000000;
    case arrow::TimeUnit::NANO: return 1000000000;
  }
  return 1;
}

/// An instant (seconds + nanoseconds) in `unit`: nullopt when not representable exactly.
std::optional<int64_t> InstantIn(int64_t seconds, int64_t nanos, arrow::TimeUnit::type unit) {
  const int64_t per_second = UnitsPerSecond(unit);
  const int64_t nanos_per_unit = 1000000000 / per_second;
  if (nanos % nanos_per_unit != 0) return std::nullopt;
  int64_t v;
  if (__builtin_mul_overflow(seconds, per_second, &v) ||
      __builtin_add_overflow(v, nanos / nanos_per_unit, &v)) {
    return std::nullopt;
  }
  return v;
}

/// An integer in the range of integer type `id`, as a scalar of `type`.
std::optional<std::shared_ptr<Scalar>> IntegerScalar(int64_t v,
                                                     const std::shared_ptr<DataType>& type) {
  auto in = [v](int64_t lo, uint64_t hi) {
    return v >= lo && (v < 0 || static_cast<uint64_t>(v) <= hi);
  };
  switch (type->id()) {
    case Type::INT8:
      if (!in(INT8_MIN, INT8_MAX)) return std::nullopt;
      return std::make_shared<arrow::Int8Scalar>(static_cast<int8_t>(v));
    case Type::INT16:
      if (!in(INT16_MIN, INT16_MAX)) return std::nullopt;
      return std::make_shared<arrow::Int16Scalar>(static_cast<int16_t>(v));
    case Type::INT32:
      if (!in(INT32_MIN, INT32_MAX)) return std::nullopt;
      return std::make_shared<arrow::Int32Scalar>(static_cast<int32_t>(v));
    case Type::INT64:
      return std::make_shared<arrow::Int64Scalar>(v);
    case Type::UINT8:
      if (!in(0, UINT8_MAX)) return std::nullopt;
      return std::make_shared<arrow::UInt8Scalar>(static_cast<uint8_t>(v));
    case Type::UINT16:
      if (!in(0, UINT16_MAX)) return std::nullopt;
      return std::make_shared<arrow::UInt16Scalar>(static_cast<uint16_t>(v));
    case Type::UINT32:
      if (!in(0, UINT32_MAX)) return std::nullopt;
      return std::make_shared<arrow::UInt32Scalar>(static_cast<uint32_t>(v));
    case Type::UINT64:
      if (v < 0) return std::nullopt;
      return std::make_shared<arrow::UInt64Scalar>(static_cast<uint64_t>(v));
    default:
      return std::nullopt;
  }
}

CoercedLiteral FromInt(int64_t v, const std::shared_ptr<DataType>& type) {
  const auto id = type->id();
  if (IsInteger(id)) {
    auto s = IntegerScalar(v, type);
    return s ? Exact(*s) : Inexact();
  }
  // Spark compares an integer with a floating-point column as floating point.
  if (id == Type::DOUBLE) return Exact(std::make_shared<arrow::DoubleScalar>(static_cast<double>(v)));
  if (id == Type::FLOAT) return Exact(std::make_shared<arrow::FloatScalar>(static_cast<float>(v)));
  if (id == Type::DECIMAL128) {
    const auto& dec = static_cast<const arrow::Decimal128Type&>(*type);
    auto scaled = arrow::Decimal128(v).Rescale(0, dec.scale());
    if (!scaled.ok() || !scaled->FitsInPrecision(dec.precision())) return Inexact();
    return Exact(std::make_shared<arrow::Decimal128Scalar>(*scaled, type));
  }
  return Incompatible();
}

CoercedLiteral FromDouble(double v, const std::shared_ptr<DataType>& type) {
  const auto id = type->id();
  if (id == Type::DOUBLE) return Exact(std::make_shared<arrow::DoubleScalar>(v));
  if (id == Type::FLOAT) {
    const float f = static_cast<float>(v);
    if (!(static_cast<double>(f) == v) && !std::isnan(v)) return Inexact();
    return Exact(std::make_shared<arrow::FloatScalar>(f));
  }
  if (IsInteger(id)) {
    // Exactly integral and within int64 (2^63 is the first double past INT64_MAX).
    if (!(std::trunc(v) == v) || !(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) {
      return Inexact();
    }
    auto s = IntegerScalar(static_cast<int64_t>(v), type);
    return s ? Exact(*s) : Inexact();
  }
  if (id == Type::DECIMAL128) {
    const auto& dec = static_cast<const arrow::Decimal128Type&>(*type);
    if (!std::isfinite(v)) return Inexact();
    auto d = arrow::Decimal128::FromReal(v, dec.precision(), dec.scale());
    if (!d.ok() || d->ToDouble(dec.scale()) != v) return Inexact();
    return Exact(std::make_shared<arrow::Decimal128Scalar>(*d, type));
  }
  return Incompatible();
}

CoercedLiteral FromInstant(int64_t seconds, int64_t nanos, const std::shared_ptr<DataType>& type) {
  if (type->id() != Type::TIMESTAMP) return Incompatible();
  const auto unit = static_cast<const arrow::TimestampType&>(*type).unit();
  auto v = InstantIn(seconds, nanos, unit);
  if (!v) return Inexact();
  return Exact(std::make_shared<arrow::TimestampScalar>(*v, type));
}

/// Microseconds since the epoch as seconds (floored) and nanoseconds.
ParsedTimestamp FromMicros(int64_t micros) {
  ParsedTimestamp t;
  t.seconds = micros >= 0 ? micros / 1000000 : -((-(micros + 1)) / 1000000) - 1;
  t.nanos = static_cast<int32_t>((micros - t.seconds * 1000000) * 1000);
  return t;
}

CoercedLiteral FromDays(int64_t days, const std::shared_ptr<DataType>& type) {
  switch (type->id()) {
    case Type::DATE32: return Exact(std::make_shared<arrow::Date32Scalar>(static_cast<int32_t>(days)));
    case Type::DATE64: return Exact(std::make_shared<arrow::Date64Scalar>(days * 86400000));
    case Type::TIMESTAMP: return FromInstant(days * 86400, 0, type);
    default: return Incompatible();
  }
}

std::shared_ptr<Scalar> BinaryLikeScalar(const std::string& s, const std::shared_ptr<DataType>& type) {
  auto buf = arrow::Buffer::FromString(s);
  switch (type->id()) {
    case Type::STRING: return std::make_shared<arrow::StringScalar>(std::move(buf));
    case Type::LARGE_STRING: return std::make_shared<arrow::LargeStringScalar>(std::move(buf));
    case Type::STRING_VIEW: return std::make_shared<arrow::StringViewScalar>(std::move(buf));
    case Type::BINARY: return std::make_shared<arrow::BinaryScalar>(std::move(buf), type);
    case Type::LARGE_BINARY: return std::make_shared<arrow::LargeBinaryScalar>(std::move(buf), type);
    default: return std::make_shared<arrow::BinaryViewScalar>(std::move(buf), type);
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Result<CoercedLiteral> FromString(const std::string& s, const std::shared_ptr<DataType>& type) {
  const auto id = type->id();
  if (IsBinaryLike(id)) return Exact(BinaryLikeScalar(s, type));
  if (id == Type::DATE32 || id == Type::DATE64) {
    auto days = ParseDate(Trim(s));
    if (!days) {
      // A date-time string against a date column: compare as timestamps (see Unify).
      if (ParseTimestamp(Trim(s))) return Incompatible();
      return Error(ErrorCode::kInvalidArgument, "'", s, "' is not a valid DATE (YYYY-MM-DD)");
    }
    return FromDays(*days, type);
  }
  if (id == Type::TIMESTAMP) {
    auto ts = ParseTimestamp(Trim(s));
    if (!ts) {
      return Error(ErrorCode::kInvalidArgument, "'", s,
                   "' is not a valid TIMESTAMP (YYYY-MM-DD[ hh:mm:ss[.fffffffff]][Z|+hh:mm])");
    }
    return FromInstant(ts->seconds, ts->nanos, type);
  }
  if (IsInteger(id)) {
    std::string_view t = Trim(s);
    int64_t v;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || ptr != t.data() + t.size()) return Incompatible();
    return FromInt(v, type);
  }
  if (id == Type::DOUBLE || id == Type::FLOAT) {
    std::string t(Trim(s));
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size()) return Incompatible();
    return FromDouble(v, type);
  }
  return Incompatible();
}

}  // namespace

Result<CoercedLiteral> CoerceLiteral(const Literal& lit, const std::shared_ptr<DataType>& type) {
  if (lit.kind == LiteralKind::kNull) return Exact(arrow::MakeNullScalar(type));
  switch (lit.kind) {
    case LiteralKind::kBool:
      if (type->id() != Type::BOOL) return Incompatible();
      return Exact(std::make_shared<arrow::BooleanScalar>(lit.b));
    case LiteralKind::kInt: return FromInt(lit.i, type);
    case LiteralKind::kDouble: return FromDouble(lit.d, type);
    case LiteralKind::kString: return FromString(lit.s, type);
    case LiteralKind::kDate: return FromDays(lit.i, type);
    case LiteralKind::kTimestamp:
    case LiteralKind::kTimestampNtz: {
      const ParsedTimestamp t = FromMicros(lit.i);
      return FromInstant(t.seconds, t.nanos, type);
    }
    default: return Incompatible();
  }
}

// ---------------------------------------------------------------------------------------------
// Translation

namespace {

/// An Arrow expression with what we know about it.
struct Typed {
  cp::Expression expr;
  std::shared_ptr<DataType> type;  ///< null while unknown (see Translator::TypeOf)
  const Literal* literal = nullptr;  ///< set while the expression is an uncoerced literal

  bool is_null_literal() const { return literal && literal->kind == LiteralKind::kNull; }
};

/// -0.0 for 0.0 and the reverse; null for anything else.
std::shared_ptr<Scalar> NegatedZero(const Scalar& s) {
  if (!s.is_valid) return nullptr;
  if (s.type->id() == Type::DOUBLE) {
    const double v = static_cast<const arrow::DoubleScalar&>(s).value;
    if (v == 0) return std::make_shared<arrow::DoubleScalar>(-v);
  }
  if (s.type->id() == Type::FLOAT) {
    const float v = static_cast<const arrow::FloatScalar&>(s).value;
    if (v == 0) return std::make_shared<arrow::FloatScalar>(-v);
  }
  return nullptr;
}

Typed FromScalar(std::shared_ptr<Scalar> s) {
  Typed t;
  t.type = s->type;
  t.expr = cp::literal(std::move(s));
  return t;
}

Typed Call(std::string fn, std::vector<cp::Expression> args,
           std::shared_ptr<cp::FunctionOptions> options = nullptr,
           std::shared_ptr<DataType> type = nullptr) {
  Typed t;
  t.expr = cp::call(std::move(fn), std::move(args), std::move(options));
  t.type = std::move(type);
  return t;
}

/// Balanced so that long AND/OR chains do not make deep Arrow expressions.
cp::Expression Balanced(const char* fn, const std::vector<cp::Expression>& terms, size_t lo,
                        size_t hi) {
  if (hi - lo == 1) return terms[lo];
  const size_t mid = lo + (hi - lo) / 2;
  return cp::call(fn, {Balanced(fn, terms, lo, mid), Balanced(fn, terms, mid, hi)});
}

cp::Expression Cast(cp::Expression e, std::shared_ptr<DataType> to) {
  return cp::call("cast", {std::move(e)}, cp::CastOptions::Safe(std::move(to)));
}

/// Integer to DOUBLE, rounding beyond 2^53 as SQL does (Arrow's safe cast refuses).
cp::Expression ToDouble(cp::Expression e) {
  return cp::call("cast", {std::move(e)}, cp::CastOptions::Unsafe(arrow::float64()));
}

bool IsTemporal(const std::shared_ptr<DataType>& t) {
  return t && (t->id() == Type::TIMESTAMP || t->id() == Type::DATE32 || t->id() == Type::DATE64);
}

arrow::TimeUnit::type FinerUnit(arrow::TimeUnit::type a, arrow::TimeUnit::type b) {
  return static_cast<int>(a) > static_cast<int>(b) ? a : b;
}

/// The coarsest unit holding `nanos` exactly.
arrow::TimeUnit::type UnitFor(int64_t nanos) {
  if (nanos % 1000000000 == 0) return arrow::TimeUnit::SECOND;
  if (nanos % 1000000 == 0) return arrow::TimeUnit::MILLI;
  if (nanos % 1000 == 0) return arrow::TimeUnit::MICRO;
  return arrow::TimeUnit::NANO;
}

class Translator {
 public:
  explicit Translator(const arrow::Schema& schema) : schema_(schema) {}

  Result<Typed> Convert(const Node& node) {
    const auto& c = node.children;
    switch (node.kind) {
      case NodeKind::kLiteral: {
        Typed t = FromScalar(LiteralScalar(node.literal));
        t.literal = &node.literal;
        return t;
      }
      case NodeKind::kColumn: {
        STRATA_ASSIGN_OR_RAISE(auto col, ResolveColumn(node.path, schema_));
        std::vector<arrow::FieldRef> refs(col.names.begin(), col.names.end());
        Typed t;
        t.expr = cp::field_ref(refs.size() == 1 ? refs[0] : arrow::FieldRef(std::move(refs)));
        t.type = col.type;
        return t;
      }
      case NodeKind::kNot: {
        STRATA_ASSIGN_OR_RAISE(auto x, ConvertBool(*c[0]));
        return Call("invert", {x.expr}, nullptr, arrow::boolean());
      }
      case NodeKind::kAnd:
      case NodeKind::kOr: {
        std::vector<cp::Expression> terms;
        for (const auto& child : c) {
          STRATA_ASSIGN_OR_RAISE(auto x, ConvertBool(*child));
          terms.push_back(std::move(x.expr));
        }
        Typed t;
        t.expr = Balanced(node.kind == NodeKind::kAnd ? "and_kleene" : "or_kleene", terms, 0,
                          terms.size());
        t.type = arrow::boolean();
        return t;
      }
      case NodeKind::kCompare: {
        STRATA_ASSIGN_OR_RAISE(auto a, Convert(*c[0]));
        STRATA_ASSIGN_OR_RAISE(auto b, Convert(*c[1]));
        return Compare(node.cmp, std::move(a), std::move(b));
      }
      case NodeKind::kArith:
        return Arith(node);
      case NodeKind::kNegate: {
        STRATA_ASSIGN_OR_RAISE(auto x, Convert(*c[0]));
        if (x.is_null_literal()) return x;
        return Call("negate_checked", {x.expr}, nullptr, x.type);
      }
      case NodeKind::kIsNull: {
        STRATA_ASSIGN_OR_RAISE(auto x, Convert(*c[0]));
        return Call(node.negated ? "is_valid" : "is_null", {x.expr},
                    node.negated ? nullptr : std::make_shared<cp::NullOptions>(false),
                    arrow::boolean());
      }
      case NodeKind::kIsBool: {
        STRATA_ASSIGN_OR_RAISE(auto x, ConvertBool(*c[0]));
        cp::Expression e = node.truth ? x.expr : cp::call("invert", {x.expr});
        // coalesce(x, false) is x IS TRUE: it never yields NULL.
        e = cp::call("coalesce", {std::move(e), cp::literal(false)});
        if (node.negated) e = cp::call("invert", {std::move(e)});
        Typed t;
        t.expr = std::move(e);
        t.type = arrow::boolean();
        return t;
      }
      case NodeKind::kIn:
        return In(node);
      case NodeKind::kBetween: {
        STRATA_ASSIGN_OR_RAISE(auto x, Convert(*c[0]));
        STRATA_ASSIGN_OR_RAISE(auto lo, Convert(*c[1]));
        STRATA_ASSIGN_OR_RAISE(auto hi, Convert(*c[2]));
        STRATA_ASSIGN_OR_RAISE(auto ge, Compare(CompareOp::kGe, x, std::move(lo)));
        STRATA_ASSIGN_OR_RAISE(auto le, Compare(CompareOp::kLe, std::move(x), std::move(hi)));
        cp::Expression e = cp::call("and_kleene", {ge.expr, le.expr});
        if (node.negated) e = cp::call("invert", {std::move(e)});
        Typed t;
        t.expr = std::move(e);
        t.type = arrow::boolean();
        return t;
      }
      case NodeKind::kLike: {
        STRATA_ASSIGN_OR_RAISE(auto x, Convert(*c[0]));
        if (x.is_null_literal()) x = FromScalar(arrow::MakeNullScalar(arrow::utf8()));
        cp::Expression e =
            cp::call("match_like", {x.expr}, cp::MatchSubstringOptions(node.literal.s));
        if (node.negated) e = cp::call("invert", {std::move(e)});
        Typed t;
        t.expr = std::move(e);
        t.type = arrow::boolean();
        return t;
      }
      case NodeKind::kCast: {
        STRATA_ASSIGN_OR_RAISE(auto x, Convert(*c[0]));
        if (x.is_null_literal()) return FromScalar(arrow::MakeNullScalar(node.cast_type));
        auto options = std::make_shared<cp::CastOptions>(cp::CastOptions::Safe(node.cast_type));
        // Integer to floating point rounds, as in SQL; other lossy casts are errors.
        auto from = TypeOf(&x);
        const auto to = node.cast_type->id();
        if (from && IsInteger(from->id()) && (to == Type::DOUBLE || to == Type::FLOAT)) {
          options->allow_float_truncate = true;
        }
        return Call("cast", {x.expr}, std::move(options), node.cast_type);
      }
      case NodeKind::kCall:
        return Function(node);
    }
    return Error(ErrorCode::kInvalidArgument, "unsupported expression");
  }

  /// The type `t` evaluates to, binding it when not yet known; null if it does not bind.
  std::shared_ptr<DataType> TypeOf(Typed* t) {
    if (!t->type) {
      auto bound = t->expr.Bind(schema_);
      if (bound.ok() && bound->type() != nullptr) t->type = bound->type()->GetSharedPtr();
    }
    return t->type;
  }

 private:
  Result<Typed> ConvertBool(const Node& node) {
    STRATA_ASSIGN_OR_RAISE(auto x, Convert(node));
    if (x.is_null_literal()) return FromScalar(arrow::MakeNullScalar(arrow::boolean()));
    return x;
  }

  /// Replaces literal `lit` by its value in `target`'s type when that is exact.
  Result<Coercion> CoerceTo(Typed* lit, const std::shared_ptr<DataType>& type) {
    STRATA_ASSIGN_OR_RAISE(auto coerced, CoerceLiteral(*lit->literal, type));
    if (coerced.outcome == Coercion::kExact) {
      *lit = FromScalar(std::move(coerced.scalar));
    }
    return coerced.outcome;
  }

  /// Brings the two operands of a comparison or arithmetic to types Arrow accepts together,
  /// preferring to move the literal to the column's type.
  Status Unify(Typed* a, Typed* b) {
    STRATA_RETURN_NOT_OK(UnifyTemporal(a, b));
    // Arrow's implicit integer-to-float cast refuses integers beyond 2^53; SQL rounds them.
    auto ta = TypeOf(a);
    auto tb = TypeOf(b);
    if (ta && tb && IsInteger(ta->id()) != IsInteger(tb->id())) {
      Typed* integer = IsInteger(ta->id()) ? a : b;
      const auto other = IsInteger(ta->id()) ? tb->id() : ta->id();
      if (other == Type::DOUBLE || other == Type::FLOAT) {
        integer->expr = ToDouble(std::move(integer->expr));
        integer->type = arrow::float64();
      }
    }
    return Status::OK();
  }

  Status UnifyTemporal(Typed* a, Typed* b) {
    if (a->literal && b->literal) return Status::OK();
    if (a->literal || b->literal) {
      Typed* lit = a->literal ? a : b;
      Typed* other = a->literal ? b : a;
      auto type = TypeOf(other);
      if (!type) return Status::OK();
      STRATA_ASSIGN_OR_RAISE(auto outcome, CoerceTo(lit, type));
      if (outcome == Coercion::kExact || !IsTemporal(type)) return Status::OK();
      // Temporal literal that the column's type cannot hold (a microsecond against a
      // timestamp[s] column, a TIMESTAMP against a date column): widen the column.
      std::optional<ParsedTimestamp> instant;
      const Literal& l = *lit->literal;
      if (l.kind == LiteralKind::kTimestamp || l.kind == LiteralKind::kTimestampNtz) {
        instant = FromMicros(l.i);
      } else if (l.kind == LiteralKind::kString) {
        instant = ParseTimestamp(Trim(l.s));
      } else if (l.kind == LiteralKind::kDate) {
        instant = ParsedTimestamp{l.i * 86400, 0, false};
      }
      if (!instant) return Status::OK();
      auto unit = UnitFor(instant->nanos);
      std::string tz = l.kind == LiteralKind::kTimestamp ? "UTC" : "";
      if (type->id() == Type::TIMESTAMP) {
        const auto& ts = static_cast<const arrow::TimestampType&>(*type);
        unit = FinerUnit(unit, ts.unit());
        tz = ts.timezone();
      }
      auto target = arrow::timestamp(unit, tz);
      auto coerced = FromInstant(instant->seconds, instant->nanos, target);
      if (coerced.outcome != Coercion::kExact) return Status::OK();
      *lit = FromScalar(std::move(coerced.scalar));
      other->expr = Cast(std::move(other->expr), target);
      other->type = target;
      return Status::OK();
    }
    // Two non-literals: Arrow refuses to compare zoned with zone-less timestamps, and dates
    // with zoned timestamps. A zone-less value is read as UTC, as literals are.
    auto ta = TypeOf(a);
    auto tb = TypeOf(b);
    if (!IsTemporal(ta) || !IsTemporal(tb) || ta->Equals(*tb)) return Status::OK();
    auto tz_of = [](const std::shared_ptr<DataType>& t) {
      return t->id() == Type::TIMESTAMP ? static_cast<const arrow::TimestampType&>(*t).timezone()
                                        : std::string();
    };
    auto unit_of = [](const std::shared_ptr<DataType>& t) {
      return t->id() == Type::TIMESTAMP ? static_cast<const arrow::TimestampType&>(*t).unit()
                                        : arrow::TimeUnit::SECOND;
    };
    if (ta->id() != Type::TIMESTAMP && tb->id() != Type::TIMESTAMP) return Status::OK();
    const std::string tz = tz_of(ta).empty() ? tz_of(tb) : tz_of(ta);
    auto target = arrow::timestamp(FinerUnit(unit_of(ta), unit_of(tb)), tz);
    for (Typed* side : {a, b}) {
      if (side->type->Equals(*target)) continue;
      side->expr = Cast(std::move(side->expr), target);
      side->type = target;
    }
    return Status::OK();
  }

  Result<Typed> Compare(CompareOp op, Typed a, Typed b) {
    if (op == CompareOp::kNullSafeEq) {
      if (a.is_null_literal() && b.is_null_literal()) return FromScalar(arrow::MakeScalar(true));
      if (a.is_null_literal() || b.is_null_literal()) {
        Typed& x = a.is_null_literal() ? b : a;
        return Call("is_null", {x.expr}, nullptr, arrow::boolean());
      }
      STRATA_RETURN_NOT_OK(Unify(&a, &b));
      // a <=> b: equal(a, b) when both are set, else whether both are NULL.
      return Call("coalesce",
                  {cp::call("equal", {a.expr, b.expr}),
                   cp::call("and_kleene", {cp::call("is_null", {a.expr}),
                                           cp::call("is_null", {b.expr})})},
                  nullptr, arrow::boolean());
    }
    if (a.is_null_literal() || b.is_null_literal()) {
      // Any comparison with NULL is NULL.
      return FromScalar(arrow::MakeNullScalar(arrow::boolean()));
    }
    STRATA_RETURN_NOT_OK(Unify(&a, &b));
    static constexpr const char* kNames[] = {"equal",   "not_equal",     "less",
                                             "less_equal", "greater", "greater_equal"};
    return Call(kNames[static_cast<int>(op)], {a.expr, b.expr}, nullptr, arrow::boolean());
  }

  Result<Typed> Arith(const Node& node) {
    STRATA_ASSIGN_OR_RAISE(auto a, Convert(*node.children[0]));
    STRATA_ASSIGN_OR_RAISE(auto b, Convert(*node.children[1]));
    if (a.is_null_literal() && b.is_null_literal()) return a;
    STRATA_RETURN_NOT_OK(Unify(&a, &b));
    if (node.arith == ArithOp::kDiv) {
      // Spark's `/` divides integers as DOUBLE.
      auto ta = TypeOf(&a);
      auto tb = TypeOf(&b);
      if (ta && tb && IsInteger(ta->id()) && IsInteger(tb->id())) {
        a.expr = ToDouble(std::move(a.expr));
        b.expr = ToDouble(std::move(b.expr));
      }
    }
    static constexpr const char* kNames[] = {"add_checked", "subtract_checked",
                                             "multiply_checked", "divide_checked",
                                             "remainder_checked"};
    return Call(kNames[static_cast<int>(node.arith)], {a.expr, b.expr});
  }

  Result<Typed> In(const Node& node) {
    const auto& c = node.children;
    STRATA_ASSIGN_OR_RAISE(auto x, Convert(*c[0]));
    auto finish = [&](cp::Expression e) {
      if (node.negated) e = cp::call("invert", {std::move(e)});
      Typed t;
      t.expr = std::move(e);
      t.type = arrow::boolean();
      return t;
    };
    bool all_literals = true;
    for (size_t i = 1; i < c.size(); ++i) all_literals &= c[i]->kind == NodeKind::kLiteral;
    auto type = x.is_null_literal() ? nullptr : TypeOf(&x);
    if (all_literals && type) {
      std::vector<std::shared_ptr<Scalar>> values;
      bool usable = true;
      for (size_t i = 1; i < c.size() && usable; ++i) {
        STRATA_ASSIGN_OR_RAISE(auto coerced, CoerceLiteral(c[i]->literal, type));
        if (coerced.outcome == Coercion::kInexact) continue;  // no value of `type` equals it
        // Values that need the column widened (a TIMESTAMP against a date column) go through
        // the comparison path below.
        usable = coerced.outcome == Coercion::kExact;
        values.push_back(std::move(coerced.scalar));
      }
      if (usable) {
        STRATA_ASSIGN_OR_RAISE(auto builder, arrow::MakeBuilder(type));
        for (const auto& v : values) {
          STRATA_RETURN_NOT_OK(builder->AppendScalar(*v));
          // is_in hashes floats by bit pattern; SQL has -0.0 = 0.0.
          if (auto zero = NegatedZero(*v)) STRATA_RETURN_NOT_OK(builder->AppendScalar(*zero));
        }
        STRATA_ASSIGN_OR_RAISE(auto value_set, builder->Finish());
        // INCONCLUSIVE is SQL's rule: NULL input, or no match with a NULL in the list, is
        // NULL.
        return finish(cp::call("is_in", {x.expr},
                               cp::SetLookupOptions(value_set,
                                                    cp::SetLookupOptions::INCONCLUSIVE)));
      }
    }
    std::vector<cp::Expression> terms;
    for (size_t i = 1; i < c.size(); ++i) {
      STRATA_ASSIGN_OR_RAISE(auto item, Convert(*c[i]));
      STRATA_ASSIGN_OR_RAISE(auto eq, Compare(CompareOp::kEq, x, std::move(item)));
      terms.push_back(std::move(eq.expr));
    }
    return finish(Balanced("or_kleene", terms, 0, terms.size()));
  }

  /// Integer literal argument of a function (substring positions).
  Result<int64_t> IntArg(const Node& call, size_t i) {
    const Node& arg = *call.children[i];
    if (arg.kind != NodeKind::kLiteral || arg.literal.kind != LiteralKind::kInt) {
      return Error(ErrorCode::kInvalidArgument, "argument ", i + 1, " of ", call.function,
                   " must be an integer literal, got ", ToString(call.children[i]));
    }
    return arg.literal.i;
  }

  Result<Typed> Function(const Node& node) {
    const std::string& fn = node.function;
    std::vector<Typed> args;
    for (const auto& child : node.children) {
      STRATA_ASSIGN_OR_RAISE(auto a, Convert(*child));
      args.push_back(std::move(a));
    }
    // A bare NULL argument takes the type the function expects.
    auto null_as = [&](const std::shared_ptr<DataType>& type) {
      for (auto& a : args) {
        if (a.is_null_literal()) a = FromScalar(arrow::MakeNullScalar(type));
      }
    };
    static const std::unordered_map<std::string, std::string> kStringFns = {
        {"lower", "utf8_lower"},
        {"upper", "utf8_upper"},
        {"length", "utf8_length"},
        {"trim", "utf8_trim_whitespace"},
        {"ltrim", "utf8_ltrim_whitespace"},
        {"rtrim", "utf8_rtrim_whitespace"}};
    if (auto it = kStringFns.find(fn); it != kStringFns.end()) {
      null_as(arrow::utf8());
      return Call(it->second, {args[0].expr});
    }
    if (fn == "abs") {
      null_as(arrow::int64());
      return Call("abs_checked", {args[0].expr}, nullptr, args[0].type);
    }
    if (fn == "year" || fn == "month" || fn == "day" || fn == "hour" || fn == "minute" ||
        fn == "second") {
      null_as(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"));
      return Call(fn, {args[0].expr}, nullptr, arrow::int64());
    }
    if (fn == "substring") {
      null_as(arrow::utf8());
      // Spark: 1-based position, 0 counts as 1, negative counts from the end; a length runs
      // from there. Arrow clamps out-of-range bounds the same way.
      STRATA_ASSIGN_OR_RAISE(int64_t pos, IntArg(node, 1));
      int64_t start = pos > 0 ? pos - 1 : pos;
      int64_t stop = std::numeric_limits<int64_t>::max();
      if (node.children.size() == 3) {
        STRATA_ASSIGN_OR_RAISE(int64_t len, IntArg(node, 2));
        if (len <= 0) {
          stop = start;
        } else if (__builtin_add_overflow(start, len, &stop) || (start < 0 && stop >= 0)) {
          stop = std::numeric_limits<int64_t>::max();
        }
      }
      return Call("utf8_slice_codeunits", {args[0].expr},
                  std::make_shared<cp::SliceOptions>(start, stop));
    }
    if (fn == "concat") {
      null_as(arrow::utf8());
      std::vector<cp::Expression> parts;
      for (auto& a : args) {
        auto type = TypeOf(&a);
        parts.push_back(type && !IsString(type->id()) ? Cast(a.expr, arrow::utf8()) : a.expr);
      }
      parts.push_back(cp::literal(""));  // the separator
      return Call("binary_join_element_wise", std::move(parts),
                  std::make_shared<cp::JoinOptions>(), arrow::utf8());
    }
    if (fn == "coalesce") {
      std::shared_ptr<DataType> type;
      for (auto& a : args) {
        if (!a.literal && (type = TypeOf(&a))) break;
      }
      if (!type) {
        for (auto& a : args) {
          if (!a.is_null_literal()) {
            type = a.type;
            break;
          }
        }
      }
      if (!type) return args[0];  // all NULL
      for (auto& a : args) {
        if (a.literal) STRATA_RETURN_NOT_OK(CoerceTo(&a, type).status());
      }
      std::vector<cp::Expression> exprs;
      for (auto& a : args) exprs.push_back(a.expr);
      return Call("coalesce", std::move(exprs));
    }
    return Error(ErrorCode::kInvalidArgument, "unknown function '", fn, "'");
  }

  const arrow::Schema& schema_;
};

}  // namespace

Result<cp::Expression> ToArrow(const NodePtr& node, const arrow::Schema& schema) {
  if (!node) return Error(ErrorCode::kInvalidArgument, "null expression");
  // Kernels live in libarrow_compute since Arrow 21 and must be registered once.
  static const Status init = cp::Initialize();
  STRATA_RETURN_NOT_OK(init);
  Translator translator(schema);
  auto converted = translator.Convert(*node);
  if (!converted.ok()) {
    return WithContext(converted.status(), "expression '" + ToString(node) + "'");
  }
  // Binding here turns type mismatches into errors now rather than at evaluation.
  auto bound = converted->expr.Bind(schema);
  if (!bound.ok()) {
    return Error(ErrorCode::kInvalidArgument, "expression '", ToString(node),
                 "' does not type-check: ", bound.status().message());
  }
  return std::move(converted->expr);
}

Result<std::shared_ptr<arrow::Array>> Evaluate(const NodePtr& node,
                                               const std::shared_ptr<arrow::RecordBatch>& batch) {
  ARROW_ASSIGN_OR_RAISE(auto e, ToArrow(node, *batch->schema()));
  ARROW_ASSIGN_OR_RAISE(e, e.Bind(*batch->schema()));
  ARROW_ASSIGN_OR_RAISE(auto v, arrow::compute::ExecuteScalarExpression(e, *batch->schema(), batch));
  if (v.is_scalar()) return arrow::MakeArrayFromScalar(*v.scalar(), batch->num_rows());
  return v.make_array();
}

}  // namespace strata::expr
