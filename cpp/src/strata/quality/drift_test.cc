#include "strata/quality/drift.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <arrow/api.h>

#include "strata/testing/gtest_util.h"

namespace strata::quality {
namespace {

std::shared_ptr<arrow::ChunkedArray> Doubles(const std::vector<double>& v, size_t chunk = 0, int null_every = 0) {
  arrow::ArrayVector chunks;
  if (chunk == 0) chunk = std::max<size_t>(v.size(), 1);
  for (size_t start = 0; start < v.size() || (start == 0 && v.empty()); start += chunk) {
    arrow::DoubleBuilder b;
    for (size_t i = start; i < std::min(v.size(), start + chunk); ++i) {
      if (null_every > 0 && i % null_every == 0) {
        (void)b.AppendNull();
      } else {
        (void)b.Append(v[i]);
      }
    }
    chunks.push_back(*b.Finish());
    if (v.empty()) break;
  }
  return std::make_shared<arrow::ChunkedArray>(chunks, arrow::float64());
}

std::shared_ptr<arrow::ChunkedArray> Strings(const std::vector<std::string>& v) {
  arrow::StringBuilder b;
  for (const auto& s : v) {
    if (s == "<null>") {
      (void)b.AppendNull();
    } else {
      (void)b.Append(s);
    }
  }
  return std::make_shared<arrow::ChunkedArray>(arrow::ArrayVector{*b.Finish()});
}

/// The brute-force bins: sort, numpy-"linear" quantiles, count with lower_bound.
QuantileBins BruteBins(std::vector<double> ref, std::vector<double> cur, int bins) {
  auto valid = [](std::vector<double>& v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  };
  valid(ref);
  valid(cur);
  std::sort(ref.begin(), ref.end());
  std::sort(cur.begin(), cur.end());
  QuantileBins out;
  const int64_t n = ref.size();
  for (int i = 1; i < bins; ++i) {
    const double q = static_cast<double>(i) / bins;
    const double virt = (n - 1) * q;
    const int64_t lo = static_cast<int64_t>(std::floor(virt));
    const int64_t hi = std::min(lo + 1, n - 1);
    const double t = virt - std::floor(virt), a = ref[lo], b = ref[hi];
    out.edges.push_back(a == b ? a : (t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t));
  }
  for (auto* side : {&ref, &cur}) {
    auto& counts = side == &ref ? out.reference : out.current;
    int64_t prev = 0;
    for (double e : out.edges) {
      int64_t below = std::lower_bound(side->begin(), side->end(), e) - side->begin();
      counts.push_back(below - prev);
      prev = below;
    }
    counts.push_back(static_cast<int64_t>(side->size()) - prev);
  }
  return out;
}

TEST(DriftTest, PsiFromCountsKnownValues) {
  EXPECT_NEAR(PsiFromCounts({50, 50}, {90, 10}), 0.4 * std::log(0.9 / 0.5) + (-0.4) * std::log(0.1 / 0.5), 1e-12);
  // An empty bin's proportion becomes epsilon (no renormalization).
  EXPECT_NEAR(PsiFromCounts({100, 0}, {50, 50}), (0.5 - 1) * std::log(0.5) + (0.5 - 1e-4) * std::log(0.5 / 1e-4), 1e-12);
  EXPECT_EQ(PsiFromCounts({3, 4, 5}, {30, 40, 50}), 0);
  EXPECT_NEAR(JsDivergenceFromCounts({10, 20, 30}, {30, 20, 10}), 0.1258145836939115, 1e-12);
  EXPECT_EQ(JsDivergenceFromCounts({1, 0}, {0, 1}), 1);
  EXPECT_EQ(JsDivergenceFromCounts({2, 3}, {4, 6}), 0);
}

TEST(DriftTest, SpecialFunctionsMatchScipy) {
  // scipy.stats.kstwobign.sf
  EXPECT_NEAR(KolmogorovSurvival(1.0), 0.26999967167735456, 1e-14);
  EXPECT_NEAR(KolmogorovSurvival(0.5), 0.9639452436648751, 1e-14);
  EXPECT_NEAR(KolmogorovSurvival(1.36), 0.049485876755377876, 1e-14);
  EXPECT_NEAR(KolmogorovSurvival(0.2), 0.999999999999495, 1e-14);
  EXPECT_NEAR(KolmogorovSurvival(3.0) / 3.045995948942526e-08, 1, 1e-10);
  EXPECT_EQ(KolmogorovSurvival(0), 1);
  // scipy.stats.chi2.sf
  EXPECT_NEAR(ChiSquareSurvival(3.84, 1), 0.05004352124870519, 1e-13);
  EXPECT_NEAR(ChiSquareSurvival(10, 5), 0.07523524614651217, 1e-13);
  EXPECT_NEAR(ChiSquareSurvival(100, 80), 0.064570368921133, 1e-12);
  EXPECT_NEAR(ChiSquareSurvival(0.5, 3), 0.9188914116546758, 1e-13);
  EXPECT_NEAR(ChiSquareSurvival(200, 2) / 3.7200759760208177e-44, 1, 1e-10);
  // scipy.stats.chi2_contingency([[10, 20, 30], [30, 20, 10]], correction=False)
  auto chi = ChiSquareFromCounts({10, 20, 30}, {30, 20, 10});
  EXPECT_NEAR(chi.statistic, 20.0, 1e-12);
  EXPECT_EQ(chi.dof, 2);
  EXPECT_NEAR(chi.pvalue, 4.539992976248486e-05, 1e-15);
  // Categories empty on both sides are left out.
  EXPECT_EQ(ChiSquareFromCounts({10, 0, 20, 30}, {30, 0, 20, 10}).dof, 2);
  EXPECT_EQ(ChiSquareFromCounts({10}, {30}).dof, 0);
}

class SimdLevels : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (internal::SetSimdLevelForTesting(GetParam()) != GetParam()) GTEST_SKIP() << "CPU lacks this SIMD level";
  }
  void TearDown() override { internal::SetSimdLevelForTesting(-1); }
};

