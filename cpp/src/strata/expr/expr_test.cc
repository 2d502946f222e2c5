// Tests for strata::expr: parser examples and errors, a print/parse fixpoint over random ASTs,
// ToArrow checked row by row against a brute-force SQL evaluator on random data, and MayMatch
// checked for soundness (never prunes a file with a matching row) and usefulness.

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/compute/expression.h>
#include <gtest/gtest.h>

#include "strata/expr/expr.h"
#include "strata/expr/expr_internal.h"
#include "strata/testing/gtest_util.h"

namespace strata::expr {
namespace {

namespace cp = arrow::compute;
using std::chrono::sys_days;

NodePtr MustParse(const std::string& sql) {
  auto r = Parse(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
  return r.ok() ? *r : MakeNull();
}

std::string Canon(const std::string& sql) { return ToString(MustParse(sql)); }

std::string ParseError(const std::string& sql) {
  auto r = Parse(sql);
  EXPECT_FALSE(r.ok()) << sql << " parsed as " << (r.ok() ? ToString(*r) : "");
  if (r.ok()) return "";
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument)) << r.status().ToString();
  return r.status().message();
}

bool SameTree(const Node& a, const Node& b) {
  if (a.kind != b.kind || a.negated != b.negated || a.children.size() != b.children.size()) {
    return false;
  }
  switch (a.kind) {
    case NodeKind::kLiteral: {
      const Literal &x = a.literal, &y = b.literal;
      if (x.kind != y.kind) return false;
      switch (x.kind) {
        case LiteralKind::kNull: return true;
        case LiteralKind::kBool: return x.b == y.b;
        case LiteralKind::kDouble:
          return std::memcmp(&x.d, &y.d, sizeof(double)) == 0;  // tells -0.0 from 0.0
        case LiteralKind::kString: return x.s == y.s;
        default: return x.i == y.i;
      }
    }
    case NodeKind::kColumn: return a.path == b.path;
    case NodeKind::kCompare:
      if (a.cmp != b.cmp) return false;
      break;
    case NodeKind::kArith:
      if (a.arith != b.arith) return false;
      break;
    case NodeKind::kIsBool:
      if (a.truth != b.truth) return false;
      break;
    case NodeKind::kLike:
      if (a.literal.s != b.literal.s) return false;
      break;
    case NodeKind::kCast:
      if (!a.cast_type->Equals(*b.cast_type)) return false;
      break;
    case NodeKind::kCall:
      if (a.function != b.function) return false;
      break;
    default:
      break;
  }
  for (size_t i = 0; i < a.children.size(); ++i) {
    if (!SameTree(*a.children[i], *b.children[i])) return false;
  }
  return true;
}

// =============================================================================================
// Parser

TEST(Parse, PrecedenceAndCanonicalText) {
  EXPECT_EQ(Canon("a OR b AND c"), "a OR b AND c");
  EXPECT_EQ(Canon("(a OR b) AND c"), "(a OR b) AND c");
  EXPECT_EQ(Canon("NOT a = 1 AND b"), "NOT a = 1 AND b");
  auto n = MustParse("NOT a = 1 AND b");
  ASSERT_EQ(n->kind, NodeKind::kAnd);
  EXPECT_EQ(n->children[0]->kind, NodeKind::kNot);
  EXPECT_EQ(n->children[0]->children[0]->kind, NodeKind::kCompare);
  EXPECT_EQ(Canon("1 + 2 * 3"), "1 + 2 * 3");
  EXPECT_EQ(Canon("(1 + 2) * 3"), "(1 + 2) * 3");
  EXPECT_EQ(Canon("a - (b - c)"), "a - (b - c)");
  EXPECT_EQ(Canon("(a - b) - c"), "a - b - c");
  EXPECT_EQ(Canon("a or b or c"), "a OR b OR c");
  EXPECT_EQ(MustParse("a or b or c")->children.size(), 3u);  // n-ary, not nested
  EXPECT_EQ(Canon("-x * 2"), "-x * 2");
  EXPECT_EQ(Canon("-(x * 2)"), "-(x * 2)");
  EXPECT_EQ(Canon("a - -5"), "a - -5");
  EXPECT_EQ(Canon("- - 5"), "5");
  EXPECT_EQ(Canon("-(-x)"), "- -x");
  EXPECT_EQ(Canon("-(-9223372036854775808)"), "- -9223372036854775808");
  EXPECT_EQ(MustParse("- -9223372036854775808")->kind, NodeKind::kNegate);
  EXPECT_EQ(Canon("+a"), "a");
  EXPECT_EQ(Canon("((a))"), "a");
}

TEST(Parse, Operators) {
  EXPECT_EQ(Canon("a == 1"), "a = 1");
  EXPECT_EQ(Canon("a != 1"), "a <> 1");
  EXPECT_EQ(Canon("a<>1"), "a <> 1");
  EXPECT_EQ(Canon("a<=1"), "a <= 1");
  EXPECT_EQ(Canon("a>=1"), "a >= 1");
  EXPECT_EQ(Canon("a<1"), "a < 1");
  EXPECT_EQ(Canon("a>1"), "a > 1");
  EXPECT_EQ(Canon("a<=>NULL"), "a <=> NULL");
  EXPECT_EQ(Canon("a % 3 / 2"), "a % 3 / 2");
  EXPECT_EQ(Canon("x is null"), "x IS NULL");
  EXPECT_EQ(Canon("x Is Not Null"), "x IS NOT NULL");
  EXPECT_EQ(Canon("x IS TRUE OR y IS NOT FALSE"), "x IS TRUE OR y IS NOT FALSE");
  EXPECT_EQ(Canon("x in (1, 2,3)"), "x IN (1, 2, 3)");
  EXPECT_EQ(Canon("x not in ('a')"), "x NOT IN ('a')");
  EXPECT_EQ(Canon("x between 1 and 2 and y"), "x BETWEEN 1 AND 2 AND y");
  EXPECT_EQ(Canon("x not between 1 + 1 and 2"), "x NOT BETWEEN 1 + 1 AND 2");
  EXPECT_EQ(Canon("x like 'a%'"), "x LIKE 'a%'");
  EXPECT_EQ(Canon("x not like '_b'"), "x NOT LIKE '_b'");
  EXPECT_EQ(Canon("not not x"), "NOT NOT x");
  EXPECT_EQ(Canon("a = b = c"), "a = b = c");
  EXPECT_EQ(Canon("a = (b = c)"), "a = (b = c)");
  EXPECT_EQ(Canon("(x IS NULL) IS NULL"), "x IS NULL IS NULL");
}

TEST(Parse, Literals) {
  EXPECT_EQ(Canon("9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(Canon("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(MustParse("-9223372036854775808")->literal.i, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(MustParse("1.5")->literal.kind, LiteralKind::kDouble);
  EXPECT_EQ(MustParse("1e3")->literal.kind, LiteralKind::kDouble);
  EXPECT_EQ(MustParse("1e3")->literal.d, 1000.0);
  EXPECT_EQ(Canon("1e3"), "1000.0");
  EXPECT_EQ(Canon("2.50"), "2.5");
  EXPECT_EQ(Canon(".5 + x"), "0.5 + x");
  EXPECT_EQ(Canon("1."), "1.0");
  EXPECT_EQ(Canon("1E-2"), "0.01");
  EXPECT_EQ(Canon("1.5e300"), "1.5e+300");
  EXPECT_EQ(Canon("-0.0"), "-0.0");
  EXPECT_EQ(MustParse("'it''s'")->literal.s, "it's");
  EXPECT_EQ(Canon("'it''s'"), "'it''s'");
  EXPECT_EQ(MustParse("''")->literal.s, "");
  EXPECT_EQ(Canon("true AND False OR null"), "TRUE AND FALSE OR NULL");
  EXPECT_EQ(Canon("DATE '2026-01-01'"), "DATE '2026-01-01'");
  EXPECT_EQ(MustParse("DATE '1970-01-02'")->literal.i, 1);
  EXPECT_EQ(Canon("date '2024-2-29'"), "DATE '2024-02-29'");
  EXPECT_EQ(Canon("TIMESTAMP '2026-01-01 12:00:00'"), "TIMESTAMP '2026-01-01 12:00:00Z'");
  EXPECT_EQ(Canon("TIMESTAMP '2026-01-01T12:00:00.5+02:00'"),
            "TIMESTAMP '2026-01-01 10:00:00.500000Z'");
  EXPECT_EQ(Canon("TIMESTAMP '2026-01-01 00:30:00-01:30'"), "TIMESTAMP '2026-01-01 02:00:00Z'");
  EXPECT_EQ(Canon("TIMESTAMP '2026-01-01'"), "TIMESTAMP '2026-01-01 00:00:00Z'");
  EXPECT_EQ(Canon("TIMESTAMP '1969-12-31 23:59:59.999999Z'"),
            "TIMESTAMP '1969-12-31 23:59:59.999999Z'");
  EXPECT_EQ(MustParse("TIMESTAMP '1970-01-01 00:00:01.000002Z'")->literal.i, 1000002);
  EXPECT_EQ(Canon("TIMESTAMP_NTZ '2026-01-01 12:00:00.123456'"),
            "TIMESTAMP_NTZ '2026-01-01 12:00:00.123456'");
  EXPECT_EQ(MustParse("TIMESTAMP_NTZ '2026-01-01 12:00:00'")->literal.kind,
            LiteralKind::kTimestampNtz);
}

TEST(Parse, LiteralErrors) {
  EXPECT_EQ(ParseError("x = 9223372036854775808"),
            "integer literal 9223372036854775808 is out of range for BIGINT at position 5 in "
            "'x = 9223372036854775808'");
  EXPECT_NE(ParseError("-9223372036854775809").find("out of range"), std::string::npos);
  EXPECT_NE(ParseError("1e400").find("out of range"), std::string::npos);
  EXPECT_EQ(ParseError("d = DATE '2026-02-30'"),
            "invalid DATE '2026-02-30' at position 10 in 'd = DATE '2026-02-30''");
  EXPECT_NE(ParseError("DATE '2026-01-01 00:00:00'").find("invalid DATE"), std::string::npos);
  EXPECT_NE(ParseError("TIMESTAMP '2026-01-01 24:00:00'").find("invalid TIMESTAMP"),
            std::string::npos);
  EXPECT_NE(ParseError("TIMESTAMP '2026-01-01 00:00:00.1234567'").find("microsecond"),
            std::string::npos);
  EXPECT_NE(ParseError("TIMESTAMP_NTZ '2026-01-01 00:00:00Z'").find("time zone"),
            std::string::npos);
  EXPECT_EQ(ParseError("x = 'abc"), "unterminated string literal starting at position 5 in "
                                    "'x = 'abc'");
  EXPECT_EQ(ParseError("`abc = 1"),
            "unterminated quoted identifier starting at position 1 in '`abc = 1'");
}

TEST(Parse, Identifiers) {
  auto n = MustParse("`weird name` = 1");
  EXPECT_EQ(n->children[0]->path, std::vector<std::string>{"weird name"});
  EXPECT_EQ(Canon("`weird name` = 1"), "`weird name` = 1");
  EXPECT_EQ(MustParse("`a``b`")->path, std::vector<std::string>{"a`b"});
  EXPECT_EQ(Canon("`a``b`"), "`a``b`");
  EXPECT_EQ(MustParse("a.b.c")->path, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(MustParse("t . `x y`")->path, (std::vector<std::string>{"t", "x y"}));
  EXPECT_EQ(Canon("s.`and`.c"), "s.`and`.c");
  EXPECT_EQ(Canon("`plain`"), "plain");
  EXPECT_EQ(Canon("`select`"), "select");
  EXPECT_EQ(Canon("`Null` IS NULL"), "`Null` IS NULL");
  // DATE, TIMESTAMP and CAST are keywords only where their syntax follows.
  EXPECT_EQ(Canon("date > DATE '2026-01-01'"), "date > DATE '2026-01-01'");
  EXPECT_EQ(MustParse("timestamp")->kind, NodeKind::kColumn);
  EXPECT_EQ(Canon("cast + 1"), "cast + 1");
  EXPECT_EQ(Canon("_x1 = A_2"), "_x1 = A_2");
}

TEST(Parse, CastAndFunctions) {
  EXPECT_EQ(Canon("cast(x as int)"), "CAST(x AS INT)");
  EXPECT_EQ(Canon("CAST(x AS integer) + CAST(y AS bigint) + CAST(z AS long)"),
            "CAST(x AS INT) + CAST(y AS BIGINT) + CAST(z AS BIGINT)");
  EXPECT_EQ(Canon("CAST(x AS smallint) = CAST(x AS short)"),
            "CAST(x AS SMALLINT) = CAST(x AS SMALLINT)");
  EXPECT_EQ(Canon("CAST(x AS tinyint) = CAST(x AS byte)"),
            "CAST(x AS TINYINT) = CAST(x AS TINYINT)");
  EXPECT_EQ(Canon("CAST(x AS float) < CAST(x AS double)"),
            "CAST(x AS FLOAT) < CAST(x AS DOUBLE)");
  EXPECT_EQ(Canon("CAST(x AS string) = CAST(y AS boolean)"),
            "CAST(x AS STRING) = CAST(y AS BOOLEAN)");
  EXPECT_EQ(Canon("CAST(x AS date) < CAST(y AS timestamp)"),
            "CAST(x AS DATE) < CAST(y AS TIMESTAMP)");
  EXPECT_EQ(Canon("CAST(x AS timestamp_ntz)"), "CAST(x AS TIMESTAMP_NTZ)");
  EXPECT_EQ(Canon("CAST(x AS decimal(10, 2))"), "CAST(x AS DECIMAL(10,2))");
  EXPECT_EQ(Canon("CAST(x AS decimal)"), "CAST(x AS DECIMAL(10,0))");
  auto cast = MustParse("CAST(x AS DECIMAL(38,38))");
  EXPECT_TRUE(cast->cast_type->Equals(*arrow::decimal128(38, 38)));
  EXPECT_EQ(Canon("LOWER(s) = upper(t)"), "lower(s) = upper(t)");
  EXPECT_EQ(Canon("abs(-x) + length(s)"), "abs(-x) + length(s)");
  EXPECT_EQ(Canon("coalesce(a, b, 0)"), "coalesce(a, b, 0)");
  EXPECT_EQ(Canon("substr(s, 1, 2)"), "substring(s, 1, 2)");
  EXPECT_EQ(Canon("concat(a, '-', b)"), "concat(a, '-', b)");
  EXPECT_EQ(Canon("year(d) = 2026 AND month(d) = 1 AND day(d) = 2 AND hour(t) = 3"),
            "year(d) = 2026 AND month(d) = 1 AND day(d) = 2 AND hour(t) = 3");
  EXPECT_EQ(ParseError("foo(x)"), "unknown function 'foo' at position 1 in 'foo(x)'");
  EXPECT_EQ(ParseError("x = lower(a, b)"),
            "function lower takes 1 argument(s), got 2 at position 5 in 'x = lower(a, b)'");
  EXPECT_NE(ParseError("substring(s)").find("takes 2 to 3"), std::string::npos);
  EXPECT_NE(ParseError("coalesce()").find("at least 1"), std::string::npos);
  EXPECT_EQ(ParseError("CAST(x AS blob)"), "unknown type 'blob' at position 11 in "
                                           "'CAST(x AS blob)'");
  EXPECT_NE(ParseError("CAST(x AS decimal(40,2))").find("precision <= 38"), std::string::npos);
  EXPECT_NE(ParseError("CAST(x AS decimal(4,5))").find("scale <= precision"), std::string::npos);
}

TEST(Parse, ErrorsNameTokenAndPosition) {
  EXPECT_EQ(ParseError("a > (1 + ))"), "unexpected ')' at position 10 in 'a > (1 + ))'");
  EXPECT_EQ(ParseError("a = 1 b"), "unexpected 'b' at position 7 in 'a = 1 b'");
  EXPECT_EQ(ParseError("a >"), "unexpected end of input at position 4 in 'a >'");
  EXPECT_EQ(ParseError(""), "unexpected end of input at position 1 in ''");
  EXPECT_EQ(ParseError("a = 1 AND"), "unexpected end of input at position 10 in 'a = 1 AND'");
  EXPECT_EQ(ParseError("a # 1"), "unexpected character '#' at position 3 in 'a # 1'");
  // Positions count characters, not bytes.
  EXPECT_EQ(ParseError("'é' = )"), "unexpected ')' at position 7 in ''é' = )'");
  EXPECT_EQ(ParseError("x IN ()"), "unexpected ')' at position 7 in 'x IN ()'");
  EXPECT_EQ(ParseError("x LIKE y"), "unexpected 'y' at position 8 in 'x LIKE y'");
  EXPECT_EQ(ParseError("x IS 5"), "unexpected '5' at position 6 in 'x IS 5'");
  EXPECT_EQ(ParseError("x BETWEEN 1 OR 2"), "unexpected 'OR' at position 13 in "
                                            "'x BETWEEN 1 OR 2'");
  EXPECT_EQ(ParseError("x = 'a' 'b'"), "unexpected string 'b' at position 9 in 'x = 'a' 'b''");
  EXPECT_EQ(ParseError("and = 1"), "unexpected 'and' at position 1 in 'and = 1'");
  EXPECT_EQ(ParseError("a."), "unexpected end of input at position 3 in 'a.'");
  EXPECT_EQ(ParseError("a.5"), "unexpected '5' at position 3 in 'a.5'");
  EXPECT_EQ(ParseError("x = \x01"), "unexpected character '\\x01' at position 5 in 'x = \\x01'");
}

TEST(Parse, DepthLimit) {
  auto nested = [](int n, const std::string& open, const std::string& close) {
    std::string s;
    for (int i = 0; i < n; ++i) s += open;
    s += "x";
    for (int i = 0; i < n; ++i) s += close;
    return s;
  };
  EXPECT_OK(Parse(nested(200, "(", ")")));
  EXPECT_OK(Parse(nested(200, "lower(", ")")));
  EXPECT_NE(ParseError(nested(300, "(", ")")).find("nests deeper than 256"), std::string::npos);
  EXPECT_NE(ParseError(nested(100000, "(", ")")).find("nests deeper"), std::string::npos);
  EXPECT_NE(ParseError(nested(100000, "NOT ", "")).find("nests deeper"), std::string::npos);
  EXPECT_NE(ParseError(nested(100000, "-", "")).find("nests deeper"), std::string::npos);
  EXPECT_NE(ParseError(nested(300, "lower(", ")")).find("nests deeper"), std::string::npos);
  // What parses prints to text that parses again (found by the fuzzer: `-` chains).
  for (const std::string& deep : {std::string(200, '-') + "m - " + std::string(50, '-') + "x",
                                  nested(200, "NOT ", ""), nested(250, "(", ")")}) {
    ASSERT_OK_AND_ASSIGN(auto node, Parse(deep));
    ASSERT_OK_AND_ASSIGN(auto again, Parse(ToString(node)));
    EXPECT_EQ(ToString(again), ToString(node));
  }
  // Left-deep chains are as deep as they are long ...
  std::string sum = "x";
  for (int i = 0; i < 300; ++i) sum += " + x";
  EXPECT_NE(ParseError(sum).find("nests deeper"), std::string::npos);
  // ... but AND/OR lists are flat, however long.
  std::string ors = "x = 0";
  for (int i = 1; i < 5000; ++i) ors += " OR x = " + std::to_string(i);
  ASSERT_OK_AND_ASSIGN(auto wide, Parse(ors));
  EXPECT_EQ(wide->children.size(), 5000u);
  auto schema = arrow::schema({arrow::field("x", arrow::int32())});
  ASSERT_OK(ToArrow(wide, *schema).status());
}

TEST(ReferencedColumnsTest, FirstUseOrderDeduplicatedDotted) {
  auto n = MustParse("b > 1 AND s.x = a OR lower(b) IN (a, `c.d`, `s`.x) AND t.`q``r` IS NULL");
  EXPECT_EQ(ReferencedColumns(n),
            (std::vector<std::string>{"b", "s.x", "a", "`c.d`", "t.`q``r`"}));
  EXPECT_TRUE(ReferencedColumns(MustParse("1 + 2 = 3")).empty());
}

// --- random ASTs print and re-parse to themselves -------------------------------------------

class AstGen {
 public:
  explicit AstGen(uint64_t seed) : rng_(seed) {}

  NodePtr Gen(int depth) {
    if (depth <= 0 || Chance(0.2)) return Chance(0.5) ? Literal() : Column();
    switch (Pick(14)) {
      case 0: return Literal();
      case 1: return Column();
      case 2: return MakeNode(NodeKind::kNot, {Gen(depth - 1)});
      case 3:
      case 4: {
        std::vector<NodePtr> kids;
        const int n = 2 + Pick(3);
        for (int i = 0; i < n; ++i) kids.push_back(Gen(depth - 1));
        return MakeNode(Pick(2) ? NodeKind::kAnd : NodeKind::kOr, std::move(kids));
      }
      case 5:
        return MakeCompare(static_cast<CompareOp>(Pick(7)), Gen(depth - 1), Gen(depth - 1));
      case 6:
        return MakeArith(static_cast<ArithOp>(Pick(5)), Gen(depth - 1), Gen(depth - 1));
      case 7: {
        auto child = Gen(depth - 1);
        // `-5` is a literal, so a negated numeric literal has no text of its own.
        if (child->kind == NodeKind::kLiteral &&
            (child->literal.kind == LiteralKind::kInt ||
             child->literal.kind == LiteralKind::kDouble)) {
          return child;
        }
        return MakeNode(NodeKind::kNegate, {child});
      }
      case 8: {
        auto n = std::make_shared<Node>(*MakeNode(Pick(2) ? NodeKind::kIsNull : NodeKind::kIsBool,
                                                  {Gen(depth - 1)}));
        n->negated = Pick(2);
        n->truth = n->kind == NodeKind::kIsBool && Pick(2);
        return n;
      }
      case 9: {
        std::vector<NodePtr> kids{Gen(depth - 1)};
        const int n = 1 + Pick(4);
        for (int i = 0; i < n; ++i) kids.push_back(Gen(depth - 1));
        auto node = std::make_shared<Node>(*MakeNode(NodeKind::kIn, std::move(kids)));
        node->negated = Pick(2);
        return node;
      }
      case 10: {
        auto node = std::make_shared<Node>(
            *MakeNode(NodeKind::kBetween, {Gen(depth - 1), Gen(depth - 1), Gen(depth - 1)}));
        node->negated = Pick(2);
        return node;
      }
      case 11: {
        auto node = std::make_shared<Node>(*MakeNode(NodeKind::kLike, {Gen(depth - 1)}));
        node->literal.kind = LiteralKind::kString;
        node->literal.s = String();
        node->negated = Pick(2);
        return node;
      }
      case 12: {
        static const std::vector<std::shared_ptr<arrow::DataType>> kTypes = {
            arrow::int8(),    arrow::int16(),   arrow::int32(),
            arrow::int64(),   arrow::float32(), arrow::float64(),
            arrow::utf8(),    arrow::binary(),  arrow::boolean(),
            arrow::date32(),  arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"),
            arrow::timestamp(arrow::TimeUnit::MICRO), arrow::decimal128(12, 3),
            arrow::decimal128(1, 0)};
        auto node = std::make_shared<Node>(*MakeNode(NodeKind::kCast, {Gen(depth - 1)}));
        node->cast_type = kTypes[Pick(static_cast<int>(kTypes.size()))];
        return node;
      }
      default: {
        static const std::vector<std::pair<std::string, std::pair<int, int>>> kFns = {
            {"lower", {1, 1}},  {"upper", {1, 1}},     {"abs", {1, 1}},    {"coalesce", {1, 4}},
            {"length", {1, 1}}, {"substring", {2, 3}}, {"concat", {1, 4}}, {"year", {1, 1}},
            {"month", {1, 1}},  {"day", {1, 1}},       {"hour", {1, 1}},   {"trim", {1, 1}}};
        const auto& [name, arity] = kFns[Pick(static_cast<int>(kFns.size()))];
        const int n = arity.first + Pick(arity.second - arity.first + 1);
        std::vector<NodePtr> args;
        for (int i = 0; i < n; ++i) args.push_back(Gen(depth - 1));
        return MakeCall(name, std::move(args));
      }
    }
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  std::string String() {
    static const std::vector<std::string> kPieces = {"a", "Z", "'", "''", "`", " ", "é", "%",
                                                     "_", "\\", "\n", "\t", "0", ".", "--"};
    std::string s;
    const int n = Pick(5);
    for (int i = 0; i < n; ++i) s += kPieces[Pick(static_cast<int>(kPieces.size()))];
    return s;
  }

  std::string Identifier() {
    static const std::vector<std::string> kNames = {
        "a",  "x1",   "_y",    "Col",  "and",  "OR",   "null",    "True", "in",
        "is", "date", "cast",  "timestamp", "weird name", "a.b", "x`y", "",   "1abc",
        "é",  "not",  "Between", "like", "as",   "select", "TIMESTAMP_NTZ"};
    return kNames[Pick(static_cast<int>(kNames.size()))];
  }

  NodePtr Column() {
    std::vector<std::string> path;
    const int n = 1 + Pick(3);
    for (int i = 0; i < n; ++i) path.push_back(Identifier());
    return MakeColumn(std::move(path));
  }

  NodePtr Literal() {
    expr::Literal lit;
    switch (Pick(8)) {
      case 0: break;  // NULL
      case 1:
        lit.kind = LiteralKind::kBool;
        lit.b = Pick(2);
        break;
      case 2: {
        lit.kind = LiteralKind::kInt;
        static const int64_t kEdges[] = {0, 1, -1, std::numeric_limits<int64_t>::min(),
                                         std::numeric_limits<int64_t>::max()};
        lit.i = Pick(3) ? static_cast<int64_t>(rng_()) >> Pick(63) : kEdges[Pick(5)];
        break;
      }
      case 3: {
        lit.kind = LiteralKind::kDouble;
        do {
          const uint64_t bits = rng_();
          std::memcpy(&lit.d, &bits, sizeof(bits));
          if (Pick(2)) lit.d = static_cast<double>(static_cast<int>(rng_() % 2001) - 1000) / 8;
        } while (!std::isfinite(lit.d));
        break;
      }
      case 4:
        lit.kind = LiteralKind::kString;
        lit.s = String();
        break;
      case 5:
        lit.kind = LiteralKind::kDate;
        lit.i = DaysFromCivil(1, 1, 1) +
                static_cast<int64_t>(rng_() % static_cast<uint64_t>(DaysFromCivil(9999, 12, 31) -
                                                                     DaysFromCivil(1, 1, 1)));
        break;
      default: {
        lit.kind = Pick(2) ? LiteralKind::kTimestamp : LiteralKind::kTimestampNtz;
        const int64_t lo = DaysFromCivil(1, 1, 2) * 86400LL * 1000000;
        const int64_t hi = DaysFromCivil(9999, 12, 30) * 86400LL * 1000000;
        lit.i = lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo));
        if (Pick(2)) lit.i -= lit.i % 1000000;
        break;
      }
    }
    return MakeLiteral(std::move(lit));
  }

  std::mt19937_64 rng_;
};

TEST(Parse, PrintParseFixpointOnRandomAsts) {
  AstGen gen(20260101);
  int checked = 0;
  for (int i = 0; i < 4000; ++i) {
    NodePtr ast = gen.Gen(1 + i % 6);
    const std::string text = ToString(ast);
    auto parsed = Parse(text);
    ASSERT_TRUE(parsed.ok()) << text << "\n" << parsed.status().ToString();
    ASSERT_EQ(ToString(*parsed), text);
    ASSERT_TRUE(SameTree(**parsed, *ast)) << text;
    ASSERT_EQ(ReferencedColumns(*parsed), ReferencedColumns(ast));
    ++checked;
  }
  EXPECT_EQ(checked, 4000);
}

TEST(Parse, GarbageNeverCrashes) {
  // A cheap in-test stand-in for the fuzzer: mutated expressions parse or fail cleanly.
  std::mt19937_64 rng(7);
  const std::vector<std::string> seeds = {
      "a > 1 AND b IN (1, 2, NULL) OR NOT c LIKE 'x%'",
      "CAST(x AS DECIMAL(10,2)) BETWEEN -1.5e3 AND DATE '2026-01-01'",
      "`we``ird`.f <=> TIMESTAMP '2026-01-01T00:00:00.5+01:00' IS NOT TRUE",
      "substring(lower(s), -2, 3) = concat('a', 'b''c') AND coalesce(x, 1) % 2 = 0"};
  const std::string alphabet = "()'`,.+-*/%<>=!ANDORNOTIS 0123456789aeE\"\\\x00\xff";
  auto schema = arrow::schema({arrow::field("a", arrow::int32()), arrow::field("x", arrow::utf8())});
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s.erase(pos, 1 + rng() % 3); break;
        case 1: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        default: s[pos] = alphabet[rng() % alphabet.size()]; break;
      }
    }
    auto r = Parse(s);
    if (!r.ok()) {
      EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument));
      EXPECT_NE(r.status().message().find("position"), std::string::npos) << s;
      continue;
    }
    ++parsed;
    auto again = Parse(ToString(*r));
    ASSERT_TRUE(again.ok()) << s << " -> " << ToString(*r);
    EXPECT_EQ(ToString(*again), ToString(*r));
    (void)ToArrow(*r, *schema);
  }
  EXPECT_GT(parsed, 500);
}

