#include "strata/quality/suite.h"

#include <cmath>
#include <fstream>
#include <random>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/json/from_string.h>

#include "strata/ops/write.h"
#include "strata/storage/local_store.h"
#include "strata/testing/gtest_util.h"

namespace strata::quality {
namespace {

std::shared_ptr<arrow::Array> A(const std::shared_ptr<arrow::DataType>& type, const std::string& json) {
  return *arrow::json::ArrayFromJSONString(type, json);
}

/// A table of the given columns, cut into batches of `batch_rows` rows.
std::shared_ptr<arrow::Table> MakeTable(const std::vector<std::pair<std::string, std::shared_ptr<arrow::Array>>>& cols,
                                        int64_t batch_rows = 0) {
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (const auto& [name, arr] : cols) {
    fields.push_back(arrow::field(name, arr->type()));
    arrays.push_back(arr);
  }
  auto schema = arrow::schema(fields);
  int64_t n = arrays.empty() ? 0 : arrays[0]->length();
  if (batch_rows <= 0) return arrow::Table::Make(schema, arrays, n);
  arrow::RecordBatchVector batches;
  for (int64_t off = 0; off < n; off += batch_rows) {
    arrow::ArrayVector slice;
    for (const auto& a : arrays) slice.push_back(a->Slice(off, std::min(batch_rows, n - off)));
    batches.push_back(arrow::RecordBatch::Make(schema, std::min(batch_rows, n - off), slice));
  }
  return *arrow::Table::FromRecordBatches(schema, batches);
}

Suite Parse(const std::string& yaml) {
  auto s = Suite::FromYamlString(yaml, "test.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

ValidateOptions Small(int threads = 2, int64_t morsel = 3) {
  ValidateOptions o;
  o.threads = threads;
  o.morsel_rows = morsel;
  return o;
}

const ExpectationResult& ByType(const Report& r, const std::string& type) {
  for (const auto& x : r.results) {
    if (x.type == type) return x;
  }
  ADD_FAILURE() << "no result of type " << type;
  static ExpectationResult none;
  return none;
}

std::string SamplesText(const ExpectationResult& r) {
  if (!r.unexpected_samples) return "";
  std::string out;
  for (const auto& v : ArrayToValues(*r.unexpected_samples)) out += (out.empty() ? "" : ",") + v.ToString();
  return out;
}

// ---- parsing -------------------------------------------------------------------------------

TEST(SuiteYaml, ParsesTheArchitectureExample) {
  auto s = Parse(R"(
name: transactions_silver
expectations:
  - {type: not_null, column: txn_id}
  - {type: unique, column: txn_id}
  - {type: between, column: amount, min: 0, max: 10000, mostly: 0.99}
  - {type: in_set, column: currency, values: [EUR, USD, GBP]}
  - {type: regex, column: email, pattern: "^[^@]+@[^@]+$"}
  - {type: row_count_between, min: 1}
  - {type: expression, expr: "refund_amount <= amount"}
)");
  EXPECT_EQ(s.name(), "transactions_silver");
  ASSERT_EQ(s.expectations().size(), 7u);
  EXPECT_EQ(s.expectations()[2].origin, "test.yaml:6");
  EXPECT_EQ(s.expectations()[2].args.Find("mostly")->as_double(), 0.99);
  auto cols = s.RequiredColumns();
  EXPECT_EQ(cols, (std::vector<std::string>{"txn_id", "amount", "currency", "email", "refund_amount"}));
}

TEST(SuiteYaml, ScalarsAreTypedLikeYaml12) {
  ASSERT_OK_AND_ASSIGN(auto v, ParseYaml("{a: 1, b: 1.5, c: true, d: null, e: '1', f: abc, g: -7, h: 1e3, i: ~}", "x"));
  EXPECT_TRUE(v.Find("a")->is_int());
  EXPECT_EQ(v.Find("b")->kind(), Value::Kind::kDouble);
  EXPECT_TRUE(v.Find("c")->is_bool());
  EXPECT_TRUE(v.Find("d")->is_null());
  EXPECT_TRUE(v.Find("e")->is_string());
  EXPECT_EQ(v.Find("f")->as_string(), "abc");
  EXPECT_EQ(v.Find("g")->as_int(), -7);
  EXPECT_EQ(v.Find("h")->as_double(), 1000.0);
  EXPECT_TRUE(v.Find("i")->is_null());
}

void ExpectError(const std::string& yaml, const std::vector<std::string>& parts) {
  auto s = Suite::FromYamlString(yaml, "bad.yaml");
  ASSERT_FALSE(s.ok()) << yaml;
  EXPECT_TRUE(HasCode(s.status(), ErrorCode::kInvalidArgument)) << s.status().ToString();
  for (const auto& p : parts) {
    EXPECT_NE(s.status().message().find(p), std::string::npos) << "'" << p << "' not in: " << s.status().message();
  }
}

TEST(SuiteYaml, ErrorsNameFileLineAndExpectation) {
  ExpectError("name: s\nexpectations:\n  - {type: not_null, column: a}\n  - {type: nope, column: a}\n",
              {"bad.yaml:4", "expectation 2", "unknown expectation type 'nope'"});
  ExpectError("name: s\nexpectations:\n  - {type: between, column: a, min: 0, maxx: 3}\n",
              {"bad.yaml:3", "between on 'a'", "unknown key 'maxx'", "did you mean 'max'", "allowed:"});
  ExpectError("name: s\nexpectations:\n  - {type: in_set, column: a}\n", {"bad.yaml:3", "argument 'values'", "required"});
  ExpectError("name: s\nexpectations:\n  - type: between\n    column: a\n    min: [0]\n    max: 3\n",
              {"bad.yaml:3", "expectation 1"});
  ExpectError("name: s\nexpectations:\n  - type: string_length_between\n    column: a\n    min: x\n",
              {"bad.yaml:3", "argument 'min'", "(line 5)", "expected an integer"});
  ExpectError("name: s\nexpectations:\n  - {type: regex, column: a, pattern: \"([a-\"}\n",
              {"bad.yaml:3", "argument 'pattern'", "invalid regular expression"});
  ExpectError("name: s\nexpectations:\n  - {type: expression, expr: \"a >\"}\n", {"bad.yaml:3", "argument 'expr'"});
  ExpectError("name: s\nexpectations:\n  - {type: between, column: a, min: 0, mostly: 2}\n", {"argument 'mostly'"});
  ExpectError("name: s\nexpectations:\n  - {type: mean_between, column: a, min: 0, mostly: 0.5}\n",
              {"unknown key 'mostly'"});
  ExpectError("name: s\nexpectations:\n  - {type: not_null, column: a, column: b}\n", {"bad.yaml:3", "duplicate key"});
  ExpectError("name: s\nexpectations:\n  - {type: not_null, column: [a\n", {"bad.yaml:", "invalid YAML"});
  ExpectError("name: s\nexpectationz: []\n", {"bad.yaml:2", "unknown key 'expectationz'"});
  ExpectError("name: s\nexpectations:\n  - not_null\n", {"bad.yaml:3", "must be a map"});
  ExpectError("name: s\nexpectations:\n  - {column: a}\n", {"missing 'type'"});
  ExpectError("name: s\nexpectations:\n  - {type: freshness, column: ts, max_age: 2 hours}\n",
              {"argument 'max_age'", "not a duration"});
  ExpectError("name: s\nexpectations:\n  - {type: quantiles_between, column: x, quantiles: [0.5], ranges: []}\n",
              {"argument 'ranges'"});
}

TEST(SuiteYaml, AliasBombIsRefused) {
  std::string yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (int i = 0; i < 8; ++i) {
    std::string name = "l" + std::to_string(i);
    yaml += name + ": &" + name + " [";
    for (int k = 0; k < 10; ++k) yaml += (k ? ", *" : "*") + prev;
    yaml += "]\n";
    prev = name;
  }
  auto v = ParseYaml(yaml, "bomb.yaml");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("too large"), std::string::npos) << v.status().message();
}

TEST(SuiteYaml, FileErrorsNameThePath) {
  testing::TempDir dir;
  std::string path = dir.path() + "/suite.yaml";
  std::ofstream(path) << "expectations:\n  - {type: between, column: x}\n";
  auto s = Suite::FromYamlFile(path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(path + ":2"), std::string::npos) << s.status().message();
  std::ofstream(path) << "expectations:\n  - {type: not_null, column: x}\n";
  ASSERT_OK_AND_ASSIGN(auto ok, Suite::FromYamlFile(path));
  EXPECT_EQ(ok.name(), "suite");  // defaults to the file's stem
  EXPECT_FALSE(Suite::FromYamlFile(dir.path() + "/missing.yaml").ok());
}

TEST(SuiteValidate, MissingColumnIsAnErrorNamingTheExpectation) {
  auto s = Parse("name: s\nexpectations:\n  - {type: not_null, column: a}\n  - {type: not_null, column: zz}\n");
  auto t = MakeTable({{"a", A(arrow::int64(), "[1, 2]")}});
  auto r = s.Validate(t);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument));
  EXPECT_NE(r.status().message().find("test.yaml:4: expectation 2 (not_null on 'zz')"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("columns: a"), std::string::npos);
}

TEST(SuiteValidate, WrongColumnTypeIsAnError) {
  auto s = Parse("name: s\nexpectations:\n  - {type: regex, column: a, pattern: x}\n");
  auto r = s.Validate(MakeTable({{"a", A(arrow::int64(), "[1, 2]")}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("needs a string column"), std::string::npos);
}

// ---- semantics -----------------------------------------------------------------------------

// The regex kernel's paths (PCRE2 fast path, RE2 for invalid UTF-8 batches and for values past
// PCRE2's match limit) against Arrow's match_substring_regex (RE2) on every value; sliced
// batches, nulls, and each string and binary type.
TEST(SuiteValidate, RegexPathsAgreeWithRe2) {
  std::mt19937_64 rng(11);
  const std::vector<std::string> pieces = {"a", "b", "@", ".", "x", "\n", "\xc3\xa9", "\xe6\x97\xa5"};
  arrow::StringBuilder sb;
  arrow::BinaryBuilder bb;
  for (int i = 0; i < 400; ++i) {
    std::string v;
    const int len = static_cast<int>(rng() % 7);
    for (int k = 0; k < len; ++k) v += pieces[rng() % pieces.size()];
    if (i % 50 == 7) v = std::string(300, 'a') + "b";  // past the match limit of ^a*a*...$
    if (i == 123) v = "a\xff@b";                        // invalid UTF-8: its batch goes to RE2
    if (i % 13 == 5) {
      ASSERT_OK(sb.AppendNull());
      ASSERT_OK(bb.AppendNull());
    } else {
      ASSERT_OK(sb.Append(v));
      ASSERT_OK(bb.Append(v));
    }
  }
  std::shared_ptr<arrow::Array> str = *sb.Finish(), bin = *bb.Finish();
  auto large_str = *arrow::compute::Cast(*str, arrow::large_utf8());
  auto large_bin = *arrow::compute::Cast(*bin, arrow::large_binary());
  for (const char* pattern : {"^[^@]+@[^@]+$", "^a*a*a*a*a*a*a*a*a*a*$", ".\\.", "^\\w*$", "(a|@)x"}) {
    for (const auto& col : {str, bin, large_str, large_bin}) {
      arrow::compute::MatchSubstringOptions o(pattern);
      auto m = *arrow::compute::CallFunction("match_substring_regex", {col}, &o);
      const auto mb = std::static_pointer_cast<arrow::BooleanArray>(m.make_array());
      int64_t want_fail = 0, want_match = 0;
      for (int64_t i = 0; i < mb->length(); ++i) {
        if (mb->IsNull(i)) continue;
        (mb->Value(i) ? want_match : want_fail)++;
      }
      ASSERT_OK_AND_ASSIGN(auto s, Suite::FromYamlString(std::string("name: rx\nexpectations:\n") +
                                                        "  - {type: regex, column: c, pattern: '" + pattern + "'}\n" +
                                                        "  - {type: not_regex, column: c, pattern: '" + pattern + "'}\n",
                                                    "rx.yaml"));
      auto t = MakeTable({{"c", col}}, 37);
      ASSERT_OK_AND_ASSIGN(auto r, s.Validate(t, Small(2, 29)));
      EXPECT_EQ(*r.results[0].unexpected_count, want_fail) << pattern << " " << col->type()->ToString();
      EXPECT_EQ(*r.results[1].unexpected_count, want_match) << pattern << " " << col->type()->ToString();
      EXPECT_EQ(*r.results[0].element_count, col->length() - col->null_count());
    }
  }
}

TEST(SuiteValidate, RowLevelCountsMostlyAndSamples) {
  auto s = Parse(R"(
name: s
expectations:
  - {type: not_null, column: x}
  - {type: between, column: x, min: 0, max: 10}
  - {type: between, column: x, min: 0, max: 10, mostly: 0.6}
  - {type: in_set, column: c, values: [a, b]}
  - {type: not_in_set, column: c, values: [z]}
  - {type: regex, column: c, pattern: "^[ab]$"}
  - {type: not_regex, column: c, pattern: "z"}
  - {type: string_length_between, column: c, min: 1, max: 1}
)");
  auto t = MakeTable({{"x", A(arrow::int64(), "[1, null, 20, 5, -1, 7, null, 3]")},
                      {"c", A(arrow::utf8(), R"(["a", "b", "z", null, "a", "zz", "b", "é"])")}},
                     3);
  for (int threads : {1, 2, 4}) {
    ASSERT_OK_AND_ASSIGN(auto r, s.Validate(t, Small(threads, 2)));
    EXPECT_FALSE(r.success);
    EXPECT_EQ(r.row_count, 8);
    const auto& nn = r.results[0];
    EXPECT_EQ(*nn.element_count, 8);
    EXPECT_EQ(*nn.unexpected_count, 2);
    EXPECT_DOUBLE_EQ(*nn.unexpected_percent, 25.0);
    EXPECT_FALSE(nn.success);
    const auto& bt = r.results[1];
    EXPECT_EQ(*bt.element_count, 6);
    EXPECT_EQ(*bt.unexpected_count, 2);
    EXPECT_EQ(SamplesText(bt), "20,-1");  // data order, nulls never unexpected
    EXPECT_FALSE(bt.success);
    EXPECT_TRUE(r.results[2].success);  // 4/6 >= 0.6
    EXPECT_NEAR(r.results[2].observed_value.as_double(), 4.0 / 6, 1e-12);
    EXPECT_EQ(*r.results[3].unexpected_count, 3);  // z, zz, é
    EXPECT_EQ(SamplesText(r.results[3]), "z,zz,é");
    EXPECT_EQ(*r.results[4].unexpected_count, 1);
    EXPECT_EQ(*r.results[5].unexpected_count, 3);
    EXPECT_EQ(*r.results[6].unexpected_count, 2);
    EXPECT_EQ(*r.results[7].unexpected_count, 1);  // "zz"; "é" is one character
  }
}

TEST(SuiteValidate, BetweenNaNFailsAndBoundsAreExact) {
  auto s = Parse(R"(
name: s
expectations:
  - {type: between, column: f, min: 0, max: 1}
  - {type: between, column: f, min: 0, max: 1, strict_max: true}
  - {type: between, column: i, min: 2.5, max: 9007199254740993}
  - {type: between, column: i, min: 2, strict_min: true}
)");
  auto t = MakeTable({{"f", A(arrow::float64(), "[0.0, 1.0, NaN, 0.5, null]")},
                      {"i", A(arrow::int64(), "[2, 3, 9007199254740993, 9007199254740994, null]")}});
  ASSERT_OK_AND_ASSIGN(auto r, s.Validate(t));
  EXPECT_EQ(*r.results[0].unexpected_count, 1);
  EXPECT_EQ(*r.results[0].element_count, 4);  // NaN is a value, not a null
  EXPECT_EQ(*r.results[1].unexpected_count, 2);
  EXPECT_EQ(*r.results[2].unexpected_count, 2);  // 2 < 2.5, 2^53+2 > 2^53+1 (exact)
  EXPECT_EQ(*r.results[3].unexpected_count, 1);
}

TEST(SuiteValidate, UniqueAndIncreasingAcrossMorsels) {
  auto s = Parse(R"(
name: s
expectations:
  - {type: unique, column: k}
  - {type: increasing, column: v}
  - {type: increasing, column: v, strict: true}
  - {type: decreasing, column: v}
  - {type: compound_unique, columns: [k, c]}
  - {type: unique, column: c}
)");
  auto t = MakeTable({{"k", A(arrow::int64(), "[1, 2, 3, 4, 1, 5, null, null, 4, 6]")},
                      {"v", A(arrow::float64(), "[1, 2, 2, 3, null, 2.5, 4, NaN, 5, 6]")},
                      {"c", A(arrow::utf8(), R"(["x", "y", "z", "w", "x", "q", "r", "s", "t", null])")}},
                     4);
  for (int64_t morsel : {1, 2, 3, 100}) {
    for (int threads : {1, 3}) {
      ASSERT_OK_AND_ASSIGN(auto r, s.Validate(t, Small(threads, morsel)));
      SCOPED_TRACE("morsel " + std::to_string(morsel) + " threads " + std::to_string(threads));
      EXPECT_EQ(*r.results[0].element_count, 8);
      EXPECT_EQ(*r.results[0].unexpected_count, 4);  // 1,1,4,4
      EXPECT_FALSE(r.results[0].success);
      // v: 1 2 2 3 _ 2.5 4 NaN 5 6 -> 2.5 < 3 breaks; NaN fails
      EXPECT_EQ(*r.results[1].unexpected_count, 2);
      EXPECT_EQ(SamplesText(r.results[1]), "2.5,NaN");
      EXPECT_EQ(*r.results[2].unexpected_count, 3);  // + the repeated 2
      EXPECT_EQ(*r.results[3].unexpected_count, 6);  // every rise, plus NaN
      // compound (k, c): (1,x) twice; (4,w) and (4,t) differ
      EXPECT_EQ(*r.results[4].unexpected_count, 2);
      EXPECT_EQ(*r.results[4].element_count, 7);
      EXPECT_EQ(*r.results[5].unexpected_count, 2);
      ASSERT_NE(r.results[4].unexpected_samples, nullptr);
      EXPECT_EQ(r.results[4].unexpected_samples->type_id(), arrow::Type::STRUCT);
    }
  }
}

TEST(SuiteValidate, AggregatesAndEmptyData) {
  auto s = Parse(R"(
name: s
expectations:
  - {type: mean_between, column: x, min: 2, max: 3}
  - {type: median_between, column: x, min: 2.5, max: 2.5}
  - {type: stdev_between, column: x, min: 1.29, max: 1.30}
  - {type: sum_between, column: x, min: 10, max: 10}
  - {type: min_between, column: x, min: 1, max: 1}
  - {type: max_between, column: x, min: 4, max: 4}
  - {type: quantiles_between, column: x, quantiles: [0, 0.25, 1], ranges: [[1, 1], [1.75, 1.75], [null, 4]]}
  - {type: distinct_count_between, column: x, min: 4, max: 4}
  - {type: unique_proportion_between, column: x, min: 1}
  - {type: null_proportion_between, column: x, max: 0.2}
  - {type: row_count_between, min: 5, max: 5}
  - {type: column_count_between, min: 1, max: 1}
  - {type: most_common_value_in_set, column: x, values: [1, 2, 3, 4]}
  - {type: not_null, column: x}
  - {type: schema_equals, columns: {x: int64}}
  - {type: values_of_type, column: x, value_type: int64}
  - {type: column_exists, column: x}
)");
  auto t = MakeTable({{"x", A(arrow::int64(), "[1, 2, null, 3, 4]")}}, 2);
  ASSERT_OK_AND_ASSIGN(auto r, s.Validate(t, Small(2, 1)));
  for (size_t i = 0; i < r.results.size(); ++i) {
    if (r.results[i].type == "not_null") continue;
    EXPECT_TRUE(r.results[i].success) << r.results[i].type << " observed " << r.results[i].observed_value.ToString()
                                      << " " << r.results[i].error;
  }
  EXPECT_EQ(ByType(r, "mean_between").observed_value.as_double(), 2.5);
  EXPECT_EQ(ByType(r, "sum_between").observed_value.as_int(), 10);
  EXPECT_EQ(ByType(r, "most_common_value_in_set").observed_value.ToString(), "[1, 2, 3, 4]");

  auto empty = MakeTable({{"x", A(arrow::int64(), "[]")}});
  ASSERT_OK_AND_ASSIGN(auto e, s.Validate(empty));
  for (const auto& res : e.results) {
    bool aggregate = res.type.find("_between") != std::string::npos || res.type == "most_common_value_in_set";
    if (res.type == "row_count_between" || res.type == "column_count_between") continue;
    if (res.type == "distinct_count_between") {
      EXPECT_EQ(res.observed_value.as_int(), 0);
      continue;
    }
    if (aggregate) {
      EXPECT_FALSE(res.success) << res.type;
      if (res.type != "quantiles_between") {
        EXPECT_TRUE(res.observed_value.is_null()) << res.type;
      }
    } else {
      EXPECT_TRUE(res.success) << res.type;
    }
  }
}

TEST(SuiteValidate, NaNMakesAggregatesNaN) {
  auto s = Parse(R"(
name: s
expectations:
  - {type: mean_between, column: x, min: 0}
  - {type: max_between, column: x, min: 0}
  - {type: median_between, column: x, min: 0}
)");
  ASSERT_OK_AND_ASSIGN(auto r, s.Validate(MakeTable({{"x", A(arrow::float64(), "[1, NaN, 2]")}})));
  for (const auto& res : r.results) {
    EXPECT_FALSE(res.success);
    EXPECT_TRUE(std::isnan(res.observed_value.as_double())) << res.type;
  }
}

TEST(SuiteValidate, MultiColumnAndExpression) {
  auto s = Parse(R"(
name: s
expectations:
  - {type: column_pair_less, column_a: a, column_b: b}
  - {type: column_pair_less, column_a: a, column_b: b, or_equal: true}
  - {type: column_pair_equal, column_a: a, column_b: b}
  - {type: multicolumn_sum_equal, columns: [a, b], total: 10}
  - {type: expression, expr: "a * 2 <= b"}
)");
  auto t = MakeTable({{"a", A(arrow::int32(), "[1, 5, 7, null, 3]")}, {"b", A(arrow::int64(), "[9, 5, 3, 1, 7]")}});
  ASSERT_OK_AND_ASSIGN(auto r, s.Validate(t));
  EXPECT_EQ(*r.results[0].unexpected_count, 2);
  EXPECT_EQ(*r.results[0].element_count, 4);
  EXPECT_EQ(*r.results[1].unexpected_count, 1);
  EXPECT_EQ(*r.results[2].unexpected_count, 3);
  EXPECT_EQ(*r.results[3].unexpected_count, 0);
  EXPECT_EQ(*r.results[4].unexpected_count, 2);  // 5*2 > 5, 7*2 > 3; null row not counted
  EXPECT_EQ(*r.results[4].element_count, 4);
  ASSERT_NE(r.results[4].unexpected_samples, nullptr);
  EXPECT_EQ(r.results[4].unexpected_samples->type_id(), arrow::Type::STRUCT);
  EXPECT_EQ(ArrayToValues(*r.results[4].unexpected_samples)[0].ToString(), "{a: 5, b: 5}");
}

TEST(SuiteValidate, FreshnessAndTemporalBounds) {
  auto s = Parse(R"(
name: s
expectations:
  - {type: freshness, column: ts, max_age: 2h}
  - {type: freshness, column: ts, max_age: 30m}
  - {type: between, column: ts, min: "2026-01-01T00:00:00", max: "2026-01-02"}
  - {type: max_between, column: ts, max: "2026-01-01T12:00:00Z"}
)");
  auto t = MakeTable({{"ts", A(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"),
                               R"(["2026-01-01 10:00:00", "2026-01-01 11:00:00", null, "2025-12-31 23:00:00"])")}});
  ValidateOptions o;
  o.now_us = 1767268800000000LL;  // 2026-01-01T12:00:00Z
  ASSERT_OK_AND_ASSIGN(auto r, s.Validate(t, o));
  EXPECT_TRUE(r.results[0].success);
  EXPECT_FALSE(r.results[1].success);
  EXPECT_DOUBLE_EQ(r.results[0].observed_value.Find("age_seconds")->as_double(), 3600.0);
  EXPECT_EQ(*r.results[2].unexpected_count, 1);
  EXPECT_TRUE(r.results[3].success);
}

TEST(SuiteValidate, ExpressionErrorFailsOnlyThatExpectation) {
  auto s = Parse(R"(
name: s
expectations:
  - {type: expression, expr: "a / 0 > 1"}
  - {type: not_null, column: a}
)");
  ASSERT_OK_AND_ASSIGN(auto r, s.Validate(MakeTable({{"a", A(arrow::int64(), "[1, 2]")}})));
  EXPECT_FALSE(r.results[0].success);
  EXPECT_FALSE(r.results[0].error.empty());
  EXPECT_TRUE(r.results[1].success);
}

TEST(SuiteValidate, DictionaryColumnsAreDecoded) {
  auto s = Parse("name: s\nexpectations:\n  - {type: in_set, column: d, values: [a]}\n  - {type: unique, column: d}\n");
  auto dict = *arrow::DictionaryArray::FromArrays(arrow::dictionary(arrow::int32(), arrow::utf8()),
                                                  A(arrow::int32(), "[0, 1, 0]"), A(arrow::utf8(), R"(["a", "b"])"));
  ASSERT_OK_AND_ASSIGN(auto r, s.Validate(MakeTable({{"d", dict}})));
  EXPECT_EQ(*r.results[0].unexpected_count, 1);
  EXPECT_EQ(*r.results[1].unexpected_count, 2);
}

TEST(SuiteValidate, ReportJson) {
  auto s = Parse("name: s\nexpectations:\n  - {type: between, column: x, min: 0}\n  - {type: mean_between, column: x, min: 0}\n");
  ASSERT_OK_AND_ASSIGN(auto r, s.Validate(MakeTable({{"x", A(arrow::float64(), "[1, -2, NaN]")}})));
  std::string json = r.ToJson();
  EXPECT_NE(json.find("\"suite\":\"s\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"unexpected_samples\":[-2,\"NaN\"]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"observed_value\":\"NaN\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"kwargs\":{\"column\":\"x\",\"min\":0}"), std::string::npos) << json;
  EXPECT_NE(r.ToString().find("FAIL between(x)"), std::string::npos) << r.ToString();
}

// ---- per-row failures (quality gates) --------------------------------------------------------

TEST(SuiteRows, FailingRowsGivesMaskAndReasons) {
  auto s = Parse(R"(
name: s
expectations:
  - {type: not_null, column: id}
  - {type: between, column: amount, min: 0, name: amount_positive}
  - {type: unique, column: id}
  - {type: mean_between, column: amount, min: 0}
)");
  auto t = MakeTable({{"id", A(arrow::int64(), "[1, null, 3, 3]")}, {"amount", A(arrow::float64(), "[1, 2, -3, null]")}});
  auto batch = *t->CombineChunksToBatch();
  ASSERT_OK_AND_ASSIGN(auto f, s.FailingRows(batch));
  EXPECT_EQ(f.num_failed, 3);
  EXPECT_EQ(f.failed->ToString(), A(arrow::boolean(), "[false, true, true, true]")->ToString());
  EXPECT_TRUE(f.reasons->IsNull(0));
  EXPECT_EQ(f.reasons->GetString(1), "not_null(id)");
  EXPECT_EQ(f.reasons->GetString(2), "amount_positive; unique(id)");
  EXPECT_EQ(f.reasons->GetString(3), "unique(id)");
  ASSERT_OK_AND_ASSIGN(auto checker, s.MakeRowChecker(batch->schema()));
  EXPECT_EQ(checker->skipped_expectations(), std::vector<std::string>{"mean_between(amount)"});
  auto other = *MakeTable({{"id", A(arrow::int32(), "[1]")}})->CombineChunksToBatch();
  EXPECT_FALSE(checker->Check(other).ok());
}

// ---- tables --------------------------------------------------------------------------------

TEST(SuiteTable, ValidatesAVersionAndChecksReferences) {
  testing::TempDir dir;
  std::string path = dir.path() + "/facts";
  std::string ref_path = dir.path() + "/dims";
  ASSERT_OK_AND_ASSIGN(auto store, storage::MakeLocalStore(path));
  ASSERT_OK_AND_ASSIGN(auto ref_store, storage::MakeLocalStore(ref_path));
  auto write = [](std::shared_ptr<storage::ObjectStore> st, std::shared_ptr<arrow::Table> t) {
    ops::WriteOptions o;
    return ops::WriteTable(std::move(st), std::make_shared<arrow::TableBatchReader>(t), o);
  };
  ASSERT_OK(write(ref_store, MakeTable({{"key", A(arrow::int32(), "[1, 2, 3]")}})).status());
  ASSERT_OK(write(store, MakeTable({{"k", A(arrow::int64(), "[1, 2]")}, {"v", A(arrow::utf8(), R"(["a", "b"])")}})).status());
  ASSERT_OK(write(store, MakeTable({{"k", A(arrow::int64(), "[3, 4]")}, {"v", A(arrow::utf8(), R"(["c", "d"])")}})).status());
  std::ofstream(dir.path() + "/suite.yaml") << "name: facts\nexpectations:\n"
                                               "  - {type: exists_in, column: k, table: dims, table_column: key}\n"
                                               "  - {type: row_count_between, min: 1}\n"
                                               "  - {type: schema_equals, columns: {k: int64, v: string}}\n";
  ASSERT_OK_AND_ASSIGN(auto s, Suite::FromYamlFile(dir.path() + "/suite.yaml"));
  ASSERT_OK_AND_ASSIGN(auto v0, s.ValidateTable(store, 0));
  EXPECT_TRUE(v0.success) << v0.ToString();
  EXPECT_EQ(v0.row_count, 2);
  EXPECT_EQ(*v0.table_version, 0);
  ASSERT_OK_AND_ASSIGN(auto v1, s.ValidateTable(store));
  EXPECT_FALSE(v1.success);
  EXPECT_EQ(*v1.results[0].unexpected_count, 1);
  EXPECT_EQ(SamplesText(v1.results[0]), "4");
  EXPECT_TRUE(v1.results[2].success);

  auto missing = Suite::FromYamlString("name: x\nexpectations:\n  - {type: not_null, column: nope}\n", "m.yaml");
  ASSERT_OK(missing.status());
  auto err = missing->ValidateTable(store);
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.status().message().find("m.yaml:3"), std::string::npos) << err.status().message();
  EXPECT_NE(err.status().message().find("columns: k, v"), std::string::npos) << err.status().message();
}

/// Every kernel on random data (nulls, NaN, unicode, decimals, several batches): the report must
/// not depend on the number of threads or the morsel size. Run under ASan/UBSan in CI.
TEST(SuiteValidate, RandomDataIsIndependentOfThreadsAndMorsels) {
  auto s = Parse(R"(
name: all
expectations:
  - {type: not_null, column: i}
  - {type: unique, column: i}
  - {type: unique, column: s}
  - {type: unique, column: dec}
  - {type: compound_unique, columns: [i, s, f]}
  - {type: between, column: i, min: 0, max: 50}
  - {type: between, column: f, min: -1, max: 1, strict_min: true}
  - {type: between, column: s, min: "b", max: "x"}
  - {type: between, column: dec, min: 0, max: 5}
  - {type: in_set, column: s, values: [a, bb, "ü"]}
  - {type: not_in_set, column: i, values: [1, 2, 3]}
  - {type: regex, column: s, pattern: "^[a-z]+$"}
  - {type: not_regex, column: s, pattern: "b"}
  - {type: string_length_between, column: s, min: 1, max: 2}
  - {type: increasing, column: i}
  - {type: decreasing, column: f, strict: true}
  - {type: column_pair_less, column_a: i, column_b: f, or_equal: true}
  - {type: column_pair_equal, column_a: i, column_b: j}
  - {type: multicolumn_sum_equal, columns: [i, j], total: 40}
  - {type: multicolumn_sum_equal, columns: [i, f], total: 4.5}
  - {type: expression, expr: "i + j > 10 OR s IS NULL"}
  - {type: mean_between, column: f, min: 0}
  - {type: stdev_between, column: j, min: 0}
  - {type: sum_between, column: j, min: 0}
  - {type: min_between, column: i, min: 0}
  - {type: max_between, column: f, max: 3}
  - {type: median_between, column: j, min: 0}
  - {type: quantiles_between, column: i, quantiles: [0.1, 0.9], ranges: [[0, 10], [null, 50]]}
  - {type: distinct_count_between, column: s, min: 1}
  - {type: unique_proportion_between, column: j, min: 0.1}
  - {type: most_common_value_in_set, column: s, values: [a]}
  - {type: null_proportion_between, column: s, max: 0.5}
  - {type: row_count_between, min: 1}
)");
  std::mt19937_64 rng(7);
  const int n = 3000;
  arrow::Int64Builder ib;
  arrow::Int32Builder jb;
  arrow::DoubleBuilder fb;
  arrow::StringBuilder sb;
  arrow::Decimal128Builder db(arrow::decimal128(10, 2));
  const char* words[] = {"a", "bb", "ü", "日本", "", "xyz", "ab", "Zz"};
  for (int r = 0; r < n; ++r) {
    auto null = [&] { return rng() % 10 == 0; };
    ASSERT_OK(null() ? ib.AppendNull() : ib.Append(static_cast<int64_t>(rng() % 60) - 5));
    ASSERT_OK(null() ? jb.AppendNull() : jb.Append(static_cast<int32_t>(rng() % 45)));
    double f = static_cast<double>(rng() % 1000) / 250.0 - 2;
    if (rng() % 50 == 0) f = std::nan("");
    ASSERT_OK(null() ? fb.AppendNull() : fb.Append(f));
    ASSERT_OK(null() ? sb.AppendNull() : sb.Append(words[rng() % 8]));
    ASSERT_OK(null() ? db.AppendNull() : db.Append(arrow::Decimal128(static_cast<int64_t>(rng() % 1000))));
  }
  auto t = MakeTable({{"i", *ib.Finish()}, {"j", *jb.Finish()}, {"f", *fb.Finish()}, {"s", *sb.Finish()},
                      {"dec", *db.Finish()}},
                     700);
  ValidateOptions one = Small(1, 1 << 20);
  ASSERT_OK_AND_ASSIGN(auto base, s.Validate(t, one));
  for (const auto& r : base.results) EXPECT_TRUE(r.error.empty()) << r.name << ": " << r.error;
  for (auto [threads, morsel] : std::vector<std::pair<int, int64_t>>{{2, 1}, {3, 17}, {4, 256}, {2, 1000}}) {
    ASSERT_OK_AND_ASSIGN(auto r, s.Validate(t, Small(threads, morsel)));
    ASSERT_EQ(r.results.size(), base.results.size());
    for (size_t k = 0; k < r.results.size(); ++k) {
      const auto& a = r.results[k];
      const auto& b = base.results[k];
      SCOPED_TRACE(a.name + " threads " + std::to_string(threads) + " morsel " + std::to_string(morsel));
      EXPECT_EQ(a.success, b.success);
      EXPECT_EQ(a.element_count, b.element_count);
      EXPECT_EQ(a.unexpected_count, b.unexpected_count);
      if (a.observed_value.kind() == Value::Kind::kDouble && b.observed_value.kind() == Value::Kind::kDouble) {
        double x = a.observed_value.as_double(), y = b.observed_value.as_double();
        EXPECT_TRUE((std::isnan(x) && std::isnan(y)) || std::fabs(x - y) <= 1e-9 * std::max(1.0, std::fabs(y)));
      } else if (a.type != "quantiles_between") {
        EXPECT_EQ(a.observed_value.ToString(), b.observed_value.ToString());
      }
      bool ordered = a.type != "unique" && a.type != "compound_unique";
      if (ordered) {
        EXPECT_EQ(SamplesText(a), SamplesText(b));
      }
    }
  }
  ASSERT_OK_AND_ASSIGN(auto rows, s.FailingRows(*t->CombineChunksToBatch()));
  EXPECT_GT(rows.num_failed, 0);
}

TEST(SuiteBuild, FromSpecsAndCatalogue) {
  EXPECT_GE(ExpectationTypes().size(), 30u);
  for (const auto& t : ExpectationTypes()) EXPECT_EQ(FindExpectationType(t.name), &t);
  ASSERT_OK_AND_ASSIGN(auto s, Suite::Make("built", {ExpectationSpec::Make("between", {{"column", Value::String("x")},
                                                                                      {"max", Value::Int(1)}})}));
  ASSERT_OK_AND_ASSIGN(auto r, s.Validate(MakeTable({{"x", A(arrow::uint8(), "[0, 1, 2, 255]")}})));
  EXPECT_EQ(*r.results[0].unexpected_count, 2);
  auto bad = Suite::Make("b", {ExpectationSpec::Make("between", {{"column", Value::Int(3)}})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("expectation 1 (between)"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace strata::quality