INSTANTIATE_TEST_SUITE_P(DriftTest, SimdLevels, ::testing::Values(0, 1, 2));

TEST_P(SimdLevels, StreamingPsiBinsAreExact) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal(0, 1);
  std::cauchy_distribution<double> cauchy(0, 1);
  for (int dist = 0; dist < 6; ++dist) {
    for (int bins : {1, 2, 10, 37, 100}) {
      std::vector<double> ref, cur;
      const int n = dist == 5 ? 3000 : 200000;
      for (int i = 0; i < n; ++i) {
        double x;
        switch (dist) {
          case 0: x = normal(rng); break;
          case 1: x = static_cast<double>(rng() % 7); break;  // heavy ties
          case 2: x = cauchy(rng); break;                       // heavy tails
          case 3: x = i; break;                                 // sorted
          case 4: x = i % 100 == 0 ? std::nan("") : normal(rng) * 1e-300; break;
          default: x = 42; break;                               // constant
        }
        ref.push_back(x);
        cur.push_back(dist == 3 ? i * 1.5 : x + 0.3 * normal(rng));
      }
      SCOPED_TRACE("dist " + std::to_string(dist) + " bins " + std::to_string(bins));
      ASSERT_OK_AND_ASSIGN(auto r, Psi(*Doubles(ref, 70000), *Doubles(cur, 50000), bins));
      auto want = BruteBins(ref, cur, bins);
      EXPECT_EQ(r.bins.edges, want.edges);
      EXPECT_EQ(r.bins.reference, want.reference);
      EXPECT_EQ(r.bins.current, want.current);
      EXPECT_EQ(r.psi, PsiFromCounts(want.reference, want.current));
      if (dist == 4) {
        EXPECT_EQ(r.bins.reference_ignored, 2000);
      }
      if (dist == 0 || dist == 4) {  // nulls: null slots hold garbage the kernels must undo
        ASSERT_OK_AND_ASSIGN(auto rn, Psi(*Doubles(ref, 70000, 13), *Doubles(cur, 50000, 17), bins));
        std::vector<double> ref_kept, cur_kept;
        for (size_t i = 0; i < ref.size(); ++i) {
          if (i % 13 != 0) ref_kept.push_back(ref[i]);
        }
        for (size_t i = 0; i < cur.size(); ++i) {
          if (i % 17 != 0) cur_kept.push_back(cur[i]);
        }
        auto wn = BruteBins(ref_kept, cur_kept, bins);
        EXPECT_EQ(rn.bins.edges, wn.edges);
        EXPECT_EQ(rn.bins.reference, wn.reference);
        EXPECT_EQ(rn.bins.current, wn.current);
      }
    }
  }
}