// =============================================================================================
// ToArrow: translation details

std::shared_ptr<arrow::Schema> TestSchema() {
  return arrow::schema({
      arrow::field("i32", arrow::int32()),
      arrow::field("i64", arrow::int64()),
      arrow::field("f64", arrow::float64()),
      arrow::field("s", arrow::utf8()),
      arrow::field("b", arrow::boolean()),
      arrow::field("d", arrow::date32()),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
      arrow::field("tsn", arrow::timestamp(arrow::TimeUnit::MICRO)),
      arrow::field("tms", arrow::timestamp(arrow::TimeUnit::MILLI)),
      arrow::field("st", arrow::struct_({arrow::field("x", arrow::int32()),
                                         arrow::field("y", arrow::utf8())})),
  });
}

cp::Expression Translate(const std::string& sql, const arrow::Schema& schema) {
  auto node = MustParse(sql);
  auto r = ToArrow(node, schema);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
  return r.ok() ? *r : cp::literal(false);
}

std::string TranslateError(const std::string& sql, const arrow::Schema& schema) {
  auto r = ToArrow(MustParse(sql), schema);
  EXPECT_FALSE(r.ok()) << sql << " -> " << (r.ok() ? r->ToString() : "");
  if (r.ok()) return "";
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument)) << r.status().ToString();
  return r.status().message();
}

