#include "strata/quality/regex_match.h"

#include <cstring>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace strata::quality::internal {

namespace {

bool IsAsciiPrintable(unsigned char c) { return c >= 0x20 && c < 0x7f; }

/// Punctuation that, escaped, is the literal character in both engines.
bool IsEscapablePunct(char c) { return c != '\0' && std::strchr(".\\+*?()[]{}|^$-/", c) != nullptr; }

/// A bracket class starting at p[i] == '['; on success i is one past its ']'.
bool ScanClass(std::string_view p, size_t& i) {
  ++i;
  if (i < p.size() && p[i] == '^') ++i;
  if (i >= p.size() || p[i] == ']') return false;  // "[]..." and "[^]...": rules differ, keep out
  bool prev_plain = false;  // the previous member was a plain character (may start a range)
  bool first = true;
  while (i < p.size() && p[i] != ']') {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (!IsAsciiPrintable(c) || c == '[') return false;  // no POSIX [:classes:], no nesting
    if (c == '\\') {
      if (i + 1 >= p.size()) return false;
      const char e = p[i + 1];
      if (std::strchr("dwDW", e) != nullptr) {
        prev_plain = false;
      } else if (IsEscapablePunct(e)) {
        prev_plain = false;  // an escaped character as a range end: keep out
      } else {
        return false;
      }
      i += 2;
    } else if (c == '-') {
      const bool last = i + 1 < p.size() && p[i + 1] == ']';
      if (first || last) {
        prev_plain = false;  // a literal '-'
        ++i;
      } else {
        // A range: plain character on both sides, in order.
        if (!prev_plain || i + 1 >= p.size()) return false;
        const unsigned char hi = static_cast<unsigned char>(p[i + 1]);
        if (!IsAsciiPrintable(hi) || hi == '\\' || hi == '[' || hi == ']' || hi == '-') return false;
        if (hi < static_cast<unsigned char>(p[i - 1])) return false;
        i += 2;
        prev_plain = false;
      }
    } else {
      prev_plain = true;
      ++i;
    }
    first = false;
  }
  if (i >= p.size()) return false;
  ++i;  // ']'
  return true;
}

/// {n}, {n,} or {n,m} at p[i] == '{' with n <= m <= 1000 (RE2's limit); i is one past '}'.
bool ScanCount(std::string_view p, size_t& i) {
  auto number = [&](int* out) {
    size_t start = i;
    int v = 0;
    while (i < p.size() && p[i] >= '0' && p[i] <= '9' && i - start < 5) v = v * 10 + (p[i++] - '0');
    *out = v;
    return i > start && !(p[start] == '0' && i - start > 1);  // RE2 reads {03} as literal text
  };
  ++i;
  int lo = 0, hi = 0;
  if (!number(&lo)) return false;
  if (i < p.size() && p[i] == ',') {
    ++i;
    if (i < p.size() && p[i] != '}') {
      if (!number(&hi) || hi < lo) return false;
    } else {
      hi = lo;
    }
  } else {
    hi = lo;
  }
  if (i >= p.size() || p[i] != '}' || lo > 1000 || hi > 1000) return false;
  ++i;
  return true;
}

}  // namespace

