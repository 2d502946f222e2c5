/// \file
/// The expression AST and the helpers shared by the parser, the Arrow translation and the
/// pruner. Not part of the public API: tests and the fuzz harness use it to build and inspect
/// trees directly.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/expr/expr.h"

namespace strata::expr {

/// Deeper trees are rejected by Parse, so every recursive walk is bounded.
inline constexpr int kMaxDepth = 256;

enum class LiteralKind { kNull, kBool, kInt, kDouble, kString, kDate, kTimestamp, kTimestampNtz };

/// A literal as written. Units: kDate is days since 1970-01-01; kTimestamp is microseconds
/// since the epoch (UTC); kTimestampNtz is microseconds of a wall-clock time read as UTC.
struct Literal {
  LiteralKind kind = LiteralKind::kNull;
  bool b = false;
  int64_t i = 0;  ///< kInt value, kDate days, kTimestamp/kTimestampNtz microseconds
  double d = 0;
  std::string s;
};

enum class NodeKind {
  kLiteral,
  kColumn,   ///< path
  kNot,      ///< children[0]
  kAnd,      ///< children[0], children[1]
  kOr,
  kCompare,  ///< cmp; children[0] op children[1]
  kArith,    ///< arith; children[0] op children[1]
  kNegate,   ///< -children[0]
  kIsNull,   ///< children[0] IS [NOT] NULL (negated)
  kIsBool,   ///< children[0] IS [NOT] TRUE|FALSE (truth, negated)
  kIn,       ///< children[0] [NOT] IN (children[1..])
  kBetween,  ///< children[0] [NOT] BETWEEN children[1] AND children[2]
  kLike,     ///< children[0] [NOT] LIKE literal.s
  kCast,     ///< CAST(children[0] AS cast_type)
  kCall,     ///< function(children...)
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kNullSafeEq };
enum class ArithOp { kAdd, kSub, kMul, kDiv, kMod };

struct Node {
  NodeKind kind = NodeKind::kLiteral;
  Literal literal;                 ///< kLiteral; kLike keeps its pattern in literal.s
  std::vector<std::string> path;   ///< kColumn: dotted path, one part per element
  CompareOp cmp = CompareOp::kEq;
  ArithOp arith = ArithOp::kAdd;
  bool negated = false;            ///< IS NOT NULL, IS NOT TRUE, NOT IN, NOT BETWEEN, NOT LIKE
  bool truth = false;              ///< kIsBool: IS TRUE (true) or IS FALSE (false)
  std::string function;            ///< kCall: canonical lower-case name
  std::shared_ptr<arrow::DataType> cast_type;  ///< kCast
  std::vector<NodePtr> children;
  int depth = 1;                   ///< 1 + the deepest child's depth
};

// Builders (depth is computed; no validation beyond what the types enforce).
NodePtr MakeLiteral(Literal literal);
NodePtr MakeNull();
NodePtr MakeBool(bool v);
NodePtr MakeInt(int64_t v);
NodePtr MakeDouble(double v);
NodePtr MakeString(std::string v);
NodePtr MakeColumn(std::vector<std::string> path);
NodePtr MakeNode(NodeKind kind, std::vector<NodePtr> children);
NodePtr MakeCompare(CompareOp op, NodePtr lhs, NodePtr rhs);
NodePtr MakeArith(ArithOp op, NodePtr lhs, NodePtr rhs);
NodePtr MakeCall(std::string function, std::vector<NodePtr> args);

/// SQL spelling of an operator (`<=>`, `<>`, `%`, ...).
const char* CompareOpSql(CompareOp op);
const char* ArithOpSql(ArithOp op);

/// The operator with its operands swapped (`a < b` is `b > a`).
CompareOp FlipCompare(CompareOp op);

/// Parsed date/time text. `seconds` is since the epoch with any explicit offset applied.
struct ParsedTimestamp {
  int64_t seconds = 0;
  int32_t nanos = 0;       ///< fraction of the second, 0..999'999'999
  bool has_offset = false; ///< the text carried `Z` or `+hh:mm`
};

/// `YYYY-MM-DD`; nullopt when malformed or not a real date.
std::optional<int32_t> ParseDate(std::string_view text);
/// `YYYY-MM-DD[( |T)HH:MM[:SS[.f{1,9}]]][Z|+hh:mm|-hh:mm|+hhmm|+hh]`.
std::optional<ParsedTimestamp> ParseTimestamp(std::string_view text);
/// Days since the epoch of a proleptic Gregorian date (valid for any year).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
/// `YYYY-MM-DD` of a day number.
std::string FormatDate(int64_t days);
/// `YYYY-MM-DD HH:MM:SS[.ffffff]` of microseconds since the epoch.
std::string FormatTimestampMicros(int64_t micros);

/// Column resolution shared by ToArrow and MayMatch: the exact field names along the path
/// (qualifier dropped), the field's type, and a dotted path with the schema's spelling.
struct ResolvedColumn {
  std::vector<std::string> names;
  std::shared_ptr<arrow::DataType> type;
  std::string dotted;
};
Result<ResolvedColumn> ResolveColumn(const std::vector<std::string>& path,
                                     const arrow::Schema& schema);

/// Joins path parts with '.', backquoting parts that contain '.' or '`'.
std::string JoinPath(const std::vector<std::string>& path);

/// Outcome of casting a literal to a column's type.
enum class Coercion {
  kExact,         ///< `scalar` holds the same value in the target type
  kInexact,       ///< the target type cannot hold this value (1.5 for an int column)
  kIncompatible,  ///< no meaningful conversion (a bool literal for a date column)
};
struct CoercedLiteral {
  Coercion outcome = Coercion::kIncompatible;
  std::shared_ptr<arrow::Scalar> scalar;
};
/// Casts `literal` to `type` without loss when possible. Errors only for malformed text
/// (`'2026-13-01'` against a date column).
Result<CoercedLiteral> CoerceLiteral(const Literal& literal,
                                     const std::shared_ptr<arrow::DataType>& type);

/// The literal as a scalar of its own type (int64, double, utf8, date32, timestamp[us, UTC],
/// timestamp[us], null).
std::shared_ptr<arrow::Scalar> LiteralScalar(const Literal& literal);

/// Three-way comparison of two non-null scalars of compatible types (ints of any width,
/// floats, strings/binary, dates, timestamps of one unit, bool, decimals of one scale);
/// nullopt when they cannot be compared or either is NaN.
std::optional<int> CompareScalars(const arrow::Scalar& a, const arrow::Scalar& b);

}  // namespace strata::expr