/// The literal the comparison `sql` ended up with (its right-hand side).
std::shared_ptr<arrow::Scalar> ComparedLiteral(const std::string& sql) {
  auto e = Translate(sql, *TestSchema());
  const auto* call = e.call();
  EXPECT_NE(call, nullptr) << e.ToString();
  if (!call) return nullptr;
  const auto* lit = call->arguments.back().literal();
  EXPECT_NE(lit, nullptr) << e.ToString();
  return lit ? lit->scalar() : nullptr;
}

TEST(ToArrowTest, LiteralsTakeTheColumnType) {
  auto s = ComparedLiteral("i32 = 5");
  EXPECT_TRUE(s->Equals(arrow::Int32Scalar(5))) << s->ToString();
  s = ComparedLiteral("f64 > 5");
  EXPECT_TRUE(s->Equals(arrow::DoubleScalar(5.0))) << s->type->ToString();
  s = ComparedLiteral("i64 < 2.0");
  EXPECT_TRUE(s->Equals(arrow::Int64Scalar(2)));
  s = ComparedLiteral("d >= '2026-01-02'");
  EXPECT_TRUE(s->Equals(arrow::Date32Scalar(static_cast<int32_t>(DaysFromCivil(2026, 1, 2)))));
  const int64_t midnight = DaysFromCivil(2026, 1, 1) * 86400LL;
  s = ComparedLiteral("ts < '2026-01-01 00:00:01.5'");
  EXPECT_TRUE(s->Equals(arrow::TimestampScalar((midnight + 1) * 1000000 + 500000,
                                               arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))))
      << s->ToString();
  s = ComparedLiteral("tms = TIMESTAMP '2026-01-01 01:00:00+01:00'");
  EXPECT_TRUE(s->Equals(arrow::TimestampScalar(midnight * 1000,
                                               arrow::timestamp(arrow::TimeUnit::MILLI))))
      << s->ToString();
  s = ComparedLiteral("ts = DATE '2026-01-01'");
  EXPECT_TRUE(s->Equals(arrow::TimestampScalar(midnight * 1000000,
                                               arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))));
  // Inexact: 1.5 stays a double (Arrow promotes the column), 3e9 stays int64.
  EXPECT_TRUE(ComparedLiteral("i32 < 1.5")->Equals(arrow::DoubleScalar(1.5)));
  EXPECT_TRUE(ComparedLiteral("i32 < 3000000000")->Equals(arrow::Int64Scalar(3000000000)));
  // A microsecond against a millisecond column widens the column instead.
  auto e = Translate("tms < TIMESTAMP_NTZ '2026-01-01 00:00:00.000001'", *TestSchema());
  EXPECT_NE(e.ToString().find("cast"), std::string::npos) << e.ToString();
}

TEST(ToArrowTest, ShapeOfCalls) {
  auto schema = TestSchema();
  EXPECT_EQ(Translate("i32 > 1 AND NOT b OR s IS NULL", *schema).ToString(),
            "(((i32 > 1) and invert(b)) or is_null(s, {nan_is_null=false}))");
  EXPECT_EQ(Translate("s LIKE 'a%'", *schema).ToString(),
            "match_like(s, {pattern=\"a%\", ignore_case=false})");
  EXPECT_EQ(Translate("i32 BETWEEN 1 AND 3", *schema).ToString(),
            "((i32 >= 1) and (i32 <= 3))");
  EXPECT_NE(Translate("i64 IN (1, 2)", *schema).ToString().find("is_in"), std::string::npos);
  EXPECT_EQ(Translate("i64 + 1 - 2 * i64", *schema).ToString(),
            "subtract_checked(add_checked(i64, 1), multiply_checked(2, i64))");
  const std::string nested = "(FieldRef.Nested(FieldRef.Name(st) FieldRef.Name(x)) == 1)";
  EXPECT_EQ(Translate("st.x = 1", *schema).ToString(), nested);
}

TEST(ToArrowTest, ColumnResolution) {
  auto schema = TestSchema();
  EXPECT_EQ(Translate("I32 = 1", *schema).ToString(), "(i32 == 1)");
  EXPECT_EQ(Translate("ST.X = 1", *schema).ToString(),
            "(FieldRef.Nested(FieldRef.Name(st) FieldRef.Name(x)) == 1)");
  EXPECT_EQ(Translate("t.i32 = 1", *schema).ToString(), "(i32 == 1)");  // alias qualifier
  EXPECT_EQ(TranslateError("nope = 1", *schema),
            "expression 'nope = 1': unknown column 'nope' (available: i32, i64, f64, s, b, d, ts, "
            "tsn, tms, st)");
  EXPECT_EQ(TranslateError("st.z = 1", *schema),
            "expression 'st.z = 1': no field 'z' in struct 'st' (fields: x, y)");
  EXPECT_EQ(TranslateError("i32.z = 1", *schema),
            "expression 'i32.z = 1': column 'i32' of type int32 has no field 'z'");
  auto two = arrow::schema({arrow::field("Id", arrow::int32()), arrow::field("ID", arrow::int32()),
                            arrow::field("id", arrow::int64())});
  EXPECT_EQ(Translate("id = 1", *two).ToString(), "(id == 1)");  // exact match wins
  EXPECT_NE(TranslateError("iD = 1", *two).find("ambiguous"), std::string::npos);
}

TEST(ToArrowTest, TypeErrors) {
  auto schema = TestSchema();
  EXPECT_NE(TranslateError("i32 = 'abc'", *schema).find("does not type-check"), std::string::npos);
  EXPECT_NE(TranslateError("d = 'yesterday'", *schema).find("not a valid DATE"),
            std::string::npos);
  EXPECT_NE(TranslateError("ts > 'noon'", *schema).find("not a valid TIMESTAMP"),
            std::string::npos);
  EXPECT_NE(TranslateError("i32 IN (1, TRUE)", *schema).find("does not type-check"),
            std::string::npos);
  EXPECT_NE(TranslateError("substring(s, i32)", *schema).find("integer literal"),
            std::string::npos);
  EXPECT_NE(TranslateError("b AND s", *schema).find("does not type-check"), std::string::npos);
}

// --- executing translated expressions ---------------------------------------------------------

/// Evaluates `sql` on `batch`; one optional<bool>/value string per row.
Result<std::vector<std::string>> RunSql(const std::string& sql, const arrow::RecordBatch& batch) {
  STRATA_ASSIGN_OR_RAISE(auto node, Parse(sql));
  STRATA_ASSIGN_OR_RAISE(auto expr, ToArrow(node, *batch.schema()));
  STRATA_ASSIGN_OR_RAISE(auto bound, expr.Bind(*batch.schema()));
  STRATA_ASSIGN_OR_RAISE(auto datum, cp::ExecuteScalarExpression(bound, *batch.schema(),
                                                                 arrow::RecordBatch::Make(batch.schema(), batch.num_rows(), batch.columns())));
  std::shared_ptr<arrow::Array> arr;
  if (datum.is_scalar()) {
    STRATA_ASSIGN_OR_RAISE(arr, arrow::MakeArrayFromScalar(*datum.scalar(), batch.num_rows()));
  } else {
    arr = datum.make_array();
  }
  std::vector<std::string> out;
  for (int64_t i = 0; i < arr->length(); ++i) {
    STRATA_ASSIGN_OR_RAISE(auto s, arr->GetScalar(i));
    out.push_back(s->is_valid ? s->ToString() : "null");
  }
  return out;
}