bool InPcreRe2CommonSubset(std::string_view p) {
  size_t i = 0;
  bool quantifiable = false;  // the previous item is an atom a quantifier may follow
  while (i < p.size()) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (!IsAsciiPrintable(c)) return false;
    switch (c) {
      case '\\': {
        if (i + 1 >= p.size()) return false;
        const char e = p[i + 1];
        if (IsEscapablePunct(e) || std::strchr("dDwW", e) != nullptr) {
          quantifiable = true;
        } else if (std::strchr("bAz", e) != nullptr) {
          quantifiable = false;  // assertions: no quantifier after them
        } else {
          // \s (RE2 lacks \v in it); \B (RE2 also finds it between the bytes of one UTF-8
          // character); \p, \x, \Q, \C, \Z, back references, ...
          return false;
        }
        i += 2;
        break;
      }
      case '[':
        if (!ScanClass(p, i)) return false;
        quantifiable = true;
        break;
      case '(':
      case ')':
      case '|':
        // Groups and alternation: PCRE2 10.42's JIT answers ^(?:(?:a|)b*.){2}x|- wrongly on
        // "axxq" (its interpreter and RE2 say it matches); found by regex_match_test.
        return false;
      case '^':
      case '$':
        ++i;
        quantifiable = false;
        break;
      case '*':
      case '+':
      case '?':
      case '{':
        if (!quantifiable) return false;
        if (c == '{') {
          if (!ScanCount(p, i)) return false;
        } else {
          ++i;
        }
        // A quantifier right after a quantifier: '?' would be lazy, '+' possessive in PCRE2.
        if (i < p.size() && std::strchr("*+?{", p[i]) != nullptr) return false;
        quantifiable = false;
        break;
      case ']':
      case '}':
        return false;
      default:  // '.', letters, digits and the remaining punctuation are atoms in both
        ++i;
        quantifiable = true;
        break;
    }
  }
  return true;
}

std::unique_ptr<FastRegex> FastRegex::Compile(std::string_view pattern, bool utf8) {
  if (!InPcreRe2CommonSubset(pattern)) return nullptr;
  uint32_t jit = 0;
  if (pcre2_config(PCRE2_CONFIG_JIT, &jit) < 0 || jit == 0) return nullptr;
  pcre2_compile_context* cc = pcre2_compile_context_create(nullptr);
  if (cc == nullptr) return nullptr;
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);  // '.' excludes only '\n', as in RE2
  // DOLLAR_ENDONLY: '$' is the end of the value only (PCRE's default also matches before a
  // final '\n'). Not PCRE2_MATCH_INVALID_UTF: PCRE2 10.42's JIT then fails `\W9` on "日9"
  // (found by regex_match_test); callers hand only valid UTF-8 to a UTF-8 matcher instead.
  uint32_t options = PCRE2_DOLLAR_ENDONLY | PCRE2_NO_AUTO_CAPTURE | PCRE2_NEVER_BACKSLASH_C | PCRE2_NEVER_UCP;
  if (utf8) options |= PCRE2_UTF;
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error,
                                   &offset, cc);
  pcre2_compile_context_free(cc);
  if (code == nullptr) return nullptr;
  if (pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) != 0) {
    pcre2_code_free(code);
    return nullptr;
  }
  std::unique_ptr<FastRegex> re(new FastRegex());
  re->code_ = code;
  return re;
}

FastRegex::~FastRegex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

FastRegex::Matcher::Matcher(const FastRegex& re) : re_(re) {
  match_data_ = pcre2_match_data_create(1, nullptr);
  auto* mc = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(mc, kMatchLimit);
  auto* stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
  pcre2_jit_stack_assign(mc, nullptr, stack);
  match_context_ = mc;
  jit_stack_ = stack;
}

FastRegex::Matcher::~Matcher() {
  pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
  pcre2_match_context_free(static_cast<pcre2_match_context*>(match_context_));
  pcre2_jit_stack_free(static_cast<pcre2_jit_stack*>(jit_stack_));
}

int FastRegex::Matcher::Match(std::string_view value) {
  if (match_data_ == nullptr || match_context_ == nullptr) return -1;
  const int rc = pcre2_jit_match(static_cast<const pcre2_code*>(re_.code_),
                                 reinterpret_cast<PCRE2_SPTR>(value.data()), value.size(), 0, 0,
                                 static_cast<pcre2_match_data*>(match_data_),
                                 static_cast<pcre2_match_context*>(match_context_));
  if (rc >= 0) return 1;
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  return -1;  // match or depth limit, JIT stack exhausted
}

}  // namespace strata::quality::internal
