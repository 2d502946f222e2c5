/// \file
/// A fast path for the regex expectations: PCRE2's JIT for patterns where PCRE2 and RE2 accept
/// exactly the same strings. Not a public API.
///
/// Why: the expectations' regex semantics are RE2's (Arrow's `match_substring_regex`; suites
/// are validated with it). Arrow calls RE2::PartialMatch once per value, and for the short
/// strings data-quality checks see (e-mails, codes, ids) RE2's per-call setup — DFA cache lookup,
/// reader lock, start-state analysis — costs more than the matching: about 90 ns per 20-byte value
/// here, against about 30 ns for PCRE2's JIT-compiled matcher. PCRE2 backtracks, so it is used only
///  - for patterns in a small syntax subset — a sequence of single-character atoms (ASCII
///    literals, `.`, bracket classes, \d \w \D \W) each with an optional greedy quantifier, and
///    the assertions ^ $ \A \z \b; no groups, no alternation — whose meaning is the same in both
///    engines given PCRE2_DOLLAR_ENDONLY and LF newlines. This covers the usual data-quality
///    formats (e-mails, codes, phone numbers). It is checked by a differential test against
///    Arrow/RE2 on random patterns and strings (regex_match_test.cc), which is also how the
///    subset was narrowed: it found PCRE2 10.42 JIT defects with groups and alternation, and with
///    PCRE2_MATCH_INVALID_UTF;
///  - under a match limit: a value that exceeds it is decided by RE2, and after a few such values
///    the column goes back to RE2 altogether (RE2 runs in linear time; a backtracking engine may
///    not).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace strata::quality::internal {

/// True when `pattern` is inside the subset where PCRE2 and RE2 agree (see the file comment).
bool InPcreRe2CommonSubset(std::string_view pattern);

/// A pattern compiled by PCRE2 with its JIT. Thread-safe: matching state lives in `Matcher`.
class FastRegex {
 public:
  /// nullptr when the pattern is outside the common subset, or PCRE2 cannot compile or JIT it
  /// (callers then use RE2). `utf8`: string columns (UTF-8, as RE2 reads them); false for binary
  /// columns (bytes, as RE2's Latin-1 mode reads them).
  static std::unique_ptr<FastRegex> Compile(std::string_view pattern, bool utf8);
  ~FastRegex();
  FastRegex(const FastRegex&) = delete;
  FastRegex& operator=(const FastRegex&) = delete;

  /// Per-thread matching state (match data, match limit, JIT stack).
  class Matcher {
   public:
    explicit Matcher(const FastRegex& re);
    ~Matcher();
    Matcher(const Matcher&) = delete;
    Matcher& operator=(const Matcher&) = delete;
    /// 1: matches somewhere in `value`; 0: does not; -1: undecided (a resource limit was hit;
    /// ask RE2, and call `re.NoteUndecided()`).
    /// REQUIRES: `value` is valid UTF-8 when compiled with `utf8` (PCRE2's JIT does not check).
    int Match(std::string_view value);

   private:
    const FastRegex& re_;
    void* match_data_ = nullptr;
    void* match_context_ = nullptr;
    void* jit_stack_ = nullptr;
  };

  /// Counts a value PCRE2 could not decide; after `kMaxUndecided` of them `gave_up()` is true.
  void NoteUndecided() const { undecided_.fetch_add(1, std::memory_order_relaxed); }
  bool gave_up() const { return undecided_.load(std::memory_order_relaxed) >= kMaxUndecided; }

  static constexpr int kMaxUndecided = 8;
  /// PCRE2 match limit per value (backtracking steps); beyond it RE2 decides.
  static constexpr uint32_t kMatchLimit = 200000;

 private:
  FastRegex() = default;
  void* code_ = nullptr;
  mutable std::atomic<int> undecided_{0};
};

}  // namespace strata::quality::internal
