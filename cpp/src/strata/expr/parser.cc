// Parse, ToString, ReferencedColumns, the AST builders and date/time text.
//
// Hand-written recursive descent: no library parses Spark-SQL-flavoured expressions into
// something we can turn into Arrow compute expressions.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <unordered_set>

#include <arrow/type.h>

#include "strata/expr/expr_internal.h"

namespace strata::expr {

// ---------------------------------------------------------------------------------------------
// Builders

namespace {

std::shared_ptr<Node> NewNode(NodeKind kind, std::vector<NodePtr> children) {
  auto node = std::make_shared<Node>();
  node->kind = kind;
  int depth = 0;
  for (const auto& c : children) depth = std::max(depth, c->depth);
  node->depth = depth + 1;
  node->children = std::move(children);
  return node;
}

}  // namespace

NodePtr MakeLiteral(Literal literal) {
  auto node = NewNode(NodeKind::kLiteral, {});
  node->literal = std::move(literal);
  return node;
}

NodePtr MakeNull() { return MakeLiteral(Literal{}); }

NodePtr MakeBool(bool v) {
  Literal l;
  l.kind = LiteralKind::kBool;
  l.b = v;
  return MakeLiteral(std::move(l));
}

NodePtr MakeInt(int64_t v) {
  Literal l;
  l.kind = LiteralKind::kInt;
  l.i = v;
  return MakeLiteral(std::move(l));
}

NodePtr MakeDouble(double v) {
  Literal l;
  l.kind = LiteralKind::kDouble;
  l.d = v;
  return MakeLiteral(std::move(l));
}

NodePtr MakeString(std::string v) {
  Literal l;
  l.kind = LiteralKind::kString;
  l.s = std::move(v);
  return MakeLiteral(std::move(l));
}

NodePtr MakeColumn(std::vector<std::string> path) {
  auto node = NewNode(NodeKind::kColumn, {});
  node->path = std::move(path);
  return node;
}

NodePtr MakeNode(NodeKind kind, std::vector<NodePtr> children) {
  return NewNode(kind, std::move(children));
}

NodePtr MakeCompare(CompareOp op, NodePtr lhs, NodePtr rhs) {
  auto node = NewNode(NodeKind::kCompare, {std::move(lhs), std::move(rhs)});
  node->cmp = op;
  return node;
}

NodePtr MakeArith(ArithOp op, NodePtr lhs, NodePtr rhs) {
  auto node = NewNode(NodeKind::kArith, {std::move(lhs), std::move(rhs)});
  node->arith = op;
  return node;
}

NodePtr MakeCall(std::string function, std::vector<NodePtr> args) {
  auto node = NewNode(NodeKind::kCall, std::move(args));
  node->function = std::move(function);
  return node;
}

const char* CompareOpSql(CompareOp op) {
  switch (op) {
    case CompareOp::kEq: return "=";
    case CompareOp::kNe: return "<>";
    case CompareOp::kLt: return "<";
    case CompareOp::kLe: return "<=";
    case CompareOp::kGt: return ">";
    case CompareOp::kGe: return ">=";
    case CompareOp::kNullSafeEq: return "<=>";
  }
  return "?";
}

const char* ArithOpSql(ArithOp op) {
  switch (op) {
    case ArithOp::kAdd: return "+";
    case ArithOp::kSub: return "-";
    case ArithOp::kMul: return "*";
    case ArithOp::kDiv: return "/";
    case ArithOp::kMod: return "%";
  }
  return "?";
}

CompareOp FlipCompare(CompareOp op) {
  switch (op) {
    case CompareOp::kLt: return CompareOp::kGt;
    case CompareOp::kLe: return CompareOp::kGe;
    case CompareOp::kGt: return CompareOp::kLt;
    case CompareOp::kGe: return CompareOp::kLe;
    default: return op;
  }
}

// ---------------------------------------------------------------------------------------------
// Dates and timestamps

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // H. Hinnant, "chrono-Compatible Low-Level Date Algorithms".
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

namespace {

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

/// Reads between min_digits and max_digits decimal digits at `*pos`.
bool ReadDigits(std::string_view s, size_t* pos, int min_digits, int max_digits, int64_t* out,
                int* count = nullptr) {
  int n = 0;
  int64_t v = 0;
  while (*pos < s.size() && n < max_digits && s[*pos] >= '0' && s[*pos] <= '9') {
    v = v * 10 + (s[*pos] - '0');
    ++*pos;
    ++n;
  }
  if (n < min_digits) return false;
  *out = v;
  if (count) *count = n;
  return true;
}

bool ReadChar(std::string_view s, size_t* pos, char c) {
  if (*pos < s.size() && s[*pos] == c) {
    ++*pos;
    return true;
  }
  return false;
}

/// Date prefix of a date or timestamp; advances `pos`.
std::optional<int64_t> ReadDate(std::string_view s, size_t* pos) {
  int64_t y, m, d;
  if (!ReadDigits(s, pos, 4, 4, &y) || !ReadChar(s, pos, '-') || !ReadDigits(s, pos, 1, 2, &m) ||
      !ReadChar(s, pos, '-') || !ReadDigits(s, pos, 1, 2, &d)) {
    return std::nullopt;
  }
  if (m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, static_cast<unsigned>(m))) {
    return std::nullopt;
  }
  return DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

}  // namespace

std::optional<int32_t> ParseDate(std::string_view text) {
  size_t pos = 0;
  auto days = ReadDate(text, &pos);
  if (!days || pos != text.size()) return std::nullopt;
  return static_cast<int32_t>(*days);
}

std::optional<ParsedTimestamp> ParseTimestamp(std::string_view s) {
  size_t pos = 0;
  auto days = ReadDate(s, &pos);
  if (!days) return std::nullopt;
  ParsedTimestamp out;
  int64_t hh = 0, mi = 0, ss = 0;
  if (pos < s.size() && (s[pos] == ' ' || s[pos] == 'T' || s[pos] == 't') && pos + 1 < s.size() &&
      std::isdigit(static_cast<unsigned char>(s[pos + 1]))) {
    ++pos;
    if (!ReadDigits(s, &pos, 1, 2, &hh) || !ReadChar(s, &pos, ':') ||
        !ReadDigits(s, &pos, 1, 2, &mi)) {
      return std::nullopt;
    }
    if (ReadChar(s, &pos, ':')) {
      if (!ReadDigits(s, &pos, 1, 2, &ss)) return std::nullopt;
      if (ReadChar(s, &pos, '.')) {
        int64_t frac;
        int n;
        if (!ReadDigits(s, &pos, 1, 9, &frac, &n)) return std::nullopt;
        for (int i = n; i < 9; ++i) frac *= 10;
        out.nanos = static_cast<int32_t>(frac);
      }
    }
    if (hh > 23 || mi > 59 || ss > 59) return std::nullopt;
  }
  int64_t offset = 0;
  if (pos + 1 < s.size() && s[pos] == ' ') ++pos;
  if (pos < s.size()) {
    std::string_view rest = s.substr(pos);
    if (rest == "Z" || rest == "z" || rest == "UTC") {
      pos = s.size();
      out.has_offset = true;
    } else if (rest[0] == '+' || rest[0] == '-') {
      const int sign = rest[0] == '-' ? -1 : 1;
      ++pos;
      int64_t oh, om = 0;
      if (!ReadDigits(s, &pos, 2, 2, &oh)) return std::nullopt;
      if (ReadChar(s, &pos, ':')) {
        if (!ReadDigits(s, &pos, 2, 2, &om)) return std::nullopt;
      } else if (pos < s.size()) {
        if (!ReadDigits(s, &pos, 2, 2, &om)) return std::nullopt;
      }
      if (oh > 18 || om > 59) return std::nullopt;
      offset = sign * (oh * 3600 + om * 60);
      out.has_offset = true;
    }
  }
  if (pos != s.size()) return std::nullopt;
  out.seconds = *days * 86400 + hh * 3600 + mi * 60 + ss - offset;
  return out;
}

std::string FormatDate(int64_t days) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

std::string FormatTimestampMicros(int64_t micros) {
  const int64_t secs = FloorDiv(micros, 1000000);
  const int64_t frac = micros - secs * 1000000;
  const int64_t days = FloorDiv(secs, 86400);
  const int64_t tod = secs - days * 86400;
  char buf[64];
  std::snprintf(buf, sizeof(buf), " %02d:%02d:%02d", static_cast<int>(tod / 3600),
                static_cast<int>(tod / 60 % 60), static_cast<int>(tod % 60));
  std::string out = FormatDate(days) + buf;
  if (frac != 0) {
    std::snprintf(buf, sizeof(buf), ".%06lld", static_cast<long long>(frac));
    out += buf;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Lexer

namespace {

enum class Tok { kEnd, kIdent, kQuotedIdent, kInt, kFloat, kString, kSymbol };

struct Token {
  Tok type = Tok::kEnd;
  std::string text;  ///< identifier/number/symbol as written; string and quoted ident unescaped
  size_t begin = 0;  ///< byte offsets into the input
  size_t end = 0;
};

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Printable rendering of user text for error messages (control bytes escaped, long text cut).
std::string Printable(std::string_view s, size_t limit = 120) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}

const std::unordered_set<std::string>& ReservedWords() {
  static const std::unordered_set<std::string> kWords = {
      "AND", "OR", "NOT", "IS", "NULL", "TRUE", "FALSE", "IN", "BETWEEN", "LIKE", "AS"};
  return kWords;
}

class Parser {
 public:
  explicit Parser(std::string_view sql) : sql_(sql) {}

  Result<NodePtr> Run() {
    STRATA_RETURN_NOT_OK(Lex());
    STRATA_ASSIGN_OR_RAISE(auto node, ParseOr());
    if (Peek().type != Tok::kEnd) return Unexpected(Peek());
    return node;
  }

 private:
  // --- lexing ---

  Status Lex() {
    size_t i = 0;
    const size_t n = sql_.size();
    while (true) {
      while (i < n && std::isspace(static_cast<unsigned char>(sql_[i]))) ++i;
      Token t;
      t.begin = i;
      if (i >= n) {
        t.type = Tok::kEnd;
        t.end = n;
        tokens_.push_back(std::move(t));
        return Status::OK();
      }
      const char c = sql_[i];
      if (IsIdentStart(c)) {
        while (i < n && IsIdentChar(sql_[i])) ++i;
        t.type = Tok::kIdent;
        t.text = std::string(sql_.substr(t.begin, i - t.begin));
      } else if (IsDigit(c) || (c == '.' && i + 1 < n && IsDigit(sql_[i + 1]) && !AfterName())) {
        while (i < n && IsDigit(sql_[i])) ++i;
        bool is_float = false;
        if (i < n && sql_[i] == '.') {
          is_float = true;
          ++i;
          while (i < n && IsDigit(sql_[i])) ++i;
        }
        if (i < n && (sql_[i] == 'e' || sql_[i] == 'E')) {
          size_t j = i + 1;
          if (j < n && (sql_[j] == '+' || sql_[j] == '-')) ++j;
          if (j < n && IsDigit(sql_[j])) {
            is_float = true;
            i = j;
            while (i < n && IsDigit(sql_[i])) ++i;
          }
        }
        t.type = is_float ? Tok::kFloat : Tok::kInt;
        t.text = std::string(sql_.substr(t.begin, i - t.begin));
      } else if (c == '\'' || c == '`') {
        ++i;
        std::string value;
        bool closed = false;
        while (i < n) {
          if (sql_[i] == c) {
            if (i + 1 < n && sql_[i + 1] == c) {
              value += c;
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          value += sql_[i++];
        }
        if (!closed) {
          return Fail(t.begin, c == '\'' ? "unterminated string literal starting"
                                         : "unterminated quoted identifier starting");
        }
        t.type = c == '\'' ? Tok::kString : Tok::kQuotedIdent;
        t.text = std::move(value);
      } else {
        static constexpr const char* kSymbols[] = {"<=>", "<=", ">=", "<>", "!=", "==", "(", ")",
                                                   ",",   ".",  "+",  "-",  "*",  "/",  "%", "=",
                                                   "<",   ">"};
        bool found = false;
        for (const char* sym : kSymbols) {
          std::string_view s(sym);
          if (sql_.substr(i, s.size()) == s) {
            t.type = Tok::kSymbol;
            t.text = std::string(s);
            i += s.size();
            found = true;
            break;
          }
        }
        if (!found) {
          return Fail(t.begin, "unexpected character '" + Printable(sql_.substr(i, 1)) + "'");
        }
      }
      t.end = i;
      tokens_.push_back(std::move(t));
    }
  }

  /// Whether a '.' here would continue a dotted name (`a.5` is not `a` followed by `.5`).
  bool AfterName() const {
    if (tokens_.empty()) return false;
    const Token& prev = tokens_.back();
    return prev.type == Tok::kIdent || prev.type == Tok::kQuotedIdent ||
           (prev.type == Tok::kSymbol && prev.text == ")");
  }

  // --- errors ---

  /// 1-based character (not byte) position of a byte offset: UTF-8 continuation bytes do not
  /// count.
  size_t CharPosition(size_t offset) const {
    size_t pos = 1;
    for (size_t i = 0; i < offset && i < sql_.size(); ++i) {
      if ((static_cast<unsigned char>(sql_[i]) & 0xC0) != 0x80) ++pos;
    }
    return pos;
  }

  Status Fail(size_t offset, const std::string& what) const {
    return Error(ErrorCode::kInvalidArgument, what, " at position ", CharPosition(offset), " in '",
                 Printable(sql_), "'");
  }

  Status Unexpected(const Token& t) const {
    if (t.type == Tok::kEnd) return Fail(t.begin, "unexpected end of input");
    std::string_view raw = sql_.substr(t.begin, t.end - t.begin);
    const char* what = t.type == Tok::kString ? "unexpected string " : "unexpected ";
    if (t.type == Tok::kString) return Fail(t.begin, what + Printable(raw, 40));
    return Fail(t.begin, std::string(what) + "'" + Printable(raw, 40) + "'");
  }

  // --- token helpers ---

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool IsKeyword(const Token& t, const char* kw) const {
    return t.type == Tok::kIdent && Upper(t.text) == kw;
  }
  bool IsSymbol(const Token& t, const char* sym) const {
    return t.type == Tok::kSymbol && t.text == sym;
  }
  bool AcceptKeyword(const char* kw) {
    if (!IsKeyword(Peek(), kw)) return false;
    Next();
    return true;
  }
  bool AcceptSymbol(const char* sym) {
    if (!IsSymbol(Peek(), sym)) return false;
    Next();
    return true;
  }
  Status ExpectSymbol(const char* sym) {
    if (AcceptSymbol(sym)) return Status::OK();
    return Unexpected(Peek());
  }
  Status ExpectKeyword(const char* kw) {
    if (AcceptKeyword(kw)) return Status::OK();
    return Unexpected(Peek());
  }

  /// Every composite node passes through here so that deep trees fail cleanly.
  Result<NodePtr> Check(NodePtr node, size_t offset) const {
    if (node->depth > kMaxDepth) {
      return Fail(offset, "expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    return node;
  }

  /// Bounds parser recursion (parentheses, NOT and unary minus chains).
  class NestingGuard {
   public:
    explicit NestingGuard(Parser* p) : p_(p) { ++p_->nesting_; }
    ~NestingGuard() { --p_->nesting_; }
    bool too_deep() const { return p_->nesting_ > kMaxDepth; }

   private:
    Parser* p_;
  };

  // --- grammar ---

  Result<NodePtr> ParseOr() {
    NestingGuard guard(this);
    if (guard.too_deep()) {
      return Fail(Peek().begin,
                  "expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    const size_t start = Peek().begin;
    STRATA_ASSIGN_OR_RAISE(auto first, ParseAnd());
    if (!IsKeyword(Peek(), "OR")) return first;
    std::vector<NodePtr> terms{std::move(first)};
    while (AcceptKeyword("OR")) {
      STRATA_ASSIGN_OR_RAISE(auto next, ParseAnd());
      terms.push_back(std::move(next));
    }
    return Check(MakeNode(NodeKind::kOr, std::move(terms)), start);
  }

  Result<NodePtr> ParseAnd() {
    const size_t start = Peek().begin;
    STRATA_ASSIGN_OR_RAISE(auto first, ParseNot());
    if (!IsKeyword(Peek(), "AND")) return first;
    std::vector<NodePtr> terms{std::move(first)};
    while (AcceptKeyword("AND")) {
      STRATA_ASSIGN_OR_RAISE(auto next, ParseNot());
      terms.push_back(std::move(next));
    }
    return Check(MakeNode(NodeKind::kAnd, std::move(terms)), start);
  }

  Result<NodePtr> ParseNot() {
    if (IsKeyword(Peek(), "NOT")) {
      const size_t start = Next().begin;
      NestingGuard guard(this);
      if (guard.too_deep()) {
        return Fail(start, "expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
      }
      STRATA_ASSIGN_OR_RAISE(auto operand, ParseNot());
      return Check(MakeNode(NodeKind::kNot, {std::move(operand)}), start);
    }
    return ParsePredicate();
  }

  Result<NodePtr> ParsePredicate() {
    const size_t start = Peek().begin;
    STRATA_ASSIGN_OR_RAISE(auto left, ParseAdditive());
    while (true) {
      const Token& t = Peek();
      std::optional<CompareOp> op;
      if (t.type == Tok::kSymbol) {
        if (t.text == "=" || t.text == "==") op = CompareOp::kEq;
        else if (t.text == "!=" || t.text == "<>") op = CompareOp::kNe;
        else if (t.text == "<") op = CompareOp::kLt;
        else if (t.text == "<=") op = CompareOp::kLe;
        else if (t.text == ">") op = CompareOp::kGt;
        else if (t.text == ">=") op = CompareOp::kGe;
        else if (t.text == "<=>") op = CompareOp::kNullSafeEq;
      }
      if (op) {
        Next();
        STRATA_ASSIGN_OR_RAISE(auto right, ParseAdditive());
        STRATA_ASSIGN_OR_RAISE(left, Check(MakeCompare(*op, std::move(left), std::move(right)),
                                           start));
        continue;
      }
      if (IsKeyword(t, "IS")) {
        Next();
        const bool negated = AcceptKeyword("NOT");
        std::shared_ptr<Node> node;
        if (AcceptKeyword("NULL")) {
          node = NewNode(NodeKind::kIsNull, {std::move(left)});
        } else if (IsKeyword(Peek(), "TRUE") || IsKeyword(Peek(), "FALSE")) {
          node = NewNode(NodeKind::kIsBool, {std::move(left)});
          node->truth = IsKeyword(Next(), "TRUE");
        } else {
          return Unexpected(Peek());
        }
        node->negated = negated;
        STRATA_ASSIGN_OR_RAISE(left, Check(std::move(node), start));
        continue;
      }
      bool negated = false;
      if (IsKeyword(t, "NOT") && (IsKeyword(Peek(1), "IN") || IsKeyword(Peek(1), "BETWEEN") ||
                                  IsKeyword(Peek(1), "LIKE"))) {
        Next();
        negated = true;
      }
      if (AcceptKeyword("IN")) {
        STRATA_RETURN_NOT_OK(ExpectSymbol("("));
        std::vector<NodePtr> items{std::move(left)};
        do {
          STRATA_ASSIGN_OR_RAISE(auto item, ParseOr());
          items.push_back(std::move(item));
        } while (AcceptSymbol(","));
        STRATA_RETURN_NOT_OK(ExpectSymbol(")"));
        auto node = NewNode(NodeKind::kIn, std::move(items));
        node->negated = negated;
        STRATA_ASSIGN_OR_RAISE(left, Check(std::move(node), start));
        continue;
      }
      if (AcceptKeyword("BETWEEN")) {
        STRATA_ASSIGN_OR_RAISE(auto low, ParseAdditive());
        STRATA_RETURN_NOT_OK(ExpectKeyword("AND"));
        STRATA_ASSIGN_OR_RAISE(auto high, ParseAdditive());
        auto node = NewNode(NodeKind::kBetween, {std::move(left), std::move(low), std::move(high)});
        node->negated = negated;
        STRATA_ASSIGN_OR_RAISE(left, Check(std::move(node), start));
        continue;
      }
      if (AcceptKeyword("LIKE")) {
        if (Peek().type != Tok::kString) return Unexpected(Peek());
        auto node = NewNode(NodeKind::kLike, {std::move(left)});
        node->literal.kind = LiteralKind::kString;
        node->literal.s = Next().text;
        node->negated = negated;
        STRATA_ASSIGN_OR_RAISE(left, Check(std::move(node), start));
        continue;
      }
      return left;
    }
  }

  Result<NodePtr> ParseAdditive() {
    const size_t start = Peek().begin;
    STRATA_ASSIGN_OR_RAISE(auto left, ParseMultiplicative());
    while (IsSymbol(Peek(), "+") || IsSymbol(Peek(), "-")) {
      const ArithOp op = Next().text == "+" ? ArithOp::kAdd : ArithOp::kSub;
      STRATA_ASSIGN_OR_RAISE(auto right, ParseMultiplicative());
      STRATA_ASSIGN_OR_RAISE(left, Check(MakeArith(op, std::move(left), std::move(right)), start));
    }
    return left;
  }

  Result<NodePtr> ParseMultiplicative() {
    const size_t start = Peek().begin;
    STRATA_ASSIGN_OR_RAISE(auto left, ParseUnary());
    while (IsSymbol(Peek(), "*") || IsSymbol(Peek(), "/") || IsSymbol(Peek(), "%")) {
      const std::string& sym = Next().text;
      const ArithOp op = sym == "*" ? ArithOp::kMul : sym == "/" ? ArithOp::kDiv : ArithOp::kMod;
      STRATA_ASSIGN_OR_RAISE(auto right, ParseUnary());
      STRATA_ASSIGN_OR_RAISE(left, Check(MakeArith(op, std::move(left), std::move(right)), start));
    }
    return left;
  }

  Result<NodePtr> ParseUnary() {
    if (IsSymbol(Peek(), "-") || IsSymbol(Peek(), "+")) {
      const bool minus = Next().text == "-";
      const size_t start = tokens_[pos_ - 1].begin;
      NestingGuard guard(this);
      if (guard.too_deep()) {
        return Fail(start, "expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
      }
      // `-9223372036854775808` is a literal: the sign belongs to the number.
      if (minus && Peek().type == Tok::kInt) return ParseInteger(Next(), /*negative=*/true);
      STRATA_ASSIGN_OR_RAISE(auto operand, ParseUnary());
      if (!minus) return operand;
      if (operand->kind == NodeKind::kLiteral) {
        const Literal& lit = operand->literal;
        if (lit.kind == LiteralKind::kInt && lit.i != std::numeric_limits<int64_t>::min()) {
          return MakeInt(-lit.i);
        }
        if (lit.kind == LiteralKind::kDouble) return MakeDouble(-lit.d);
      }
      return Check(MakeNode(NodeKind::kNegate, {std::move(operand)}), start);
    }
    return ParsePrimary();
  }

  Result<NodePtr> ParseInteger(const Token& t, bool negative) {
    std::string text = negative ? "-" + t.text : t.text;
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return Fail(t.begin, "integer literal " + Printable(text, 40) + " is out of range for BIGINT");
    }
    return MakeInt(v);
  }

  Result<NodePtr> ParsePrimary() {
    const Token& t = Peek();
    switch (t.type) {
      case Tok::kInt:
        return ParseInteger(Next(), /*negative=*/false);
      case Tok::kFloat: {
        const Token& num = Next();
        errno = 0;
        char* end = nullptr;
        const double v = std::strtod(num.text.c_str(), &end);
        if (end != num.text.c_str() + num.text.size() || std::isinf(v)) {
          return Fail(num.begin, "numeric literal " + Printable(num.text, 40) + " is out of range");
        }
        return MakeDouble(v);
      }
      case Tok::kString:
        return MakeString(Next().text);
      case Tok::kQuotedIdent:
        return ParseColumn();
      case Tok::kIdent:
        break;
      case Tok::kSymbol:
        if (t.text == "(") {
          Next();
          STRATA_ASSIGN_OR_RAISE(auto inner, ParseOr());
          STRATA_RETURN_NOT_OK(ExpectSymbol(")"));
          return inner;
        }
        return Unexpected(t);
      case Tok::kEnd:
        return Unexpected(t);
    }
    const std::string word = Upper(t.text);
    if (word == "NULL" || word == "TRUE" || word == "FALSE") {
      Next();
      return word == "NULL" ? MakeNull() : MakeBool(word == "TRUE");
    }
    if ((word == "DATE" || word == "TIMESTAMP" || word == "TIMESTAMP_NTZ") &&
        Peek(1).type == Tok::kString) {
      Next();
      return ParseTypedLiteral(word, Next());
    }
    if (ReservedWords().count(word)) return Unexpected(t);
    if (IsSymbol(Peek(1), "(")) {
      if (word == "CAST") return ParseCast();
      return ParseCall();
    }
    return ParseColumn();
  }

  Result<NodePtr> ParseTypedLiteral(const std::string& word, const Token& text) {
    Literal lit;
    if (word == "DATE") {
      auto days = ParseDate(text.text);
      if (!days) return Fail(text.begin, "invalid DATE '" + Printable(text.text, 60) + "'");
      lit.kind = LiteralKind::kDate;
      lit.i = *days;
      return MakeLiteral(std::move(lit));
    }
    auto ts = ParseTimestamp(text.text);
    if (!ts) return Fail(text.begin, "invalid " + word + " '" + Printable(text.text, 60) + "'");
    if (ts->nanos % 1000 != 0) {
      return Fail(text.begin, word + " '" + Printable(text.text, 60) +
                                  "' has more than microsecond precision");
    }
    if (word == "TIMESTAMP_NTZ" && ts->has_offset) {
      return Fail(text.begin,
                  "TIMESTAMP_NTZ '" + Printable(text.text, 60) + "' cannot carry a time zone");
    }
    lit.kind = word == "TIMESTAMP" ? LiteralKind::kTimestamp : LiteralKind::kTimestampNtz;
    lit.i = ts->seconds * 1000000 + ts->nanos / 1000;
    return MakeLiteral(std::move(lit));
  }

  Result<NodePtr> ParseColumn() {
    std::vector<std::string> path;
    path.push_back(Next().text);
    while (IsSymbol(Peek(), ".")) {
      Next();
      const Token& part = Peek();
      if (part.type != Tok::kIdent && part.type != Tok::kQuotedIdent) return Unexpected(part);
      path.push_back(Next().text);
    }
    return MakeColumn(std::move(path));
  }

  Result<std::shared_ptr<arrow::DataType>> ParseType() {
    const Token& t = Peek();
    if (t.type != Tok::kIdent) return Unexpected(t);
    const std::string word = Upper(t.text);
    Next();
    if (word == "INT" || word == "INTEGER") return arrow::int32();
    if (word == "BIGINT" || word == "LONG") return arrow::int64();
    if (word == "SMALLINT" || word == "SHORT") return arrow::int16();
    if (word == "TINYINT" || word == "BYTE") return arrow::int8();
    if (word == "FLOAT" || word == "REAL") return arrow::float32();
    if (word == "DOUBLE") return arrow::float64();
    if (word == "STRING") return arrow::utf8();
    if (word == "BINARY") return arrow::binary();
    if (word == "BOOLEAN" || word == "BOOL") return arrow::boolean();
    if (word == "DATE") return arrow::date32();
    if (word == "TIMESTAMP") return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
    if (word == "TIMESTAMP_NTZ") return arrow::timestamp(arrow::TimeUnit::MICRO);
    if (word == "DECIMAL" || word == "DEC" || word == "NUMERIC") {
      int64_t precision = 10, scale = 0;
      if (AcceptSymbol("(")) {
        STRATA_ASSIGN_OR_RAISE(precision, ParseSmallInt());
        if (AcceptSymbol(",")) {
          STRATA_ASSIGN_OR_RAISE(scale, ParseSmallInt());
        }
        STRATA_RETURN_NOT_OK(ExpectSymbol(")"));
      }
      if (precision < 1 || precision > 38 || scale > precision) {
        return Fail(t.begin, "DECIMAL(" + std::to_string(precision) + "," + std::to_string(scale) +
                                 ") needs 1 <= precision <= 38 and 0 <= scale <= precision");
      }
      return arrow::decimal128(static_cast<int32_t>(precision), static_cast<int32_t>(scale));
    }
    return Fail(t.begin, "unknown type '" + Printable(t.text, 40) + "'");
  }

  Result<int64_t> ParseSmallInt() {
    const Token& t = Peek();
    if (t.type != Tok::kInt || t.text.size() > 3) return Unexpected(t);
    return std::stoll(Next().text);
  }

  Result<NodePtr> ParseCast() {
    const size_t start = Next().begin;  // CAST
    STRATA_RETURN_NOT_OK(ExpectSymbol("("));
    STRATA_ASSIGN_OR_RAISE(auto operand, ParseOr());
    STRATA_RETURN_NOT_OK(ExpectKeyword("AS"));
    STRATA_ASSIGN_OR_RAISE(auto type, ParseType());
    STRATA_RETURN_NOT_OK(ExpectSymbol(")"));
    auto node = NewNode(NodeKind::kCast, {std::move(operand)});
    node->cast_type = std::move(type);
    return Check(std::move(node), start);
  }

  struct FunctionSpec {
    const char* name;
    size_t min_args, max_args;
  };

  static const FunctionSpec* FindFunction(const std::string& name) {
    static constexpr size_t kMany = 1 << 20;
    static const FunctionSpec kFunctions[] = {
        {"lower", 1, 1}, {"upper", 1, 1},     {"abs", 1, 1},    {"coalesce", 1, kMany},
        {"length", 1, 1}, {"substring", 2, 3}, {"concat", 1, kMany}, {"year", 1, 1},
        {"month", 1, 1}, {"day", 1, 1},       {"hour", 1, 1},   {"minute", 1, 1},
        {"second", 1, 1}, {"trim", 1, 1},     {"ltrim", 1, 1},  {"rtrim", 1, 1},
    };
    for (const auto& f : kFunctions) {
      if (name == f.name) return &f;
    }
    return nullptr;
  }

  Result<NodePtr> ParseCall() {
    const Token& name_tok = Next();
    std::string name = Lower(name_tok.text);
    if (name == "substr") name = "substring";
    if (name == "char_length" || name == "character_length") name = "length";
    if (name == "dayofmonth") name = "day";
    if (name == "lcase") name = "lower";
    if (name == "ucase") name = "upper";
    const FunctionSpec* spec = FindFunction(name);
    if (spec == nullptr) {
      return Fail(name_tok.begin, "unknown function '" + Printable(name_tok.text, 40) + "'");
    }
    STRATA_RETURN_NOT_OK(ExpectSymbol("("));
    std::vector<NodePtr> args;
    if (!IsSymbol(Peek(), ")")) {
      do {
        STRATA_ASSIGN_OR_RAISE(auto arg, ParseOr());
        args.push_back(std::move(arg));
      } while (AcceptSymbol(","));
    }
    STRATA_RETURN_NOT_OK(ExpectSymbol(")"));
    if (args.size() < spec->min_args || args.size() > spec->max_args) {
      std::string expected = spec->min_args == spec->max_args
                                 ? std::to_string(spec->min_args)
                                 : spec->max_args > 100
                                       ? "at least " + std::to_string(spec->min_args)
                                       : std::to_string(spec->min_args) + " to " +
                                             std::to_string(spec->max_args);
      return Fail(name_tok.begin, "function " + name + " takes " + expected +
                                      " argument(s), got " + std::to_string(args.size()));
    }
    return Check(MakeCall(std::move(name), std::move(args)), name_tok.begin);
  }

  std::string_view sql_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Printing

// Binding strength, loosest first; a child printed where a tighter level is required gets
// parentheses.
enum Prec { kPrecOr = 1, kPrecAnd, kPrecNot, kPrecPredicate, kPrecAdd, kPrecMul, kPrecUnary,
            kPrecPrimary };

bool IsPlainIdentifier(const std::string& s) {
  if (s.empty() || !IsIdentStart(s[0])) return false;
  for (char c : s) {
    if (!IsIdentChar(c)) return false;
  }
  return ReservedWords().count(Upper(s)) == 0;
}

std::string QuoteIdentifier(const std::string& s) {
  if (IsPlainIdentifier(s)) return s;
  std::string out = "`";
  for (char c : s) {
    out += c;
    if (c == '`') out += '`';
  }
  return out + "`";
}

std::string QuoteString(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "CAST('NaN' AS DOUBLE)";
  if (std::isinf(v)) return v > 0 ? "CAST('Infinity' AS DOUBLE)" : "CAST('-Infinity' AS DOUBLE)";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  std::string out(buf, ptr);
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

std::string TypeSql(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::INT8: return "TINYINT";
    case arrow::Type::INT16: return "SMALLINT";
    case arrow::Type::INT32: return "INT";
    case arrow::Type::INT64: return "BIGINT";
    case arrow::Type::FLOAT: return "FLOAT";
    case arrow::Type::DOUBLE: return "DOUBLE";
    case arrow::Type::STRING: return "STRING";
    case arrow::Type::BINARY: return "BINARY";
    case arrow::Type::BOOL: return "BOOLEAN";
    case arrow::Type::DATE32: return "DATE";
    case arrow::Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      return ts.timezone().empty() ? "TIMESTAMP_NTZ" : "TIMESTAMP";
    }
    case arrow::Type::DECIMAL128: {
      const auto& dec = static_cast<const arrow::Decimal128Type&>(type);
      return "DECIMAL(" + std::to_string(dec.precision()) + "," + std::to_string(dec.scale()) + ")";
    }
    default: return type.ToString();
  }
}

int Precedence(const Node& node) {
  switch (node.kind) {
    case NodeKind::kOr: return kPrecOr;
    case NodeKind::kAnd: return kPrecAnd;
    case NodeKind::kNot: return kPrecNot;
    case NodeKind::kCompare:
    case NodeKind::kIsNull:
    case NodeKind::kIsBool:
    case NodeKind::kIn:
    case NodeKind::kBetween:
    case NodeKind::kLike: return kPrecPredicate;
    case NodeKind::kArith:
      return node.arith == ArithOp::kAdd || node.arith == ArithOp::kSub ? kPrecAdd : kPrecMul;
    case NodeKind::kNegate: return kPrecUnary;
    case NodeKind::kLiteral:
      if (node.literal.kind == LiteralKind::kInt && node.literal.i < 0) return kPrecUnary;
      if (node.literal.kind == LiteralKind::kDouble && std::signbit(node.literal.d) &&
          !std::isnan(node.literal.d)) {
        return kPrecUnary;
      }
      return kPrecPrimary;
    default: return kPrecPrimary;
  }
}

void Print(const Node& node, std::string* out);

void PrintAt(const Node& node, int min_prec, std::string* out) {
  if (Precedence(node) < min_prec) {
    *out += '(';
    Print(node, out);
    *out += ')';
  } else {
    Print(node, out);
  }
}

void PrintLiteral(const Literal& lit, std::string* out) {
  switch (lit.kind) {
    case LiteralKind::kNull: *out += "NULL"; return;
    case LiteralKind::kBool: *out += lit.b ? "TRUE" : "FALSE"; return;
    case LiteralKind::kInt: *out += std::to_string(lit.i); return;
    case LiteralKind::kDouble: *out += FormatDouble(lit.d); return;
    case LiteralKind::kString: *out += QuoteString(lit.s); return;
    case LiteralKind::kDate: *out += "DATE '" + FormatDate(lit.i) + "'"; return;
    case LiteralKind::kTimestamp:
      *out += "TIMESTAMP '" + FormatTimestampMicros(lit.i) + "Z'";
      return;
    case LiteralKind::kTimestampNtz:
      *out += "TIMESTAMP_NTZ '" + FormatTimestampMicros(lit.i) + "'";
      return;
  }
}

void Print(const Node& node, std::string* out) {
  const auto& c = node.children;
  switch (node.kind) {
    case NodeKind::kLiteral:
      PrintLiteral(node.literal, out);
      return;
    case NodeKind::kColumn:
      for (size_t i = 0; i < node.path.size(); ++i) {
        if (i > 0) *out += '.';
        *out += QuoteIdentifier(node.path[i]);
      }
      return;
    case NodeKind::kNot:
      *out += "NOT ";
      PrintAt(*c[0], kPrecNot, out);
      return;
    case NodeKind::kAnd:
    case NodeKind::kOr: {
      const int prec = node.kind == NodeKind::kAnd ? kPrecAnd : kPrecOr;
      for (size_t i = 0; i < c.size(); ++i) {
        if (i > 0) *out += node.kind == NodeKind::kAnd ? " AND " : " OR ";
        PrintAt(*c[i], prec + 1, out);
      }
      return;
    }
    case NodeKind::kCompare:
      PrintAt(*c[0], kPrecPredicate, out);
      *out += ' ';
      *out += CompareOpSql(node.cmp);
      *out += ' ';
      PrintAt(*c[1], kPrecAdd, out);
      return;
    case NodeKind::kArith: {
      const int prec = Precedence(node);
      PrintAt(*c[0], prec, out);
      *out += ' ';
      *out += ArithOpSql(node.arith);
      *out += ' ';
      PrintAt(*c[1], prec + 1, out);
      return;
    }
    case NodeKind::kNegate:
      // `- -x` rather than `-(-x)`: parentheses would nest deeper than the text they came from.
      *out += Precedence(*c[0]) == kPrecUnary ? "- " : "-";
      PrintAt(*c[0], kPrecUnary, out);
      return;
    case NodeKind::kIsNull:
      PrintAt(*c[0], kPrecPredicate, out);
      *out += node.negated ? " IS NOT NULL" : " IS NULL";
      return;
    case NodeKind::kIsBool:
      PrintAt(*c[0], kPrecPredicate, out);
      *out += node.negated ? " IS NOT " : " IS ";
      *out += node.truth ? "TRUE" : "FALSE";
      return;
    case NodeKind::kIn:
      PrintAt(*c[0], kPrecPredicate, out);
      *out += node.negated ? " NOT IN (" : " IN (";
      for (size_t i = 1; i < c.size(); ++i) {
        if (i > 1) *out += ", ";
        PrintAt(*c[i], kPrecOr, out);
      }
      *out += ')';
      return;
    case NodeKind::kBetween:
      PrintAt(*c[0], kPrecPredicate, out);
      *out += node.negated ? " NOT BETWEEN " : " BETWEEN ";
      PrintAt(*c[1], kPrecAdd, out);
      *out += " AND ";
      PrintAt(*c[2], kPrecAdd, out);
      return;
    case NodeKind::kLike:
      PrintAt(*c[0], kPrecPredicate, out);
      *out += node.negated ? " NOT LIKE " : " LIKE ";
      *out += QuoteString(node.literal.s);
      return;
    case NodeKind::kCast:
      *out += "CAST(";
      PrintAt(*c[0], kPrecOr, out);
      *out += " AS ";
      *out += TypeSql(*node.cast_type);
      *out += ')';
      return;
    case NodeKind::kCall:
      *out += node.function;
      *out += '(';
      for (size_t i = 0; i < c.size(); ++i) {
        if (i > 0) *out += ", ";
        PrintAt(*c[i], kPrecOr, out);
      }
      *out += ')';
      return;
  }
}

void CollectColumns(const Node& node, std::unordered_set<std::string>* seen,
                    std::vector<std::string>* out) {
  if (node.kind == NodeKind::kColumn) {
    std::string dotted = JoinPath(node.path);
    if (seen->insert(dotted).second) out->push_back(std::move(dotted));
    return;
  }
  for (const auto& child : node.children) CollectColumns(*child, seen, out);
}

}  // namespace

std::string JoinPath(const std::vector<std::string>& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (i > 0) out += '.';
    if (path[i].find_first_of(".`") == std::string::npos) {
      out += path[i];
    } else {
      out += '`';
      for (char c : path[i]) {
        out += c;
        if (c == '`') out += '`';
      }
      out += '`';
    }
  }
  return out;
}

Result<NodePtr> Parse(std::string_view sql) { return Parser(sql).Run(); }

std::string ToString(const NodePtr& node) {
  std::string out;
  if (node) Print(*node, &out);
  return out;
}

std::vector<std::string> ReferencedColumns(const NodePtr& node) {
  std::unordered_set<std::string> seen;
  std::vector<std::string> out;
  if (node) CollectColumns(*node, &seen, &out);
  return out;
}

}  // namespace strata::expr
