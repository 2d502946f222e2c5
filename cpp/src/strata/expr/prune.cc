// MayMatch: which outcomes (TRUE, FALSE, NULL) a predicate can take on some row of a file,
// judged from per-column min/max/null counts. Every answer over-approximates the set of
// outcomes, so "TRUE is impossible" is only ever claimed when it is.

#include <cmath>
#include <cstring>

#include <arrow/scalar.h>
#include <arrow/type.h>
#include <arrow/util/decimal.h>

#include "strata/expr/expr_internal.h"

namespace strata::expr {

using arrow::Scalar;
using arrow::Type;

// ---------------------------------------------------------------------------------------------
// Scalar comparison

namespace {

template <typename T>
int Cmp(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

std::optional<__int128> IntegerValue(const Scalar& s) {
  switch (s.type->id()) {
    case Type::INT8: return static_cast<const arrow::Int8Scalar&>(s).value;
    case Type::INT16: return static_cast<const arrow::Int16Scalar&>(s).value;
    case Type::INT32: return static_cast<const arrow::Int32Scalar&>(s).value;
    case Type::INT64: return static_cast<const arrow::Int64Scalar&>(s).value;
    case Type::UINT8: return static_cast<const arrow::UInt8Scalar&>(s).value;
    case Type::UINT16: return static_cast<const arrow::UInt16Scalar&>(s).value;
    case Type::UINT32: return static_cast<const arrow::UInt32Scalar&>(s).value;
    case Type::UINT64: return static_cast<const arrow::UInt64Scalar&>(s).value;
    default: return std::nullopt;
  }
}

std::optional<double> FloatValue(const Scalar& s) {
  switch (s.type->id()) {
    case Type::FLOAT: return static_cast<const arrow::FloatScalar&>(s).value;
    case Type::DOUBLE: return static_cast<const arrow::DoubleScalar&>(s).value;
    default: return std::nullopt;
  }
}

std::optional<std::string_view> BytesValue(const Scalar& s) {
  if (!arrow::is_base_binary_like(s.type->id()) && !arrow::is_binary_view_like(s.type->id())) {
    return std::nullopt;
  }
  const auto& b = static_cast<const arrow::BaseBinaryScalar&>(s);
  if (!b.value) return std::string_view();
  return std::string_view(reinterpret_cast<const char*>(b.value->data()),
                          static_cast<size_t>(b.value->size()));
}

bool IsFloating(const arrow::DataType& t) {
  return t.id() == Type::FLOAT || t.id() == Type::DOUBLE || t.id() == Type::HALF_FLOAT;
}

}  // namespace

std::optional<int> CompareScalars(const Scalar& a, const Scalar& b) {
  if (!a.is_valid || !b.is_valid) return std::nullopt;
  if (auto x = IntegerValue(a)) {
    if (auto y = IntegerValue(b)) return Cmp(*x, *y);
    return std::nullopt;
  }
  if (auto x = FloatValue(a)) {
    auto y = FloatValue(b);
    if (!y || std::isnan(*x) || std::isnan(*y)) return std::nullopt;
    return Cmp(*x, *y);
  }
  if (auto x = BytesValue(a)) {
    auto y = BytesValue(b);
    if (!y) return std::nullopt;
    // Byte order, as Arrow compares strings.
    const int c = x->compare(*y);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  const auto id = a.type->id();
  if (id != b.type->id()) return std::nullopt;
  switch (id) {
    case Type::BOOL:
      return Cmp(static_cast<const arrow::BooleanScalar&>(a).value,
                 static_cast<const arrow::BooleanScalar&>(b).value);
    case Type::DATE32:
      return Cmp(static_cast<const arrow::Date32Scalar&>(a).value,
                 static_cast<const arrow::Date32Scalar&>(b).value);
    case Type::DATE64:
      return Cmp(static_cast<const arrow::Date64Scalar&>(a).value,
                 static_cast<const arrow::Date64Scalar&>(b).value);
    case Type::TIMESTAMP: {
      // Values are UTC instants whatever the zone label, so only the unit must agree.
      const auto& ta = static_cast<const arrow::TimestampType&>(*a.type);
      const auto& tb = static_cast<const arrow::TimestampType&>(*b.type);
      if (ta.unit() != tb.unit()) return std::nullopt;
      return Cmp(static_cast<const arrow::TimestampScalar&>(a).value,
                 static_cast<const arrow::TimestampScalar&>(b).value);
    }
    case Type::DECIMAL128: {
      const auto& ta = static_cast<const arrow::Decimal128Type&>(*a.type);
      const auto& tb = static_cast<const arrow::Decimal128Type&>(*b.type);
      if (ta.scale() != tb.scale()) return std::nullopt;
      return Cmp(static_cast<const arrow::Decimal128Scalar&>(a).value,
                 static_cast<const arrow::Decimal128Scalar&>(b).value);
    }
    default:
      return std::nullopt;
  }
}

// ---------------------------------------------------------------------------------------------
// Outcome analysis

namespace {

/// Set of outcomes a predicate may take on some row.
using Outcomes = uint8_t;
constexpr Outcomes kTrue = 1, kFalse = 2, kNull = 4, kAny = 7;

Outcomes Not(Outcomes s) {
  return static_cast<Outcomes>((s & kNull) | ((s & kTrue) ? kFalse : 0) | ((s & kFalse) ? kTrue : 0));
}

Outcomes And(Outcomes a, Outcomes b) {
  Outcomes out = 0;
  if ((a & kTrue) && (b & kTrue)) out |= kTrue;
  if ((a & kFalse) || (b & kFalse)) out |= kFalse;
  if (((a & kNull) && (b & (kNull | kTrue))) || ((a & kTrue) && (b & kNull))) out |= kNull;
  return out;
}

Outcomes Or(Outcomes a, Outcomes b) { return Not(And(Not(a), Not(b))); }

/// What the statistics say about one column.
struct ColumnFacts {
  std::shared_ptr<arrow::DataType> type;
  std::shared_ptr<Scalar> min, max;  ///< null unless valid
  bool nulls_possible = true;
  bool values_possible = true;  ///< some row holds a non-null value
  bool nan_possible = false;    ///< floating point: NaN is outside min/max

  Outcomes NullPart() const { return nulls_possible ? kNull : 0; }
};

/// Where `v` lies relative to [min, max]: each result is "may hold" (true when unknown).
struct RangeRelation {
  bool some_lt = true, some_eq = true, some_gt = true;  ///< a value <, =, > v may exist
};

RangeRelation Relate(const ColumnFacts& f, const Scalar& v) {
  RangeRelation r;
  const auto lo = f.min ? CompareScalars(*f.min, v) : std::nullopt;
  const auto hi = f.max ? CompareScalars(*f.max, v) : std::nullopt;
  if (lo) {
    r.some_lt = *lo < 0;
    if (*lo > 0) r.some_eq = false;
  }
  if (hi) {
    r.some_gt = *hi > 0;
    if (*hi < 0) r.some_eq = false;
  }
  // min == max == v: every value equals v.
  return r;
}

class Pruner {
 public:
  Pruner(const arrow::Schema& schema, const StatsProvider& stats)
      : schema_(schema), stats_(stats), num_records_(stats.num_records()) {}

  Outcomes Eval(const Node& node) {
    const auto& c = node.children;
    switch (node.kind) {
      case NodeKind::kLiteral:
        if (node.literal.kind == LiteralKind::kNull) return kNull;
        if (node.literal.kind == LiteralKind::kBool) return node.literal.b ? kTrue : kFalse;
        return kTrue | kFalse;  // some non-null value
      case NodeKind::kColumn: {
        auto f = Facts(node);
        if (!f) return kAny;
        Outcomes out = f->NullPart();
        if (!f->values_possible) return out;
        if (f->type->id() != Type::BOOL) return out | kTrue | kFalse;
        auto as_bool = [](const std::shared_ptr<Scalar>& s) -> const arrow::BooleanScalar* {
          if (!s || s->type->id() != Type::BOOL) return nullptr;
          return static_cast<const arrow::BooleanScalar*>(s.get());
        };
        const auto* mx = as_bool(f->max);
        const auto* mn = as_bool(f->min);
        if (!mx || mx->value) out |= kTrue;
        if (!mn || !mn->value) out |= kFalse;
        return out;
      }
      case NodeKind::kNot:
        return Not(Eval(*c[0]));
      case NodeKind::kAnd:
      case NodeKind::kOr: {
        Outcomes acc = Eval(*c[0]);
        for (size_t i = 1; i < c.size(); ++i) {
          acc = node.kind == NodeKind::kAnd ? And(acc, Eval(*c[i])) : Or(acc, Eval(*c[i]));
        }
        return acc;
      }
      case NodeKind::kCompare:
        return Compare(node.cmp, *c[0], *c[1]);
      case NodeKind::kIsNull: {
        const Outcomes s = Eval(*c[0]);
        Outcomes out = 0;
        if (s & kNull) out |= kTrue;
        if (s & (kTrue | kFalse)) out |= kFalse;
        return node.negated ? Not(out) : out;
      }
      case NodeKind::kIsBool: {
        const Outcomes s = Eval(*c[0]);
        const Outcomes hit = node.truth ? kTrue : kFalse;
        Outcomes out = 0;
        if (s & hit) out |= kTrue;
        if (s & ~hit & kAny) out |= kFalse;
        return node.negated ? Not(out) : out;
      }
      case NodeKind::kIn: {
        const Outcomes s = In(node);
        return node.negated ? Not(s) : s;
      }
      case NodeKind::kBetween: {
        const Outcomes s = Between(node);
        return node.negated ? Not(s) : s;
      }
      case NodeKind::kLike: {
        const Outcomes s = Like(node);
        return node.negated ? Not(s) : s;
      }
      default:
        // Arithmetic, casts and functions: no reasoning, except that NULL in gives NULL out
        // is not assumed either.
        return kAny;
    }
  }

 private:
  /// Facts about a column node; nullopt when the column or its statistics are unknown.
  std::optional<ColumnFacts> Facts(const Node& column) {
    auto resolved = ResolveColumn(column.path, schema_);
    if (!resolved.ok()) return std::nullopt;
    auto stats = stats_.column(resolved->dotted);
    ColumnFacts f;
    f.type = resolved->type;
    f.nan_possible = IsFloating(*f.type);
    if (!stats) return f;
    auto usable = [&](const std::shared_ptr<Scalar>& s) -> std::shared_ptr<Scalar> {
      if (!s || !s->is_valid) return nullptr;
      if (auto v = FloatValue(*s); v && std::isnan(*v)) return nullptr;
      return s;
    };
    f.min = usable(stats->min);
    f.max = usable(stats->max);
    if (stats->null_count) {
      f.nulls_possible = *stats->null_count > 0;
      if (num_records_ && *stats->null_count >= *num_records_) f.values_possible = false;
    }
    return f;
  }

  /// Column facts plus the literal coerced to the column's type, for `column op literal`.
  struct Operands {
    ColumnFacts facts;
    std::shared_ptr<Scalar> value;  ///< null scalar for a NULL literal
  };

  std::optional<Operands> ColumnAndLiteral(const Node& col, const Node& lit) {
    if (col.kind != NodeKind::kColumn || lit.kind != NodeKind::kLiteral) return std::nullopt;
    auto f = Facts(col);
    if (!f) return std::nullopt;
    auto coerced = CoerceLiteral(lit.literal, f->type);
    if (!coerced.ok() || coerced->outcome != Coercion::kExact) return std::nullopt;
    return Operands{std::move(*f), std::move(coerced->scalar)};
  }

  Outcomes Compare(CompareOp op, const Node& lhs, const Node& rhs) {
    const bool null_safe = op == CompareOp::kNullSafeEq;
    auto is_null_lit = [](const Node& n) {
      return n.kind == NodeKind::kLiteral && n.literal.kind == LiteralKind::kNull;
    };
    if (!null_safe && (is_null_lit(lhs) || is_null_lit(rhs))) return kNull;
    std::optional<Operands> ops = ColumnAndLiteral(lhs, rhs);
    if (!ops) {
      ops = ColumnAndLiteral(rhs, lhs);
      op = FlipCompare(op);
    }
    if (!ops) {
      if (null_safe) return kTrue | kFalse;
      // Column against anything: all-NULL columns still make the comparison NULL.
      for (const Node* side : {&lhs, &rhs}) {
        if (side->kind != NodeKind::kColumn) continue;
        auto f = Facts(*side);
        if (f && !f->values_possible) return kNull;
      }
      return kAny;
    }
    const ColumnFacts& f = ops->facts;
    const Scalar& v = *ops->value;
    if (null_safe) {
      if (!v.is_valid) {
        return (f.nulls_possible ? kTrue : 0) | (f.values_possible ? kFalse : 0);
      }
      Outcomes out = f.nulls_possible ? kFalse : 0;
      if (f.values_possible) {
        const RangeRelation r = Relate(f, v);
        if (r.some_eq) out |= kTrue;
        if (r.some_lt || r.some_gt || f.nan_possible) out |= kFalse;
      }
      return out;
    }
    Outcomes out = f.NullPart();
    if (!f.values_possible) return out;
    const RangeRelation r = Relate(f, v);
    bool may_true = false, may_false = false;
    switch (op) {
      case CompareOp::kEq: may_true = r.some_eq; may_false = r.some_lt || r.some_gt; break;
      case CompareOp::kNe: may_true = r.some_lt || r.some_gt; may_false = r.some_eq; break;
      case CompareOp::kLt: may_true = r.some_lt; may_false = r.some_eq || r.some_gt; break;
      case CompareOp::kLe: may_true = r.some_lt || r.some_eq; may_false = r.some_gt; break;
      case CompareOp::kGt: may_true = r.some_gt; may_false = r.some_eq || r.some_lt; break;
      case CompareOp::kGe: may_true = r.some_gt || r.some_eq; may_false = r.some_lt; break;
      default: return kAny;
    }
    // A NaN compares false with everything, and unequal to everything.
    if (f.nan_possible) {
      if (op == CompareOp::kNe) may_true = true;
      else may_false = true;
    }
    return out | (may_true ? kTrue : 0) | (may_false ? kFalse : 0);
  }

  Outcomes In(const Node& node) {
    const auto& c = node.children;
    if (c[0]->kind != NodeKind::kColumn) return kAny;
    auto f = Facts(*c[0]);
    if (!f) return kAny;
    bool list_has_null = false, some_match = false;
    std::vector<std::shared_ptr<Scalar>> values;
    for (size_t i = 1; i < c.size(); ++i) {
      if (c[i]->kind != NodeKind::kLiteral) return kAny;
      auto coerced = CoerceLiteral(c[i]->literal, f->type);
      if (!coerced.ok() || coerced->outcome == Coercion::kIncompatible) return kAny;
      if (coerced->outcome == Coercion::kInexact) continue;  // equals no value of the column
      if (!coerced->scalar->is_valid) {
        list_has_null = true;
        continue;
      }
      if (Relate(*f, *coerced->scalar).some_eq) some_match = true;
      values.push_back(coerced->scalar);
    }
    Outcomes out = f->NullPart();
    if (!f->values_possible) return out;
    if (some_match) out |= kTrue;
    // A value outside the list exists unless min == max and it is listed.
    bool all_listed = false;
    if (f->min && f->max && !f->nan_possible && CompareScalars(*f->min, *f->max) == 0) {
      for (const auto& v : values) {
        if (CompareScalars(*f->min, *v) == 0) all_listed = true;
      }
    }
    if (!all_listed) out |= list_has_null ? kNull : kFalse;
    return out;
  }

  Outcomes Between(const Node& node) {
    const auto& c = node.children;
    auto lo = ColumnAndLiteral(*c[0], *c[1]);
    auto hi = ColumnAndLiteral(*c[0], *c[2]);
    if (lo && hi && lo->value->is_valid && hi->value->is_valid) {
      const ColumnFacts& f = lo->facts;
      Outcomes out = f.NullPart();
      if (!f.values_possible) return out;
      const RangeRelation rl = Relate(f, *lo->value);
      const RangeRelation rh = Relate(f, *hi->value);
      const auto order = CompareScalars(*lo->value, *hi->value);
      const bool empty_range = order && *order > 0;
      // Some value in [lo, hi] needs: not all values < lo, not all > hi, lo <= hi.
      if (!empty_range && (rl.some_eq || rl.some_gt) && (rh.some_eq || rh.some_lt)) out |= kTrue;
      if (empty_range || rl.some_lt || rh.some_gt || f.nan_possible) out |= kFalse;
      return out;
    }
    return And(Compare(CompareOp::kGe, *c[0], *c[1]), Compare(CompareOp::kLe, *c[0], *c[2]));
  }

  Outcomes Like(const Node& node) {
    const Node& x = *node.children[0];
    if (x.kind != NodeKind::kColumn) return kAny;
    auto f = Facts(x);
    if (!f) return kAny;
    if (!arrow::is_base_binary_like(f->type->id()) && !arrow::is_binary_view_like(f->type->id())) {
      return kAny;
    }
    // The literal prefix before the first wildcard. Arrow's fast paths and its regex path
    // disagree on backslash escapes, so patterns with a backslash are not reasoned about.
    const std::string& pattern = node.literal.s;
    if (pattern.find('\\') != std::string::npos) return kAny;
    std::string prefix;
    size_t i = 0;
    bool wildcard = false;
    for (; i < pattern.size(); ++i) {
      const char ch = pattern[i];
      if (ch == '%' || ch == '_') {
        wildcard = true;
        break;
      } else {
        prefix += ch;
      }
    }
    Outcomes out = f->NullPart();
    if (!f->values_possible) return out;
    const bool only_trailing_percent =
        wildcard && pattern.find_first_not_of('%', i) == std::string::npos;
    // Strings starting with `prefix` lie in [prefix, successor(prefix)).
    std::string succ = prefix;
    while (!succ.empty() && static_cast<unsigned char>(succ.back()) == 0xff) succ.pop_back();
    const bool has_succ = !succ.empty();
    if (has_succ) succ.back() = static_cast<char>(static_cast<unsigned char>(succ.back()) + 1);
    std::string_view min, max;
    const bool has_min = f->min && BytesValue(*f->min);
    const bool has_max = f->max && BytesValue(*f->max);
    if (has_min) min = *BytesValue(*f->min);
    if (has_max) max = *BytesValue(*f->max);
    bool may_true = true;
    if (has_max && max < prefix) may_true = false;
    if (has_min && has_succ && min >= succ) may_true = false;
    if (!wildcard && has_min && has_max && (min > prefix || max < prefix)) may_true = false;
    bool may_false = true;
    if (has_min && has_max) {
      const bool all_prefixed =
          min.substr(0, prefix.size()) == prefix && max.substr(0, prefix.size()) == prefix;
      if (only_trailing_percent && all_prefixed) may_false = false;
      if (!wildcard && min == prefix && max == prefix) may_false = false;
    }
    return out | (may_true ? kTrue : 0) | (may_false ? kFalse : 0);
  }

  const arrow::Schema& schema_;
  const StatsProvider& stats_;
  const std::optional<int64_t> num_records_;
};

}  // namespace

bool MayMatch(const NodePtr& predicate, const arrow::Schema& schema, const StatsProvider& stats) {
  if (!predicate) return true;
  if (auto n = stats.num_records(); n && *n == 0) return false;
  return (Pruner(schema, stats).Eval(*predicate) & kTrue) != 0;
}

}  // namespace strata::expr