TEST(DriftTest, PsiOfIdenticalDataIsZeroAndNullsAreIgnored) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(5, 2);
  std::vector<double> v;
  for (int i = 0; i < 100000; ++i) v.push_back(normal(rng));
  ASSERT_OK_AND_ASSIGN(auto same, Psi(*Doubles(v), *Doubles(v)));
  EXPECT_EQ(same.psi, 0);
  ASSERT_OK_AND_ASSIGN(auto with_nulls, Psi(*Doubles(v, 0, 10), *Doubles(v)));
  EXPECT_EQ(with_nulls.bins.reference_ignored, 10000);
  EXPECT_LT(with_nulls.psi, 1e-3);
  std::vector<double> shifted;
  for (double x : v) shifted.push_back(x + 2);
  ASSERT_OK_AND_ASSIGN(auto moved, Psi(*Doubles(v), *Doubles(shifted)));
  EXPECT_GT(moved.psi, 0.5);
}

TEST(DriftTest, EmptyInputsAreErrors) {
  EXPECT_TRUE(HasCode(Psi(*Doubles({}), *Doubles({1, 2})).status(), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(Psi(*Doubles({1, 2}), *Doubles({std::nan("")})).status(), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(Psi(*Doubles({1, 2}, 0, 1), *Doubles({1})).status(), ErrorCode::kInvalidArgument));  // all null
  EXPECT_TRUE(HasCode(Psi(*Doubles({1, 2}), *Doubles({1}), 0).status(), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(KolmogorovSmirnov(*Doubles({}), *Doubles({1})).status(), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(Psi(*Strings({"a"}), *Strings({"b"})).status(), ErrorCode::kSchemaMismatch));
  EXPECT_TRUE(HasCode(CountCategories(*Strings({"<null>"}), *Strings({"b"})).status(), ErrorCode::kInvalidArgument));
}

TEST(DriftTest, KolmogorovSmirnovMatchesBruteForce) {
  ASSERT_OK_AND_ASSIGN(auto apart, KolmogorovSmirnov(*Doubles({1, 2, 3, 4, 5}), *Doubles({6, 7, 8, 9, 10})));
  EXPECT_EQ(apart.statistic, 1);
  ASSERT_OK_AND_ASSIGN(auto same, KolmogorovSmirnov(*Doubles({1, 2, 3}), *Doubles({3, 2, 1})));
  EXPECT_EQ(same.statistic, 0);
  EXPECT_EQ(same.pvalue, 1);
  // -0.0 and 0.0 are the same value.
  ASSERT_OK_AND_ASSIGN(auto zeros, KolmogorovSmirnov(*Doubles({-0.0, 1}), *Doubles({0.0, 1})));
  EXPECT_EQ(zeros.statistic, 0);

  std::mt19937_64 rng(8);
  for (int round = 0; round < 4; ++round) {
    std::vector<double> a, b;
    for (int i = 0; i < 5000 + round * 1000; ++i) a.push_back(static_cast<double>(rng() % 50));
    for (int i = 0; i < 7000; ++i) b.push_back(static_cast<double>(rng() % 53) - round);
    // Brute force: the largest CDF gap over every value of both samples.
    std::vector<double> sa = a, sb = b;
    std::sort(sa.begin(), sa.end());
    std::sort(sb.begin(), sb.end());
    double d = 0;
    for (const auto* s : {&sa, &sb}) {
      for (double x : *s) {
        double fa = (std::upper_bound(sa.begin(), sa.end(), x) - sa.begin()) / static_cast<double>(sa.size());
        double fb = (std::upper_bound(sb.begin(), sb.end(), x) - sb.begin()) / static_cast<double>(sb.size());
        d = std::max(d, std::abs(fa - fb));
      }
    }
    ASSERT_OK_AND_ASSIGN(auto ks, KolmogorovSmirnov(*Doubles(a, 1234), *Doubles(b)));
    EXPECT_DOUBLE_EQ(ks.statistic, d);
    const double en = static_cast<double>(a.size()) * b.size() / (a.size() + b.size());
    EXPECT_DOUBLE_EQ(ks.pvalue, KolmogorovSurvival(d * std::sqrt(en)));
  }
  // Large inputs go through the radix sort.
  std::normal_distribution<double> normal;
  std::vector<double> big_a, big_b;
  for (int i = 0; i < 300000; ++i) {
    big_a.push_back(normal(rng));
    big_b.push_back(normal(rng) + 0.01);
  }
  ASSERT_OK_AND_ASSIGN(auto big, KolmogorovSmirnov(*Doubles(big_a, 100000), *Doubles(big_b)));
  std::sort(big_a.begin(), big_a.end());
  std::sort(big_b.begin(), big_b.end());
  double d = 0;
  for (double x : big_a) {
    double fa = (std::upper_bound(big_a.begin(), big_a.end(), x) - big_a.begin()) / 300000.0;
    double fb = (std::upper_bound(big_b.begin(), big_b.end(), x) - big_b.begin()) / 300000.0;
    d = std::max(d, std::abs(fa - fb));
  }
  for (double x : big_b) {
    double fa = (std::upper_bound(big_a.begin(), big_a.end(), x) - big_a.begin()) / 300000.0;
    double fb = (std::upper_bound(big_b.begin(), big_b.end(), x) - big_b.begin()) / 300000.0;
    d = std::max(d, std::abs(fa - fb));
  }
  EXPECT_DOUBLE_EQ(big.statistic, d);
}

TEST(DriftTest, CategoryCounts) {
  ASSERT_OK_AND_ASSIGN(auto c, CountCategories(*Strings({"b", "a", "<null>", "b", "ü"}), *Strings({"c", "a", "a"})));
  EXPECT_EQ(c.categories, (std::vector<std::string>{"a", "b", "c", "ü"}));
  EXPECT_EQ(c.reference, (std::vector<int64_t>{1, 2, 0, 1}));
  EXPECT_EQ(c.current, (std::vector<int64_t>{2, 0, 1, 0}));
  EXPECT_EQ(c.reference_ignored, 1);

  arrow::BooleanBuilder b1, b2;
  (void)b1.AppendValues(std::vector<bool>{true, true, false});
  (void)b2.AppendValues(std::vector<bool>{false, false});
  (void)b2.AppendNull();
  arrow::ChunkedArray r({*b1.Finish()}), cur({*b2.Finish()});
  ASSERT_OK_AND_ASSIGN(auto bc, CountCategories(r, cur));
  EXPECT_EQ(bc.categories, (std::vector<std::string>{"false", "true"}));
  EXPECT_EQ(bc.reference, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(bc.current, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(bc.current_ignored, 1);

  arrow::Int32Builder i1;
  (void)i1.AppendValues({3, -1, 3});
  arrow::ChunkedArray ints({*i1.Finish()});
  ASSERT_OK_AND_ASSIGN(auto ic, CountCategories(ints, ints));
  EXPECT_EQ(ic.categories, (std::vector<std::string>{"-1", "3"}));
  EXPECT_TRUE(HasCode(CountCategories(ints, *Strings({"x"})).status(), ErrorCode::kSchemaMismatch));
  EXPECT_TRUE(HasCode(CountCategories(*Doubles({1.5}), *Doubles({1.5})).status(), ErrorCode::kSchemaMismatch));
}

std::shared_ptr<arrow::RecordBatchReader> Batches(std::shared_ptr<arrow::Schema> schema, arrow::ArrayVector cols,
                                                  int64_t rows) {
  return *arrow::RecordBatchReader::Make({arrow::RecordBatch::Make(schema, rows, std::move(cols))}, schema);
}

TEST(DriftTest, ReportAlertsAndSkips) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  const int n = 50000;
  arrow::DoubleBuilder x_ref, x_cur, y_ref, y_cur;
  arrow::StringBuilder s_ref, s_cur;
  arrow::Int64Builder only_ref;
  arrow::ListBuilder lb(arrow::default_memory_pool(), std::make_shared<arrow::Int64Builder>());
  for (int i = 0; i < n; ++i) {
    (void)x_ref.Append(normal(rng));
    (void)x_cur.Append(normal(rng) + 1.0);  // drifted
    (void)y_ref.Append(normal(rng));
    (void)y_cur.Append(normal(rng));  // not drifted
    (void)s_ref.Append(i % 2 ? "a" : "b");
    (void)s_cur.Append(i % 10 ? "a" : "b");  // drifted
    (void)only_ref.Append(i);
    (void)lb.AppendNull();
  }
  std::shared_ptr<arrow::Array> lists = *lb.Finish();
  auto ref_schema = arrow::schema({arrow::field("x", arrow::float64()), arrow::field("y", arrow::float64()),
                                   arrow::field("s", arrow::utf8()), arrow::field("only_ref", arrow::int64()),
                                   arrow::field("l", lists->type())});
  auto cur_schema = arrow::schema({arrow::field("x", arrow::float64()), arrow::field("y", arrow::float64()),
                                   arrow::field("s", arrow::utf8()), arrow::field("l", lists->type())});
  auto ref = Batches(ref_schema, {*x_ref.Finish(), *y_ref.Finish(), *s_ref.Finish(), *only_ref.Finish(), lists}, n);
  auto cur = Batches(cur_schema, {*x_cur.Finish(), *y_cur.Finish(), *s_cur.Finish(), lists}, n);
  DriftOptions options;
  options.ks_pvalue_threshold = 1e-4;  // y is undrifted: a 5% threshold would alert 1 time in 20
  ASSERT_OK_AND_ASSIGN(auto report, Drift(*ref, *cur, options));
  ASSERT_EQ(report.columns.size(), 5u);
  const auto& x = report.columns[0];
  EXPECT_EQ(x.kind, "numeric");
  EXPECT_GT(*x.psi, 0.2);
  EXPECT_LT(x.ks->pvalue, 1e-10);
  EXPECT_EQ(x.reference_count, n);
  EXPECT_EQ(x.alerts.size(), 3u);  // psi, ks, js
  const auto& y = report.columns[1];
  EXPECT_LT(*y.psi, 0.01);
  EXPECT_TRUE(y.alerts.empty()) << report.ToJson();
  const auto& s = report.columns[2];
  EXPECT_EQ(s.kind, "categorical");
  EXPECT_EQ(s.chi2->dof, 1);
  EXPECT_FALSE(s.ks.has_value());
  EXPECT_GT(*s.psi, 0.2);
  EXPECT_EQ(report.columns[3].skipped, "only in the reference");
  EXPECT_TRUE(report.columns[4].skipped.find("unsupported type") == 0) << report.columns[4].skipped;
  EXPECT_TRUE(report.has_alerts());
  EXPECT_NE(report.ToJson().find("\"has_alerts\":true"), std::string::npos);

}

TEST(DriftTest, StreamingAndSortedPathsAgreeInReports) {
  std::mt19937_64 rng(21);
  std::lognormal_distribution<double> logn(0, 1);
  const int n = 120000;
  arrow::DoubleBuilder a, b;
  std::vector<double> av, bv;
  for (int i = 0; i < n; ++i) {
    av.push_back(logn(rng));
    bv.push_back(logn(rng) * 1.1);
  }
  (void)a.AppendValues(av);
  (void)b.AppendValues(bv);
  std::shared_ptr<arrow::Array> aa = *a.Finish(), ba = *b.Finish();
  auto schema = arrow::schema({arrow::field("v", arrow::float64())});
  DriftOptions all, psi_only;
  psi_only.metrics = {"psi", "js"};
  auto r1 = Batches(schema, {aa}, n), c1 = Batches(schema, {ba}, n);
  auto r2 = Batches(schema, {aa}, n), c2 = Batches(schema, {ba}, n);
  ASSERT_OK_AND_ASSIGN(auto sorted, Drift(*r1, *c1, all));
  ASSERT_OK_AND_ASSIGN(auto streaming, Drift(*r2, *c2, psi_only));
  EXPECT_EQ(*sorted.columns[0].psi, *streaming.columns[0].psi);
  EXPECT_EQ(*sorted.columns[0].js, *streaming.columns[0].js);
  EXPECT_FALSE(streaming.columns[0].ks.has_value());

  DriftOptions bad;
  bad.metrics = {"wasserstein"};
  auto r3 = Batches(schema, {aa}, n), c3 = Batches(schema, {ba}, n);
  EXPECT_TRUE(HasCode(Drift(*r3, *c3, bad).status(), ErrorCode::kInvalidArgument));
  DriftOptions missing;
  missing.columns = {"nope"};
  auto r4 = Batches(schema, {aa}, n), c4 = Batches(schema, {ba}, n);
  EXPECT_TRUE(HasCode(Drift(*r4, *c4, missing).status(), ErrorCode::kInvalidArgument));
}

}  // namespace
}  // namespace strata::quality
