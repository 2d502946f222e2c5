// The PCRE2 fast path must accept exactly the strings RE2 (Arrow's match_substring_regex, the
// expectations' definition of a match) accepts. Oracle: RE2 itself, on random patterns and values.
#include "strata/quality/regex_match.h"

#include <random>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <gtest/gtest.h>

#include "strata/testing/gtest_util.h"

namespace strata::quality::internal {
namespace {

// Pieces the generator builds patterns from: every construct of the subset, with characters
// whose meaning differs between engines if the subset were wrong (\n, \v, multi-byte UTF-8).
class PatternGen {
 public:
  explicit PatternGen(uint64_t seed) : rng_(seed) {}

  std::string Pattern() {
    std::string p;
    if (Coin(4)) p += '^';
    p += Sequence();
    if (Coin(4)) p += Pick({"$", "\\z"});
    return p;
  }

 private:
  bool Coin(int one_in) { return std::uniform_int_distribution<int>(0, one_in - 1)(rng_) == 0; }
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string Pick(std::initializer_list<const char*> xs) {
    auto it = xs.begin();
    std::advance(it, Int(0, static_cast<int>(xs.size()) - 1));
    return *it;
  }

  std::string Sequence() {
    std::string s;
    const int n = Int(0, 6);
    for (int i = 0; i < n; ++i) s += Item();
    return s;
  }
  std::string Item() {
    if (Coin(10)) return Pick({"\\b", "^", "$", "\\A"});
    std::string atom = Atom();
    if (Coin(2)) atom += Pick({"*", "+", "?", "{2}", "{1,3}", "{0,}", "{2,2}", "{0}"});
    return atom;
  }
  std::string Atom() {
    switch (Int(0, 6)) {
      case 0: return ".";
      case 1: return Class();
      case 2: return Pick({"\\d", "\\w", "\\D", "\\W", "\\.", "\\-", "\\\\", "\\$", "\\(", "\\[", "\\{", "\\|"});
      default: return std::string(1, "ab@.-_0 9x/#=,"[Int(0, 13)]);
    }
  }
  std::string Class() {
    std::string s = "[";
    if (Coin(2)) s += '^';
    const int n = Int(1, 3);
    for (int i = 0; i < n; ++i) {
      if (i == 0 && s == "[") {
        s += Pick({"a", "@", "0-9", "\\d"});  // a first '^' would negate
        continue;
      }
      s += Pick({"a", "b", "@", ".", "a-c", "0-9", "\\d", "\\w", "\\W", "\\]", "\\\\", "^", "$", " ", "_", "|"});
    }
    if (Coin(4)) s += '-';
    return s + "]";
  }