std::shared_ptr<arrow::RecordBatch> SmallBatch() {
  auto schema = arrow::schema({arrow::field("i", arrow::int32()), arrow::field("s", arrow::utf8()),
                               arrow::field("f", arrow::float64())});
  arrow::Int32Builder ib;
  arrow::StringBuilder sb;
  arrow::DoubleBuilder fb;
  EXPECT_OK(ib.AppendValues({1, 2, 7, -7}));
  EXPECT_OK(ib.AppendNull());
  EXPECT_OK(sb.AppendValues({"hello", "Ab", "", "héllo"}));
  EXPECT_OK(sb.AppendNull());
  EXPECT_OK(fb.AppendValues({0.0, -0.0, 2.5, NAN, 1.0}));
  std::shared_ptr<arrow::Array> i, s, f;
  EXPECT_OK(ib.Finish(&i));
  EXPECT_OK(sb.Finish(&s));
  EXPECT_OK(fb.Finish(&f));
  return arrow::RecordBatch::Make(schema, 5, {i, s, f});
}

using Rows = std::vector<std::string>;

TEST(ToArrowTest, SqlSemanticsOnData) {
  auto batch = SmallBatch();
  auto run = [&](const std::string& sql) {
    auto r = RunSql(sql, *batch);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    return r.ok() ? *r : Rows{};
  };
  EXPECT_EQ(run("i IN (1, NULL)"), (Rows{"true", "null", "null", "null", "null"}));
  EXPECT_EQ(run("i NOT IN (1, 2)"), (Rows{"false", "false", "true", "true", "null"}));
  EXPECT_EQ(run("i IN (1, 2.5, 3000000000)"), (Rows{"true", "false", "false", "false", "null"}));
  EXPECT_EQ(run("f IN (0)"), (Rows{"true", "true", "false", "false", "false"}));  // -0.0 = 0
  EXPECT_EQ(run("i <=> NULL"), (Rows{"false", "false", "false", "false", "true"}));
  EXPECT_EQ(run("i <=> 2"), (Rows{"false", "true", "false", "false", "false"}));
  EXPECT_EQ(run("i = NULL"), (Rows{"null", "null", "null", "null", "null"}));
  EXPECT_EQ(run("NULL <=> NULL"), (Rows{"true", "true", "true", "true", "true"}));
  EXPECT_EQ(run("i > 1 IS NOT TRUE"), (Rows{"true", "false", "false", "true", "true"}));
  EXPECT_EQ(run("i > 1 IS FALSE"), (Rows{"true", "false", "false", "true", "false"}));
  EXPECT_EQ(run("i > 1 OR NULL"), (Rows{"null", "true", "true", "null", "null"}));
  EXPECT_EQ(run("i / 2"), (Rows{"0.5", "1", "3.5", "-3.5", "null"}));
  EXPECT_EQ(run("i % 3"), (Rows{"1", "2", "1", "-1", "null"}));
  EXPECT_EQ(run("-i"), (Rows{"-1", "-2", "-7", "7", "null"}));
  EXPECT_EQ(run("f <> 1"), (Rows{"true", "true", "true", "true", "false"}));  // NaN <> 1
  EXPECT_EQ(run("s LIKE 'h_llo'"), (Rows{"true", "false", "false", "true", "null"}));
  EXPECT_EQ(run("s NOT LIKE '%l%'"), (Rows{"false", "true", "true", "false", "null"}));
  EXPECT_EQ(run("length(s)"), (Rows{"5", "2", "0", "5", "null"}));
  EXPECT_EQ(run("upper(s)"), (Rows{"HELLO", "AB", "", "HÉLLO", "null"}));
  EXPECT_EQ(run("lower(s)"), (Rows{"hello", "ab", "", "héllo", "null"}));
  EXPECT_EQ(run("substring(s, 2, 3)"), (Rows{"ell", "b", "", "éll", "null"}));
  EXPECT_EQ(run("substring(s, -3)"), (Rows{"llo", "Ab", "", "llo", "null"}));
  EXPECT_EQ(run("substring(s, -3, 2)"), (Rows{"ll", "A", "", "ll", "null"}));
  EXPECT_EQ(run("substring(s, 0, 2)"), (Rows{"he", "Ab", "", "hé", "null"}));
  EXPECT_EQ(run("substring(s, 2, 0)"), (Rows{"", "", "", "", "null"}));
  EXPECT_EQ(run("concat(s, '-', i)"), (Rows{"hello-1", "Ab-2", "-7", "héllo--7", "null"}));
  EXPECT_EQ(run("coalesce(i, 0) + 1"), (Rows{"2", "3", "8", "-6", "1"}));
  EXPECT_EQ(run("abs(i)"), (Rows{"1", "2", "7", "7", "null"}));
  EXPECT_EQ(run("CAST(i AS STRING)"), (Rows{"1", "2", "7", "-7", "null"}));
  EXPECT_EQ(run("CAST(i AS DECIMAL(12,2)) > 1.5"), (Rows{"false", "true", "true", "false", "null"}));
  // ANSI mode: arithmetic errors fail the evaluation rather than yielding NULL.
  EXPECT_FALSE(RunSql("i / 0 > 1", *batch).ok());
  EXPECT_FALSE(RunSql("i % 0 > 1", *batch).ok());
  EXPECT_FALSE(RunSql("i * 2147483647 > 1", *batch).ok());
}

TEST(ToArrowTest, TemporalFunctions) {
  auto schema = arrow::schema(
      {arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
       arrow::field("d", arrow::date32())});
  const int64_t t = (DaysFromCivil(2026, 3, 14) * 86400LL + 15 * 3600 + 9 * 60) * 1000000;
  arrow::TimestampBuilder tb(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"),
                             arrow::default_memory_pool());
  arrow::Date32Builder db;
  ASSERT_OK(tb.Append(t));
  ASSERT_OK(db.Append(static_cast<int32_t>(DaysFromCivil(1999, 12, 31))));
  std::shared_ptr<arrow::Array> ta, da;
  ASSERT_OK(tb.Finish(&ta));
  ASSERT_OK(db.Finish(&da));
  auto batch = arrow::RecordBatch::Make(schema, 1, {ta, da});
  auto rows = [&](const std::string& sql) {
    auto r = RunSql(sql, *batch);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    return r.ok() ? *r : Rows{};
  };
  EXPECT_EQ(rows("year(ts) * 10000 + month(ts) * 100 + day(ts)"), Rows{"20260314"});
  EXPECT_EQ(rows("hour(ts)"), Rows{"15"});
  EXPECT_EQ(rows("year(d) = 1999 AND month(d) = 12 AND day(d) = 31"), Rows{"true"});
  EXPECT_EQ(rows("ts > d"), Rows{"true"});
  EXPECT_EQ(rows("d < TIMESTAMP '1999-12-31 00:00:01'"), Rows{"true"});
  EXPECT_EQ(rows("d = '1999-12-31'"), Rows{"true"});
  EXPECT_EQ(rows("ts = '2026-03-14T16:09:00+01:00'"), Rows{"true"});
  EXPECT_EQ(rows("ts BETWEEN DATE '2026-03-14' AND DATE '2026-03-15'"), Rows{"true"});
}

// =============================================================================================
// Random data, random predicates, brute-force evaluator

enum class ColKind { kI32, kI64, kF64, kStr, kBool, kDate, kTs, kTsNtz, kTsMs };

struct ColSpec {
  std::string sql;                 ///< how predicates name it
  std::vector<std::string> path;   ///< path in TestSchema
  ColKind kind;
};

const std::vector<ColSpec>& Columns() {
  static const std::vector<ColSpec> kCols = {
      {"i32", {"i32"}, ColKind::kI32},   {"i64", {"i64"}, ColKind::kI64},
      {"f64", {"f64"}, ColKind::kF64},   {"s", {"s"}, ColKind::kStr},
      {"b", {"b"}, ColKind::kBool},      {"d", {"d"}, ColKind::kDate},
      {"ts", {"ts"}, ColKind::kTs},      {"tsn", {"tsn"}, ColKind::kTsNtz},
      {"tms", {"tms"}, ColKind::kTsMs},  {"st.x", {"st", "x"}, ColKind::kI32},
      {"st.y", {"st", "y"}, ColKind::kStr}};
  return kCols;
}

const int64_t kBaseDay = DaysFromCivil(2026, 1, 1);
const int64_t kBaseMicros = kBaseDay * 86400LL * 1000000;

const std::vector<std::string>& StringPool() {
  static const std::vector<std::string> kPool = {"",   "a",  "ab", "b",  "ba", "abc", "A",
                                                 "Ab", "é",  "aé", "it's", "%", "a_b"};
  return kPool;
}

/// Random table: every column of TestSchema, with nulls (sometimes all nulls).
class DataGen {
 public:
  explicit DataGen(std::mt19937_64* rng) : rng_(*rng) {}

  std::shared_ptr<arrow::RecordBatch> Make(int rows) {
    auto schema = TestSchema();
    std::vector<std::shared_ptr<arrow::Array>> cols;
    for (int c = 0; c < schema->num_fields(); ++c) {
      cols.push_back(MakeColumn(schema->field(c)->type(), rows));
    }
    return arrow::RecordBatch::Make(schema, rows, cols);
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }

  std::shared_ptr<arrow::Array> MakeColumn(const std::shared_ptr<arrow::DataType>& type,
                                           int rows) {
    // Per column: how often NULL (all-NULL and NULL-free columns included).
    static const double kNullRates[] = {0.0, 0.0, 0.2, 0.2, 0.5, 1.0};
    const double null_rate = kNullRates[Pick(6)];
    std::unique_ptr<arrow::ArrayBuilder> builder = arrow::MakeBuilder(type).ValueOrDie();
    // Narrow value ranges so that literals hit, miss and straddle min/max.
    const int spread = 1 + Pick(8);
    const int center = Pick(9) - 4;
    for (int r = 0; r < rows; ++r) {
      const bool null = std::uniform_real_distribution<double>(0, 1)(rng_) < null_rate;
      EXPECT_OK(AppendValue(builder.get(), *type, null, center, spread));
    }
    return builder->Finish().ValueOrDie();
  }

  Status AppendValue(arrow::ArrayBuilder* b, const arrow::DataType& type, bool null, int center,
                     int spread) {
    if (null && type.id() != arrow::Type::STRUCT) return b->AppendNull();
    const int k = center + Pick(2 * spread + 1) - spread;
    switch (type.id()) {
      case arrow::Type::INT32: {
        int32_t v = k;
        if (Pick(40) == 0) v = Pick(2) ? std::numeric_limits<int32_t>::max()
                                       : std::numeric_limits<int32_t>::min();
        return static_cast<arrow::Int32Builder*>(b)->Append(v);
      }
      case arrow::Type::INT64: {
        int64_t v = k;
        if (Pick(40) == 0) v = Pick(2) ? 4000000000000000000LL : -4000000000000000000LL;
        return static_cast<arrow::Int64Builder*>(b)->Append(v);
      }
      case arrow::Type::DOUBLE: {
        double v = k / 2.0;
        const int special = Pick(30);
        if (special == 0) v = NAN;
        if (special == 1) v = -0.0;
        if (special == 2) v = 1e308;
        return static_cast<arrow::DoubleBuilder*>(b)->Append(v);
      }
      case arrow::Type::STRING: {
        const auto& pool = StringPool();
        const int idx = std::clamp(k + 6, 0, static_cast<int>(pool.size()) - 1);
        return static_cast<arrow::StringBuilder*>(b)->Append(pool[Pick(4) ? idx : Pick(13)]);
      }
      case arrow::Type::BOOL:
        return static_cast<arrow::BooleanBuilder*>(b)->Append(k % 2 != 0);
      case arrow::Type::DATE32:
        return static_cast<arrow::Date32Builder*>(b)->Append(static_cast<int32_t>(kBaseDay + k));
      case arrow::Type::TIMESTAMP: {
        const auto unit = static_cast<const arrow::TimestampType&>(type).unit();
        // Quarter seconds around 2026-01-01, sometimes one microsecond off.
        int64_t micros = kBaseMicros + k * 250000LL;
        if (unit == arrow::TimeUnit::MICRO && Pick(10) == 0) micros += 1;
        if (Pick(25) == 0) micros += 86400LL * 1000000 * (Pick(2) ? 1 : -1);
        const int64_t v = unit == arrow::TimeUnit::MILLI ? micros / 1000 : micros;
        return static_cast<arrow::TimestampBuilder*>(b)->Append(v);
      }
      case arrow::Type::STRUCT: {
        auto* sb = static_cast<arrow::StructBuilder*>(b);
        const bool parent_null = null && Pick(2);
        STRATA_RETURN_NOT_OK(parent_null ? sb->AppendNull() : sb->Append());
        if (parent_null) return Status::OK();
        for (int f = 0; f < sb->num_fields(); ++f) {
          STRATA_RETURN_NOT_OK(AppendValue(sb->field_builder(f), *type.field(f)->type(),
                                           null && Pick(2), center, spread));
        }
        return Status::OK();
      }
      default:
        return Status::NotImplemented(type.ToString());
    }
  }