  std::mt19937_64 rng_;
};

std::string RandomValue(std::mt19937_64& rng, bool binary) {
  static const std::vector<std::string> kPieces = {
      "a", "b", "x", "@", ".", "-", "_", " ", "0", "9", "\n", "\v", "\t", "\r", "$", "[", "\\",
      "\xc3\xa9",          // é
      "\xe6\x97\xa5",      // 日
      "\xf0\x9f\x98\x80",  // emoji
  };
  static const std::vector<std::string> kBytes = {"\x80", "\xff", "\xc3", "\xe9"};
  std::string v;
  const int n = std::uniform_int_distribution<int>(0, 8)(rng);
  for (int i = 0; i < n; ++i) {
    if (binary && std::uniform_int_distribution<int>(0, 5)(rng) == 0) {
      v += kBytes[std::uniform_int_distribution<size_t>(0, kBytes.size() - 1)(rng)];
    } else {
      v += kPieces[std::uniform_int_distribution<size_t>(0, kPieces.size() - 1)(rng)];
    }
  }
  return v;
}

// RE2's answer per value (Arrow), or an error when RE2 rejects the pattern.
Result<std::vector<bool>> Re2Matches(const std::string& pattern, const std::vector<std::string>& values, bool binary) {
  std::shared_ptr<arrow::Array> arr;
  if (binary) {
    arrow::BinaryBuilder b;
    ARROW_RETURN_NOT_OK(b.AppendValues(values));
    ARROW_ASSIGN_OR_RAISE(arr, b.Finish());
  } else {
    arrow::StringBuilder b;
    ARROW_RETURN_NOT_OK(b.AppendValues(values));
    ARROW_ASSIGN_OR_RAISE(arr, b.Finish());
  }
  arrow::compute::MatchSubstringOptions o(pattern);
  ARROW_ASSIGN_OR_RAISE(auto r, arrow::compute::CallFunction("match_substring_regex", {arr}, &o));
  const auto b = std::static_pointer_cast<arrow::BooleanArray>(r.make_array());
  std::vector<bool> out;
  for (int64_t i = 0; i < b->length(); ++i) out.push_back(b->Value(i));
  return out;
}

// Compares both engines on one pattern; returns whether the fast path took it.
bool CheckAgreement(const std::string& pattern, bool binary, std::mt19937_64& rng) {
  auto fast = FastRegex::Compile(pattern, !binary);
  if (fast == nullptr) return false;
  std::vector<std::string> values;
  for (int i = 0; i < 60; ++i) values.push_back(RandomValue(rng, binary));
  auto re2 = Re2Matches(pattern, values, binary);
  // A pattern the fast path takes must be one RE2 accepts: the suite validates with RE2.
  EXPECT_TRUE(re2.ok()) << "pattern '" << pattern << "': " << re2.status().ToString();
  if (!re2.ok()) return true;
  FastRegex::Matcher m(*fast);
  for (size_t i = 0; i < values.size(); ++i) {
    const int got = m.Match(values[i]);
    if (got < 0) continue;  // past the match limit: the kernel asks RE2 (tested below)
    EXPECT_EQ(got, (*re2)[i] ? 1 : 0) << "pattern '" << pattern << "' value '" << values[i] << "'"
                                       << (binary ? " (binary)" : " (utf8)");
  }
  return true;
}

TEST(FastRegex, AgreesWithRe2OnRandomSubsetPatterns) {
  std::mt19937_64 rng(20261207);
  PatternGen gen(7);
  int taken = 0;
  for (int k = 0; k < 3000 && !HasFailure(); ++k) {
    const std::string p = gen.Pattern();
    ASSERT_TRUE(InPcreRe2CommonSubset(p)) << p;
    taken += CheckAgreement(p, /*binary=*/k % 3 == 0, rng);
  }
  EXPECT_GT(taken, 2900);  // PCRE2 compiles (nearly) everything the subset admits
}

// Arbitrary strings of regex metacharacters: whatever the subset check admits must agree.
TEST(FastRegex, AgreesWithRe2OnArbitraryPatternsTheSubsetAdmits) {
  std::mt19937_64 rng(99);
  const std::string alphabet = "ab.@^$|()[]{}*+?-\\dwsbBAzZ:,0123 ";  // groups too: must be refused
  int admitted = 0;
  for (int k = 0; k < 40000 && !HasFailure(); ++k) {
    std::string p;
    const int n = std::uniform_int_distribution<int>(1, 10)(rng);
    for (int i = 0; i < n; ++i) p += alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
    if (!InPcreRe2CommonSubset(p)) continue;
    ++admitted;
    CheckAgreement(p, k % 2 == 0, rng);
  }
  EXPECT_GT(admitted, 500);
}

TEST(FastRegex, ConstructsOutsideTheSubsetUseRe2) {
  for (const char* p : {"\\s", "a\\S", "\\pL", "(?i)a", "(?P<n>a)", "a(?=b)", "\\x41", "a{,3}", "a*+", "a++",
                        "[[:alpha:]]", "[]a]", "\\Z", "\\C", "\\B", "(?:ab|cd)*x", "a|b", "(a)", "a*?", "a{03}", "\\Qa\\E", "\xc3\xa9", "a\n", "(a", "a)", "[a"}) {
    EXPECT_FALSE(InPcreRe2CommonSubset(p)) << p;
    EXPECT_EQ(FastRegex::Compile(p, true), nullptr) << p;
  }
  for (const char* p : {"^[^@]+@[^@]+$", "^[A-Z]{2}-\\d{4}$", "^\\+?\\d{7,15}$", "", "a.c", "^\\w+\\.\\w+$"}) {
    EXPECT_TRUE(InPcreRe2CommonSubset(p)) << p;
    EXPECT_NE(FastRegex::Compile(p, true), nullptr) << p;
  }
}

// Exponential backtracking for PCRE2 (not for RE2): past the match limit the value is
// undecided, and the caller asks RE2.
TEST(FastRegex, CatastrophicBacktrackingIsUndecidedNotWrong) {
  auto re = FastRegex::Compile("^a*a*a*a*a*a*a*a*$", true);
  ASSERT_NE(re, nullptr);
  FastRegex::Matcher m(*re);
  EXPECT_EQ(m.Match("aaaa"), 1);
  EXPECT_EQ(m.Match(std::string(200, 'a') + "b"), -1);
}

}  // namespace
}  // namespace strata::quality::internal