  std::mt19937_64& rng_;
};

// --- values and the evaluator ---

enum class VK { kNull, kBool, kInt, kDbl, kStr, kDate, kTs };

struct V {
  VK k = VK::kNull;
  bool b = false;
  __int128 i = 0;  ///< kInt value, kDate days, kTs microseconds
  double d = 0;
  std::string s;
  bool null() const { return k == VK::kNull; }
};

V Bool(bool b) {
  V v;
  v.k = VK::kBool;
  v.b = b;
  return v;
}
V Int(__int128 i) {
  V v;
  v.k = VK::kInt;
  v.i = i;
  return v;
}
V Dbl(double d) {
  V v;
  v.k = VK::kDbl;
  v.d = d;
  return v;
}
V Str(std::string s) {
  V v;
  v.k = VK::kStr;
  v.s = std::move(s);
  return v;
}
V Tagged(VK k, __int128 i) {
  V v;
  v.k = k;
  v.i = i;
  return v;
}

/// Static result types, only as far as integer widths need them.
enum class ST { kNull, kBool, kI32, kI64, kF64, kStr, kDate, kTs };

std::vector<uint32_t> CodePoints(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t cp = n == 1 ? c : c & (0xFF >> (n + 1));
    for (int j = 1; j < n; ++j) cp = (cp << 6) | (static_cast<unsigned char>(s[i + j]) & 0x3F);
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string FromCodePoints(const std::vector<uint32_t>& cps, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to && i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

bool LikeMatch(const std::vector<uint32_t>& s, const std::vector<uint32_t>& p) {
  // dp[j]: pattern[0..i) matches s[0..j)
  std::vector<char> dp(s.size() + 1, 0);
  dp[0] = 1;
  for (uint32_t pc : p) {
    std::vector<char> next(s.size() + 1, 0);
    if (pc == '%') {
      char any = 0;
      for (size_t j = 0; j <= s.size(); ++j) {
        any |= dp[j];
        next[j] = any;
      }
    } else {
      for (size_t j = 1; j <= s.size(); ++j) {
        next[j] = dp[j - 1] && (pc == '_' || pc == s[j - 1]);
      }
    }
    dp = std::move(next);
  }
  return dp[s.size()];
}

/// Reads the date/time strings that the predicate generator writes, independently of the
/// library's parser: `YYYY-MM-DD[( |T)hh:mm:ss[.ffffff]][Z|+hh:mm]`.
std::optional<V> ReadTemporalString(const std::string& s, bool want_date) {
  int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return std::nullopt;
  const int64_t days =
      sys_days{std::chrono::year{y} / std::chrono::month(mo) / std::chrono::day(d)}
          .time_since_epoch()
          .count();
  std::string rest = s.substr(n);
  if (rest.empty() && want_date) return Tagged(VK::kDate, days);
  int64_t micros = 0, offset = 0;
  if (!rest.empty()) {
    int m = 0;
    if (std::sscanf(rest.c_str() + 1, "%2d:%2d:%2d%n", &h, &mi, &se, &m) != 3) return std::nullopt;
    rest = rest.substr(1 + m);
    if (!rest.empty() && rest[0] == '.') {
      size_t j = 1;
      std::string digits;
      while (j < rest.size() && std::isdigit(static_cast<unsigned char>(rest[j]))) {
        digits += rest[j++];
      }
      while (digits.size() < 6) digits += '0';
      micros = std::stoll(digits);
      rest = rest.substr(j);
    }
    if (rest == "Z") {
      rest.clear();
    } else if (!rest.empty()) {
      int oh, om;
      if (std::sscanf(rest.c_str() + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
      offset = (rest[0] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    }
  }
  return Tagged(VK::kTs, ((days * 86400 + h * 3600 + mi * 60 + se - offset) * 1000000) + micros);
}

/// Three-way comparison of two non-null values by SQL rules (nullopt: unordered, i.e. NaN).
std::optional<int> CompareV(const V& a, const V& b) {
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (a.k == VK::kInt && b.k == VK::kInt) return sign(a.i, b.i);
  if ((a.k == VK::kInt || a.k == VK::kDbl) && (b.k == VK::kInt || b.k == VK::kDbl)) {
    const double x = a.k == VK::kInt ? static_cast<double>(a.i) : a.d;
    const double y = b.k == VK::kInt ? static_cast<double>(b.i) : b.d;
    if (std::isnan(x) || std::isnan(y)) return std::nullopt;
    return sign(x, y);
  }
  if (a.k == VK::kStr && b.k == VK::kStr) return sign(a.s.compare(b.s), 0);
  if (a.k == VK::kBool && b.k == VK::kBool) return sign(a.b, b.b);
  if (a.k == VK::kStr || b.k == VK::kStr) {
    const V& str = a.k == VK::kStr ? a : b;
    const V& other = a.k == VK::kStr ? b : a;
    auto parsed = ReadTemporalString(str.s, other.k == VK::kDate);
    if (!parsed) {
      ADD_FAILURE() << "evaluator cannot read '" << str.s << "'";
      return 0;
    }
    return a.k == VK::kStr ? CompareV(*parsed, other) : CompareV(other, *parsed);
  }
  auto micros = [](const V& v) { return v.k == VK::kDate ? v.i * 86400 * 1000000 : v.i; };
  if ((a.k == VK::kDate || a.k == VK::kTs) && (b.k == VK::kDate || b.k == VK::kTs)) {
    return sign(micros(a), micros(b));
  }
  ADD_FAILURE() << "evaluator cannot compare kinds " << static_cast<int>(a.k) << " and "
                << static_cast<int>(b.k);
  return 0;
}

/// Brute-force SQL evaluation of an AST over one row of a TestSchema batch. Written from the
/// SQL rules, not from the translator: Kleene logic, NULL propagation, ANSI arithmetic errors.
class Evaluator {
 public:
  explicit Evaluator(const arrow::RecordBatch& batch) : batch_(batch) {}

  /// `error` is set when the row raises an evaluation error (overflow, division by zero, ...).
  V Eval(const Node& n, int64_t row, bool* error) {
    const auto& c = n.children;
    switch (n.kind) {
      case NodeKind::kLiteral: return FromLiteral(n.literal);
      case NodeKind::kColumn: return ColumnValue(n.path, row);
      case NodeKind::kNot: return Not(Eval(*c[0], row, error));
      case NodeKind::kAnd:
      case NodeKind::kOr: {
        const bool is_and = n.kind == NodeKind::kAnd;
        V acc = Eval(*c[0], row, error);
        for (size_t i = 1; i < c.size(); ++i) {
          V x = Eval(*c[i], row, error);
          acc = is_and ? And(acc, x) : Not(And(Not(acc), Not(x)));
        }
        return acc;
      }
      case NodeKind::kCompare: {
        auto is_null_lit = [](const Node& x) {
          return x.kind == NodeKind::kLiteral && x.literal.kind == LiteralKind::kNull;
        };
        if (n.cmp != CompareOp::kNullSafeEq && (is_null_lit(*c[0]) || is_null_lit(*c[1]))) {
          return V{};  // constant NULL; the other side is never computed
        }
        V a = Eval(*c[0], row, error), b = Eval(*c[1], row, error);
        if (n.cmp == CompareOp::kNullSafeEq) {
          if (a.null() || b.null()) return Bool(a.null() && b.null());
          auto r = CompareV(a, b);
          return Bool(r && *r == 0);
        }
        return Cmp(n.cmp, a, b);
      }
      case NodeKind::kArith: return Arith(n, row, error);
      case NodeKind::kNegate: {
        V x = Eval(*c[0], row, error);
        if (x.null()) return x;
        if (x.k == VK::kDbl) return Dbl(-x.d);
        return CheckRange(-x.i, TypeOf(*c[0]), error);
      }
      case NodeKind::kIsNull: {
        const bool is_null = Eval(*c[0], row, error).null();
        return Bool(n.negated ? !is_null : is_null);
      }
      case NodeKind::kIsBool: {
        V x = Eval(*c[0], row, error);
        const bool hit = !x.null() && x.b == n.truth;
        return Bool(n.negated ? !hit : hit);
      }
      case NodeKind::kIn: {
        V x = Eval(*c[0], row, error);
        bool any_null = false, match = false;
        for (size_t i = 1; i < c.size(); ++i) {
          V item = Eval(*c[i], row, error);
          if (item.null()) {
            any_null = true;
          } else if (!x.null()) {
            auto r = CompareV(x, item);
            match |= r && *r == 0;
          }
        }
        V out = x.null() ? V{} : match ? Bool(true) : any_null ? V{} : Bool(false);
        return n.negated ? Not(out) : out;
      }
      case NodeKind::kBetween: {
        auto is_null_lit = [](const Node& x) {
          return x.kind == NodeKind::kLiteral && x.literal.kind == LiteralKind::kNull;
        };
        if (is_null_lit(*c[1]) && is_null_lit(*c[2])) return V{};  // never computes x
        V x = Eval(*c[0], row, error);
        V lo = Eval(*c[1], row, error), hi = Eval(*c[2], row, error);
        V out = And(Cmp(CompareOp::kGe, x, lo), Cmp(CompareOp::kLe, x, hi));
        return n.negated ? Not(out) : out;
      }
      case NodeKind::kLike: {
        V x = Eval(*c[0], row, error);
        if (x.null()) return x;
        const bool m = LikeMatch(CodePoints(x.s), CodePoints(n.literal.s));
        return Bool(n.negated ? !m : m);
      }
      case NodeKind::kCast: {
        V x = Eval(*c[0], row, error);
        if (x.null()) return x;
        switch (n.cast_type->id()) {
          case arrow::Type::DOUBLE:
            return Dbl(x.k == VK::kInt ? static_cast<double>(x.i) : x.d);
          case arrow::Type::INT64:
          case arrow::Type::INT32: {
            __int128 v = x.i;
            if (x.k == VK::kDbl) {
              if (!(std::trunc(x.d) == x.d) || std::fabs(x.d) > 9.2e18) {
                *error = true;
                return V{};
              }
              v = static_cast<__int128>(x.d);
            }
            return CheckRange(v, n.cast_type->id() == arrow::Type::INT32 ? ST::kI32 : ST::kI64,
                              error);
          }
          default:
            ADD_FAILURE() << "evaluator: no CAST to " << n.cast_type->ToString();
            return V{};
        }
      }
      case NodeKind::kCall: return Call(n, row, error);
    }
    return V{};
  }

  ST TypeOf(const Node& n) {
    switch (n.kind) {
      case NodeKind::kLiteral:
        switch (n.literal.kind) {
          case LiteralKind::kNull: return ST::kNull;
          case LiteralKind::kBool: return ST::kBool;
          case LiteralKind::kInt: return ST::kI64;
          case LiteralKind::kDouble: return ST::kF64;
          case LiteralKind::kString: return ST::kStr;
          case LiteralKind::kDate: return ST::kDate;
          default: return ST::kTs;
        }
      case NodeKind::kColumn: {
        auto col = ResolveColumn(n.path, *batch_.schema()).ValueOrDie();
        switch (col.type->id()) {
          case arrow::Type::INT32: return ST::kI32;
          case arrow::Type::INT64: return ST::kI64;
          case arrow::Type::DOUBLE: return ST::kF64;
          case arrow::Type::STRING: return ST::kStr;
          case arrow::Type::BOOL: return ST::kBool;
          case arrow::Type::DATE32: return ST::kDate;
          default: return ST::kTs;
        }
      }
      case NodeKind::kArith: {
        if (n.arith == ArithOp::kDiv) return ST::kF64;
        auto [a, b] = OperandTypes(n);
        if (a == ST::kF64 || b == ST::kF64) return ST::kF64;
        return a == ST::kI32 && b == ST::kI32 ? ST::kI32 : ST::kI64;
      }
      case NodeKind::kNegate: return TypeOf(*n.children[0]);
      case NodeKind::kCast:
        return n.cast_type->id() == arrow::Type::DOUBLE  ? ST::kF64
               : n.cast_type->id() == arrow::Type::INT32 ? ST::kI32
                                                         : ST::kI64;
      case NodeKind::kCall:
        if (n.function == "length") return ST::kI32;
        if (n.function == "abs") return TypeOf(*n.children[0]);
        if (n.function == "coalesce") {
          for (const auto& a : n.children) {
            if (a->kind != NodeKind::kLiteral) return TypeOf(*a);
          }
          return TypeOf(*n.children[0]);
        }
        if (n.function == "lower" || n.function == "upper" || n.function == "substring" ||
            n.function == "concat") {
          return ST::kStr;
        }
        return ST::kI64;  // year, month, day, hour
      default: return ST::kBool;
    }
  }

 private:
  /// Operand types of a binary arithmetic node, after an integer literal beside an INT
  /// operand narrows to INT (as the translator does when the value fits).
  std::pair<ST, ST> OperandTypes(const Node& n) {
    ST a = TypeOf(*n.children[0]), b = TypeOf(*n.children[1]);
    auto narrow = [](const Node& lit, ST other, ST* t) {
      if (lit.kind != NodeKind::kLiteral || (other != ST::kI32 && other != ST::kI64)) return;
      double v;
      if (lit.literal.kind == LiteralKind::kInt) {
        v = static_cast<double>(lit.literal.i);
      } else if (lit.literal.kind == LiteralKind::kDouble && std::trunc(lit.literal.d) == lit.literal.d) {
        v = lit.literal.d;
      } else {
        return;
      }
      const double limit = other == ST::kI32 ? 2147483648.0 : 9223372036854775808.0;
      if (v >= -limit && v < limit) *t = other;
    };
    narrow(*n.children[0], b, &a);
    narrow(*n.children[1], a, &b);
    return {a, b};
  }

  static V Not(const V& x) { return x.null() ? x : Bool(!x.b); }
  static V And(const V& a, const V& b) {
    if ((!a.null() && !a.b) || (!b.null() && !b.b)) return Bool(false);
    if (a.null() || b.null()) return V{};
    return Bool(true);
  }

  static V Cmp(CompareOp op, const V& a, const V& b) {
    if (a.null() || b.null()) return V{};
    auto r = CompareV(a, b);
    if (!r) return Bool(op == CompareOp::kNe);
    switch (op) {
      case CompareOp::kEq: return Bool(*r == 0);
      case CompareOp::kNe: return Bool(*r != 0);
      case CompareOp::kLt: return Bool(*r < 0);
      case CompareOp::kLe: return Bool(*r <= 0);
      case CompareOp::kGt: return Bool(*r > 0);
      case CompareOp::kGe: return Bool(*r >= 0);
      default: return V{};
    }
  }

  static V CheckRange(__int128 v, ST type, bool* error) {
    const __int128 lo = type == ST::kI32 ? INT32_MIN : INT64_MIN;
    const __int128 hi = type == ST::kI32 ? INT32_MAX : INT64_MAX;
    if (v < lo || v > hi) {
      *error = true;
      return V{};
    }
    return Int(v);
  }

  V Arith(const Node& n, int64_t row, bool* error) {
    V a = Eval(*n.children[0], row, error), b = Eval(*n.children[1], row, error);
    if (a.null() || b.null()) return V{};
    const ST type = TypeOf(n);
    if (type == ST::kF64) {
      const double x = a.k == VK::kInt ? static_cast<double>(a.i) : a.d;
      const double y = b.k == VK::kInt ? static_cast<double>(b.i) : b.d;
      switch (n.arith) {
        case ArithOp::kAdd: return Dbl(x + y);
        case ArithOp::kSub: return Dbl(x - y);
        case ArithOp::kMul: return Dbl(x * y);
        case ArithOp::kDiv:
        case ArithOp::kMod:
          if (y == 0) {
            *error = true;
            return V{};
          }
          return Dbl(n.arith == ArithOp::kDiv ? x / y : std::fmod(x, y));
      }
    }
    if (a.k == VK::kDbl) a = Int(static_cast<__int128>(a.d));  // an integral literal
    if (b.k == VK::kDbl) b = Int(static_cast<__int128>(b.d));
    switch (n.arith) {
      case ArithOp::kAdd: return CheckRange(a.i + b.i, type, error);
      case ArithOp::kSub: return CheckRange(a.i - b.i, type, error);
      case ArithOp::kMul: return CheckRange(a.i * b.i, type, error);
      default:
        if (b.i == 0) {
          *error = true;
          return V{};
        }
        if (b.i == -1 && a.i == (type == ST::kI32 ? INT32_MIN : INT64_MIN)) {
          *error = true;  // Arrow reports MIN % -1 as an overflow
          return V{};
        }
        return CheckRange(a.i % b.i, type, error);
    }
  }

  V Call(const Node& n, int64_t row, bool* error) {
    std::vector<V> args;
    for (const auto& c : n.children) args.push_back(Eval(*c, row, error));
    const std::string& fn = n.function;
    if (fn == "coalesce") {
      for (auto& a : args) {
        if (!a.null()) return a;
      }
      return V{};
    }
    if (fn == "concat") {
      std::string out;
      for (auto& a : args) {
        if (a.null()) return V{};
        out += a.k == VK::kStr ? a.s : std::to_string(static_cast<int64_t>(a.i));
      }
      return Str(out);
    }
    const V& x = args[0];
    if (x.null()) return x;
    if (fn == "lower" || fn == "upper") {
      std::string out;
      for (uint32_t cp : CodePoints(x.s)) {
        if (fn == "lower" && ((cp >= 'A' && cp <= 'Z') || cp == 0xC9)) cp += 32;
        if (fn == "upper" && ((cp >= 'a' && cp <= 'z') || cp == 0xE9)) cp -= 32;
        out += FromCodePoints({cp}, 0, 1);
      }
      return Str(out);
    }
    if (fn == "length") return Int(static_cast<int64_t>(CodePoints(x.s).size()));
    if (fn == "abs") {
      if (x.k == VK::kDbl) return Dbl(std::fabs(x.d));
      return CheckRange(x.i < 0 ? -x.i : x.i, TypeOf(*n.children[0]), error);
    }
    if (fn == "substring") {
      // Spark's UTF8String.substringSQL.
      const auto cps = CodePoints(x.s);
      const int64_t len = static_cast<int64_t>(cps.size());
      const int64_t pos = n.children[1]->literal.i;
      const int64_t count =
          n.children.size() == 3 ? n.children[2]->literal.i : std::numeric_limits<int32_t>::max();
      int64_t start = pos > 0 ? pos - 1 : (pos < 0 ? len + pos : 0);
      int64_t end = start + count;
      start = std::max<int64_t>(start, 0);
      if (start >= end) return Str("");
      return Str(FromCodePoints(cps, static_cast<size_t>(start),
                                static_cast<size_t>(std::min(end, len))));
    }
    // year, month, day, hour of a date or a timestamp (UTC)
    const int64_t micros = x.k == VK::kDate ? static_cast<int64_t>(x.i) * 86400 * 1000000
                                            : static_cast<int64_t>(x.i);
    const int64_t secs = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
    const int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    const std::chrono::year_month_day ymd{sys_days{std::chrono::days{days}}};
    if (fn == "year") return Int(static_cast<int>(ymd.year()));
    if (fn == "month") return Int(static_cast<unsigned>(ymd.month()));
    if (fn == "day") return Int(static_cast<unsigned>(ymd.day()));
    if (fn == "hour") return Int((secs - days * 86400) / 3600);
    ADD_FAILURE() << "evaluator: no function " << fn;
    return V{};
  }

  static V FromLiteral(const Literal& l) {
    switch (l.kind) {
      case LiteralKind::kNull: return V{};
      case LiteralKind::kBool: return Bool(l.b);
      case LiteralKind::kInt: return Int(l.i);
      case LiteralKind::kDouble: return Dbl(l.d);
      case LiteralKind::kString: return Str(l.s);
      case LiteralKind::kDate: return Tagged(VK::kDate, l.i);
      default: return Tagged(VK::kTs, l.i);
    }
  }

  V ColumnValue(const std::vector<std::string>& path, int64_t row) {
    auto col = ResolveColumn(path, *batch_.schema()).ValueOrDie();
    const arrow::Array* arr = batch_.GetColumnByName(col.names[0]).get();
    for (size_t i = 1; i < col.names.size(); ++i) {
      if (arr->IsNull(row)) return V{};
      arr = static_cast<const arrow::StructArray*>(arr)->GetFieldByName(col.names[i]).get();
    }
    if (arr->IsNull(row)) return V{};
    switch (arr->type_id()) {
      case arrow::Type::INT32: return Int(static_cast<const arrow::Int32Array*>(arr)->Value(row));
      case arrow::Type::INT64: return Int(static_cast<const arrow::Int64Array*>(arr)->Value(row));
      case arrow::Type::DOUBLE: return Dbl(static_cast<const arrow::DoubleArray*>(arr)->Value(row));
      case arrow::Type::STRING:
        return Str(std::string(static_cast<const arrow::StringArray*>(arr)->GetView(row)));
      case arrow::Type::BOOL: return Bool(static_cast<const arrow::BooleanArray*>(arr)->Value(row));
      case arrow::Type::DATE32:
        return Tagged(VK::kDate, static_cast<const arrow::Date32Array*>(arr)->Value(row));
      case arrow::Type::TIMESTAMP: {
        const auto unit = static_cast<const arrow::TimestampType&>(*arr->type()).unit();
        const int64_t v = static_cast<const arrow::TimestampArray*>(arr)->Value(row);
        return Tagged(VK::kTs, unit == arrow::TimeUnit::MILLI ? __int128{v} * 1000 : v);
      }
      default:
        ADD_FAILURE() << "evaluator: column type " << arr->type()->ToString();
        return V{};
    }
  }

  const arrow::RecordBatch& batch_;
};

// --- random predicates over TestSchema ---

class PredicateGen {
 public:
  explicit PredicateGen(std::mt19937_64* rng) : rng_(*rng) {}

  /// `prunable` leans towards forms that statistics can decide.
  std::string Gen(int depth, bool prunable) {
    if (depth > 0 && Pick(3) == 0) {
      switch (Pick(6)) {
        case 0: return "NOT " + Paren(Gen(depth - 1, prunable));
        case 1: return Paren(Gen(depth - 1, prunable)) + Kw(" OR ") + Paren(Gen(depth - 1, prunable));
        case 2:
          return Paren(Gen(depth - 1, prunable)) + Kw(" AND ") + Paren(Gen(depth - 1, prunable)) +
                 (Pick(3) == 0 ? Kw(" AND ") + Paren(Gen(depth - 1, prunable)) : "");
        case 3: {
          static const char* kIs[] = {" IS TRUE", " IS FALSE", " IS NOT TRUE", " IS NOT FALSE"};
          return Paren(Gen(depth - 1, prunable)) + Kw(kIs[Pick(4)]);
        }
        case 4: return Paren(Gen(depth - 1, prunable)) + " <=> " + Paren(Gen(depth - 1, prunable));
        default: return Paren(Gen(depth - 1, prunable)) + Kw(" AND ") + Paren(Gen(depth - 1, prunable));
      }
    }
    return Leaf(prunable);
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  static std::string Paren(const std::string& s) { return "(" + s + ")"; }
  /// Keywords in random case.
  std::string Kw(std::string s) {
    if (Pick(4) == 0) {
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    return s;
  }

  std::string Op() {
    static const char* kOps[] = {"=", "==", "!=", "<>", "<", "<=", ">", ">=", "<=>"};
    return kOps[Pick(9)];
  }

  std::string Name(const ColSpec& c) {
    if (Pick(10) == 0) {  // case-insensitive or alias-qualified spelling
      std::string s = c.sql;
      if (Pick(2)) return "t." + s;
      for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      return s;
    }
    return c.sql;
  }

  std::string IntLit() {
    switch (Pick(12)) {
      case 0: return "3000000000";
      case 1: return std::to_string(Pick(9) - 4) + ".5";
      case 2: return std::to_string(Pick(9) - 4) + ".0";
      case 3: return "-0.0";
      default: return std::to_string(Pick(13) - 6);
    }
  }

  std::string StrLit() {
    const auto& pool = StringPool();
    std::string s = pool[Pick(static_cast<int>(pool.size()))];
    std::string out = "'";
    for (char ch : s) out += ch == '\'' ? "''" : std::string(1, ch);
    return out + "'";
  }

  static std::string Pad(int64_t v, int width) {
    std::string s = std::to_string(v);
    while (static_cast<int>(s.size()) < width) s = "0" + s;
    return s;
  }

  static std::string DateText(int64_t days) {
    const std::chrono::year_month_day ymd{sys_days{std::chrono::days{days}}};
    return Pad(static_cast<int>(ymd.year()), 4) + "-" + Pad(static_cast<unsigned>(ymd.month()), 2) +
           "-" + Pad(static_cast<unsigned>(ymd.day()), 2);
  }

  std::string DateLit() {
    const int64_t day = kBaseDay + Pick(9) - 4;
    switch (Pick(4)) {
      case 0: return "'" + DateText(day) + "'";
      case 1: return "TIMESTAMP '" + DateText(day) + " 12:00:00'";
      case 2: return "'" + DateText(day) + " 00:00:00'";
      default: return "DATE '" + DateText(day) + "'";
    }
  }

  std::string TsText(int64_t micros, bool allow_offset) {
    const int64_t secs = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
    int64_t frac = micros - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t tod = secs - days * 86400;
    std::string zone;
    if (allow_offset && Pick(3) == 0) {
      if (Pick(2)) {
        zone = "Z";
      } else {  // the same instant written one hour ahead
        tod += 3600;
        if (tod >= 86400) tod -= 86400, ++days;
        zone = "+01:00";
      }
    }
    std::string s = DateText(days) + (Pick(2) ? " " : "T") + Pad(tod / 3600, 2) + ":" +
                    Pad(tod / 60 % 60, 2) + ":" + Pad(tod % 60, 2);
    if (frac) s += "." + Pad(frac, 6);
    return s + zone;
  }

  std::string TsLit() {
    int64_t micros = kBaseMicros + (Pick(21) - 10) * 250000LL;
    if (Pick(8) == 0) micros += 1;
    switch (Pick(5)) {
      case 0: return "'" + TsText(micros, true) + "'";
      case 1: return "TIMESTAMP_NTZ '" + TsText(micros, false) + "'";
      case 2: return "DATE '" + DateText(kBaseDay + Pick(3) - 1) + "'";
      default: return "TIMESTAMP '" + TsText(micros, true) + "'";
    }
  }

  std::string Lit(ColKind k) {
    if (Pick(15) == 0) return "NULL";
    switch (k) {
      case ColKind::kI32:
      case ColKind::kI64:
      case ColKind::kF64: return IntLit();
      case ColKind::kStr: return StrLit();
      case ColKind::kBool: return Pick(2) ? "TRUE" : "FALSE";
      case ColKind::kDate: return DateLit();
      default: return TsLit();
    }
  }

  bool Numeric(ColKind k) { return k == ColKind::kI32 || k == ColKind::kI64 || k == ColKind::kF64; }
  bool Temporal(ColKind k) {
    return k == ColKind::kDate || k == ColKind::kTs || k == ColKind::kTsNtz || k == ColKind::kTsMs;
  }

  const ColSpec& Sibling(ColKind k) {
    // Another column that compares with one of kind k.
    while (true) {
      const ColSpec& c = Columns()[Pick(static_cast<int>(Columns().size()))];
      if ((Numeric(k) && Numeric(c.kind)) || (Temporal(k) && Temporal(c.kind)) || c.kind == k) {
        return c;
      }
    }
  }

  /// A scalar expression over column c that keeps its kind (numeric, string, ...).
  std::string Scalar(const ColSpec& c) {
    const std::string n = Name(c);
    if (Numeric(c.kind)) {
      switch (Pick(12)) {
        case 0: return "(" + n + " + " + IntLit() + ")";
        case 1: return "(" + n + " - " + Name(Sibling(c.kind)) + ")";
        case 2: return "(" + n + " * " + IntLit() + ")";
        case 3: return "(" + n + " / " + std::to_string(Pick(5) - 2) + ")";
        case 4: return "(" + n + " % " + std::to_string(Pick(5) - 2) + ")";
        case 5: return "-" + n;
        case 6: return "abs(" + n + ")";
        case 7: return "coalesce(" + n + ", " + std::to_string(Pick(5)) + ")";
        case 8: return "CAST(" + n + (Pick(2) ? " AS DOUBLE)" : " AS INT)");
        case 9: return "(" + n + " * " + n + ")";
        default: return n;
      }
    }
    if (c.kind == ColKind::kStr) {
      switch (Pick(7)) {
        case 0: return "lower(" + n + ")";
        case 1: return "upper(" + n + ")";
        case 2: return "substring(" + n + ", " + std::to_string(Pick(7) - 3) +
                       (Pick(2) ? ", " + std::to_string(Pick(4) - 1) : "") + ")";
        case 3: return "concat(" + n + ", " + StrLit() + ")";
        default: return n;
      }
    }
    return n;
  }

  std::string Leaf(bool prunable) {
    const ColSpec& c = Columns()[Pick(static_cast<int>(Columns().size()))];
    const std::string n = Name(c);
    const int form = Pick(prunable ? 7 : 11);
    switch (form) {
      case 0:
      case 1:
        if (c.kind == ColKind::kBool && Pick(3) == 0) return Pick(2) ? n : "NOT " + n;
        return Pick(4) == 0 ? Lit(c.kind) + " " + Op() + " " + n : n + " " + Op() + " " + Lit(c.kind);
      case 2: return n + Kw(Pick(2) ? " IS NULL" : " IS NOT NULL");
      case 3: {
        std::string s = n + Kw(Pick(3) == 0 ? " NOT IN (" : " IN (");
        const int items = 1 + Pick(4);
        for (int i = 0; i < items; ++i) s += (i ? ", " : "") + Lit(c.kind);
        return s + ")";
      }
      case 4:
        return n + Kw(Pick(3) == 0 ? " NOT BETWEEN " : " BETWEEN ") + Lit(c.kind) + Kw(" AND ") +
               Lit(c.kind);
      case 5:
        if (c.kind == ColKind::kStr) {
          static const char* kPatterns[] = {"a%",  "%b", "a_", "ab", "%",  "_%",
                                            "b%", "é%", "A%", "",   "ab%", "a%b"};
          return n + Kw(Pick(3) == 0 ? " NOT LIKE '" : " LIKE '") + kPatterns[Pick(12)] + "'";
        }
        return n + " " + Op() + " " + Lit(c.kind);
      case 6: return n + " " + Op() + " " + Name(Sibling(c.kind));
      case 7:
      case 8:
        if (c.kind == ColKind::kStr && Pick(3) == 0) {
          return "length(" + n + ") " + Op() + " " + std::to_string(Pick(4));
        }
        if (Temporal(c.kind)) {
          static const char* kParts[] = {"year", "month", "day", "hour"};
          const char* part = kParts[Pick(c.kind == ColKind::kDate ? 3 : 4)];
          return std::string(part) + "(" + n + ") " + Op() + " " +
                 std::to_string(std::string(part) == "year" ? 2026 : Pick(3));
        }
        return Scalar(c) + " " + Op() + " " + Lit(c.kind);
      case 9: return Scalar(c) + " " + Op() + " " + Scalar(Sibling(c.kind));
      default:
        return Scalar(c) + Kw(" BETWEEN ") + Lit(c.kind) + Kw(" AND ") + Lit(c.kind);
    }
  }

  std::mt19937_64& rng_;
};

std::string last_eval_error;

/// Runs `node` through ToArrow and Arrow; nullopt when Arrow reports an evaluation error.
std::optional<std::vector<V>> ArrowRows(const NodePtr& node, const arrow::RecordBatch& batch,
                                        std::string* failure) {
  auto expr = ToArrow(node, *batch.schema());
  if (!expr.ok()) {
    *failure = "ToArrow: " + expr.status().ToString();
    return std::nullopt;
  }
  auto bound = expr->Bind(*batch.schema());
  if (!bound.ok()) {
    *failure = "Bind: " + bound.status().ToString();
    return std::nullopt;
  }
  auto datum = cp::ExecuteScalarExpression(*bound, *batch.schema(),
                                           arrow::Datum(arrow::RecordBatch::Make(batch.schema(), batch.num_rows(), batch.columns())));
  if (!datum.ok()) {
    last_eval_error = datum.status().ToString();
    return std::nullopt;
  }
  std::shared_ptr<arrow::Array> arr =
      datum->is_scalar() ? arrow::MakeArrayFromScalar(*datum->scalar(), batch.num_rows()).ValueOrDie()
                         : datum->make_array();
  if (arr->type_id() != arrow::Type::BOOL) {
    *failure = "result type " + arr->type()->ToString();
    return std::vector<V>{};
  }
  std::vector<V> out;
  const auto& bools = static_cast<const arrow::BooleanArray&>(*arr);
  for (int64_t i = 0; i < bools.length(); ++i) {
    out.push_back(bools.IsNull(i) ? V{} : Bool(bools.Value(i)));
  }
  return out;
}

std::string Show(const V& v) { return v.null() ? "NULL" : v.b ? "true" : "false"; }

TEST(ToArrowProperty, MatchesBruteForceEvaluatorOnRandomData) {
  std::mt19937_64 rng(42);
  DataGen data(&rng);
  PredicateGen preds(&rng);
  int cases = 0, with_errors = 0, true_rows = 0, false_rows = 0, null_rows = 0;
  std::shared_ptr<arrow::RecordBatch> batch;
  for (int i = 0; i < 3000; ++i) {
    if (i % 20 == 0) batch = data.Make(1 + static_cast<int>(rng() % 60));
    const std::string sql = preds.Gen(static_cast<int>(rng() % 4), /*prunable=*/false);
    SCOPED_TRACE(sql);
    ASSERT_OK_AND_ASSIGN(auto node, Parse(sql));
    Evaluator eval(*batch);
    std::vector<V> expected;
    bool error = false;
    for (int64_t r = 0; r < batch->num_rows(); ++r) expected.push_back(eval.Eval(*node, r, &error));
    std::string failure;
    auto actual = ArrowRows(node, *batch, &failure);
    ASSERT_TRUE(failure.empty()) << failure;
    ++cases;
    if (error || !actual) {
      ASSERT_EQ(error, !actual) << "evaluator error=" << error << " arrow error="
                                << (actual ? "none" : last_eval_error) << "\n"
                                << batch->ToString();
      ++with_errors;
      continue;
    }
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      const V& e = expected[r];
      const V& a = (*actual)[r];
      ASSERT_EQ(Show(a), Show(e)) << "row " << r << "\n" << batch->Slice(r, 1)->ToString();
      (e.null() ? null_rows : e.b ? true_rows : false_rows)++;
    }
  }
  EXPECT_EQ(cases, 3000);
  // The generator must exercise every outcome, and errors only rarely.
  EXPECT_GT(true_rows, 10000);
  EXPECT_GT(false_rows, 10000);
  EXPECT_GT(null_rows, 5000);
  EXPECT_LT(with_errors, 300);
  std::cout << "[ property ] " << cases << " predicates, rows true/false/null " << true_rows << "/"
            << false_rows << "/" << null_rows << ", " << with_errors << " with errors\n";
}

// =============================================================================================
// MayMatch

class MapStats : public StatsProvider {
 public:
  std::optional<int64_t> num_records() const override { return num_records_; }
  std::optional<ColumnStats> column(const std::string& path) const override {
    asked_.push_back(path);
    auto it = stats_.find(path);
    if (it == stats_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<int64_t> num_records_;
  std::map<std::string, ColumnStats> stats_;
  mutable std::vector<std::string> asked_;
};

ColumnStats IntStats(std::optional<int32_t> min, std::optional<int32_t> max,
                     std::optional<int64_t> nulls) {
  ColumnStats s;
  if (min) s.min = std::make_shared<arrow::Int32Scalar>(*min);
  if (max) s.max = std::make_shared<arrow::Int32Scalar>(*max);
  s.null_count = nulls;
  return s;
}

ColumnStats StrStats(const std::string& min, const std::string& max, int64_t nulls) {
  ColumnStats s;
  s.min = std::make_shared<arrow::StringScalar>(min);
  s.max = std::make_shared<arrow::StringScalar>(max);
  s.null_count = nulls;
  return s;
}

class MayMatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stats_.num_records_ = 100;
    stats_.stats_["i32"] = IntStats(10, 20, 0);          // 10..20, no nulls
    stats_.stats_["i64"] = [] {
      ColumnStats s;
      s.null_count = 100;                                // all NULL
      return s;
    }();
    stats_.stats_["s"] = StrStats("apple", "apricot", 5);
    stats_.stats_["st.x"] = IntStats(0, 0, 0);           // constant 0
    stats_.stats_["f64"] = [] {
      ColumnStats s;
      s.min = std::make_shared<arrow::DoubleScalar>(1.0);
      s.max = std::make_shared<arrow::DoubleScalar>(2.0);
      s.null_count = 0;
      return s;
    }();
    stats_.stats_["d"] = [] {
      ColumnStats s;
      s.min = std::make_shared<arrow::Date32Scalar>(static_cast<int32_t>(kBaseDay));
      s.max = std::make_shared<arrow::Date32Scalar>(static_cast<int32_t>(kBaseDay + 9));
      s.null_count = 3;
      return s;
    }();
    stats_.stats_["ts"] = [] {
      ColumnStats s;
      auto type = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
      s.min = std::make_shared<arrow::TimestampScalar>(kBaseMicros, type);
      s.max = std::make_shared<arrow::TimestampScalar>(kBaseMicros + 3600LL * 1000000, type);
      return s;  // null_count unknown
    }();
    stats_.stats_["b"] = [] {
      ColumnStats s;
      s.min = std::make_shared<arrow::BooleanScalar>(false);
      s.max = std::make_shared<arrow::BooleanScalar>(false);
      s.null_count = 0;
      return s;
    }();
  }

  bool May(const std::string& sql) { return MayMatch(MustParse(sql), *TestSchema(), stats_); }

  MapStats stats_;
};

TEST_F(MayMatchTest, Comparisons) {
  EXPECT_FALSE(May("i32 > 20"));
  EXPECT_TRUE(May("i32 >= 20"));
  EXPECT_FALSE(May("i32 < 10"));
  EXPECT_TRUE(May("i32 <= 10"));
  EXPECT_FALSE(May("i32 = 21"));
  EXPECT_TRUE(May("i32 = 15"));
  EXPECT_FALSE(May("25 < i32"));  // literal on the left
  EXPECT_TRUE(May("15 < i32"));
  // Literals an INT column cannot hold exactly: no claim either way.
  EXPECT_TRUE(May("i32 = 3000000000"));
  EXPECT_TRUE(May("i32 = 9.5"));
  EXPECT_FALSE(May("i32 = 21.0"));  // exact as INT
}

TEST_F(MayMatchTest, NullsAndAllNullColumns) {
  EXPECT_FALSE(May("i64 = 1"));
  EXPECT_FALSE(May("i64 <> 1"));
  EXPECT_FALSE(May("i64 > i32"));
  EXPECT_TRUE(May("i64 IS NULL"));
  EXPECT_FALSE(May("i64 IS NOT NULL"));
  EXPECT_FALSE(May("i32 IS NULL"));
  EXPECT_TRUE(May("i32 IS NOT NULL"));
  EXPECT_TRUE(May("s IS NULL"));
  EXPECT_TRUE(May("ts IS NULL"));  // unknown null count
  EXPECT_FALSE(May("i32 = NULL"));
  EXPECT_FALSE(May("NULL"));
  EXPECT_FALSE(May("i64 <=> 1"));
  EXPECT_TRUE(May("i64 <=> NULL"));
  EXPECT_FALSE(May("i32 <=> NULL"));
  EXPECT_TRUE(May("i32 <=> 12"));
  EXPECT_FALSE(May("i32 <=> 9"));
  EXPECT_TRUE(May("NOT (i32 <=> 9)"));
}

TEST_F(MayMatchTest, LogicAndDeMorgan) {
  EXPECT_FALSE(May("i32 > 20 AND s = 'apple'"));
  EXPECT_TRUE(May("i32 > 20 OR s = 'apple'"));
  EXPECT_FALSE(May("i32 > 20 OR s = 'banana'"));
  EXPECT_FALSE(May("NOT (i32 >= 10)"));
  EXPECT_FALSE(May("NOT (i32 <= 20 AND i32 >= 10)"));
  EXPECT_TRUE(May("NOT (i32 <= 19 AND i32 >= 10)"));
  EXPECT_FALSE(May("NOT (i32 < 5 OR st.x = 0)"));
  EXPECT_FALSE(May("st.x <> 0"));
  EXPECT_FALSE(May("NOT st.x = 0"));
  EXPECT_TRUE(May("NOT st.x = 1"));
  // NOT over a NULL-able comparison: NOT NULL is NULL, never TRUE.
  EXPECT_FALSE(May("NOT (i64 = 1)"));
  EXPECT_FALSE(May("(i64 = 1) IS TRUE"));
  EXPECT_TRUE(May("(i64 = 1) IS NOT TRUE"));
  EXPECT_TRUE(May("(i64 = 1) IS NULL"));
  EXPECT_FALSE(May("(i32 = 1) IS NULL"));
  EXPECT_FALSE(May("b"));
  EXPECT_TRUE(May("NOT b"));
  EXPECT_FALSE(May("b IS TRUE"));
  EXPECT_TRUE(May("TRUE"));
  EXPECT_FALSE(May("FALSE OR i32 > 99"));
}

TEST_F(MayMatchTest, InBetweenLike) {
  EXPECT_FALSE(May("i32 IN (1, 2, 30)"));
  EXPECT_TRUE(May("i32 IN (1, 15)"));
  EXPECT_FALSE(May("i32 IN (1, NULL)"));
  EXPECT_FALSE(May("st.x NOT IN (0, 5)"));
  EXPECT_TRUE(May("st.x NOT IN (5)"));
  EXPECT_FALSE(May("st.x NOT IN (5, NULL)"));  // never TRUE with a NULL in the list
  EXPECT_FALSE(May("i32 BETWEEN 21 AND 30"));
  EXPECT_FALSE(May("i32 BETWEEN 15 AND 12"));
  EXPECT_TRUE(May("i32 BETWEEN 5 AND 10"));
  EXPECT_FALSE(May("i32 NOT BETWEEN 0 AND 30"));
  EXPECT_TRUE(May("i32 NOT BETWEEN 11 AND 30"));
  EXPECT_TRUE(May("s LIKE 'ap%'"));
  EXPECT_TRUE(May("s LIKE 'apr%'"));
  EXPECT_FALSE(May("s LIKE 'b%'"));
  EXPECT_FALSE(May("s LIKE 'apz%'"));
  EXPECT_FALSE(May("s LIKE 'a'"));
  EXPECT_FALSE(May("s NOT LIKE 'ap%'"));  // every value starts with "ap"
  EXPECT_TRUE(May("s NOT LIKE 'app%'"));
  EXPECT_TRUE(May("s LIKE '%z'"));  // leading wildcard: unknown
  EXPECT_TRUE(May("s LIKE 'b\\%'"));  // escapes: unknown
}

TEST_F(MayMatchTest, CoercionAndTypes) {
  EXPECT_FALSE(May("d < '2026-01-01'"));
  EXPECT_TRUE(May("d <= '2026-01-01'"));
  EXPECT_FALSE(May("d > DATE '2026-01-10'"));
  EXPECT_FALSE(May("ts < '2026-01-01T00:00:00Z'"));
  EXPECT_TRUE(May("ts < '2026-01-01T00:00:00.000001Z'"));
  EXPECT_FALSE(May("ts > TIMESTAMP '2026-01-01 02:00:00+01:00'"));
  EXPECT_TRUE(May("ts >= TIMESTAMP '2026-01-01 02:00:00+01:00'"));
  EXPECT_FALSE(May("ts > DATE '2026-01-02'"));
  EXPECT_FALSE(May("f64 > 2"));
  EXPECT_TRUE(May("f64 <> 1.5"));
  EXPECT_TRUE(May("f64 <> 1"));  // NaN is outside min/max and unequal to everything
  EXPECT_TRUE(May("NOT (f64 > 0)"));
  // Stats of another type than the column: no claim.
  stats_.stats_["i32"].min = std::make_shared<arrow::StringScalar>("x");
  stats_.stats_["i32"].max = std::make_shared<arrow::StringScalar>("y");
  EXPECT_TRUE(May("i32 > 20"));
}

TEST_F(MayMatchTest, UnknownsAreConservative) {
  EXPECT_TRUE(May("i32 + 1 > 100"));
  EXPECT_TRUE(May("lower(s) = 'zzz'"));
  EXPECT_TRUE(May("tsn > TIMESTAMP_NTZ '2030-01-01 00:00:00'"));  // no stats for tsn
  EXPECT_TRUE(May("nope = 1"));                                  // unknown column
  EXPECT_TRUE(May("i32 = 'abc'"));                               // not comparable
  stats_.num_records_.reset();
  EXPECT_TRUE(May("i64 = 1"));  // all-NULL is no longer provable
  stats_.num_records_ = 0;
  EXPECT_FALSE(May("TRUE"));  // an empty file matches nothing
}

TEST_F(MayMatchTest, AsksForResolvedPaths) {
  stats_.asked_.clear();
  May("ST.X = 1 AND t.I32 = 2");
  EXPECT_EQ(stats_.asked_, (std::vector<std::string>{"st.x", "i32"}));
}

// --- property: MayMatch never prunes a file with a matching row, and prunes often -----------

/// Exact statistics of `batch`, some of them withheld at random.
MapStats StatsOf(const arrow::RecordBatch& batch, std::mt19937_64* rng) {
  MapStats out;
  if ((*rng)() % 10 != 0) out.num_records_ = batch.num_rows();
  for (const auto& spec : Columns()) {
    std::shared_ptr<arrow::Array> arr = batch.GetColumnByName(spec.path[0]);
    if (spec.path.size() == 2) {
      arr = static_cast<const arrow::StructArray&>(*arr)
                .GetFlattenedField(static_cast<const arrow::StructType&>(*arr->type()).GetFieldIndex(spec.path[1]))
                .ValueOrDie();
    }
    if ((*rng)() % 10 == 0) continue;  // no stats for this column
    ColumnStats s;
    int64_t min_row = -1, max_row = -1;
    for (int64_t r = 0; r < arr->length(); ++r) {
      if (arr->IsNull(r)) continue;
      auto v = arr->GetScalar(r).ValueOrDie();
      if (auto* d = dynamic_cast<arrow::DoubleScalar*>(v.get()); d && std::isnan(d->value)) {
        continue;  // statistics writers skip NaN
      }
      if (min_row < 0 || CompareScalars(*v, *arr->GetScalar(min_row).ValueOrDie()) < 0) {
        min_row = r;
      }
      if (max_row < 0 || CompareScalars(*v, *arr->GetScalar(max_row).ValueOrDie()) > 0) {
        max_row = r;
      }
    }
    if (min_row >= 0 && (*rng)() % 10 != 0) {
      s.min = arr->GetScalar(min_row).ValueOrDie();
      s.max = arr->GetScalar(max_row).ValueOrDie();
    }
    if ((*rng)() % 10 != 0) s.null_count = arr->null_count();
    out.stats_[spec.sql] = s;
  }
  return out;
}

TEST(MayMatchProperty, NeverPrunesAMatchingFileAndOftenPrunesOthers) {
  std::mt19937_64 rng(1234);
  DataGen data(&rng);
  PredicateGen preds(&rng);
  auto schema = TestSchema();
  int files = 0, matching = 0, not_matching = 0, pruned = 0, skipped = 0;
  for (int i = 0; i < 4000; ++i) {
    auto batch = data.Make(1 + static_cast<int>(rng() % 12));
    const MapStats stats = StatsOf(*batch, &rng);
    const std::string sql = preds.Gen(static_cast<int>(rng() % 3), /*prunable=*/i % 4 != 0);
    SCOPED_TRACE(sql);
    ASSERT_OK_AND_ASSIGN(auto node, Parse(sql));
    std::string failure;
    auto rows = ArrowRows(node, *batch, &failure);
    ASSERT_TRUE(failure.empty()) << failure;
    if (!rows) {
      ++skipped;  // evaluation error (overflow, division by zero)
      continue;
    }
    ++files;
    bool any_true = false;
    for (const V& v : *rows) any_true |= !v.null() && v.b;
    const bool may = MayMatch(node, *schema, stats);
    if (any_true) {
      ++matching;
      ASSERT_TRUE(may) << "pruned a file with a matching row\n" << batch->ToString();
    } else {
      ++not_matching;
      pruned += !may;
    }
  }
  std::cout << "[ property ] " << files << " files (" << skipped << " skipped): " << matching
            << " matching, " << not_matching << " not, " << pruned << " of those pruned\n";
  EXPECT_GT(matching, 1000);
  EXPECT_GT(not_matching, 1000);
  // Pruning has to fire on a good share of the files that can be skipped.
  EXPECT_GT(pruned, not_matching * 2 / 5);
}

}  // namespace
}  // namespace strata::expr
