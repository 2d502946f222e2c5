#include "strata/quality/sketches.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <unordered_set>

#include "strata/testing/gtest_util.h"

namespace strata::quality {
namespace {

// ---------------------------------------------------------------------------------------------
// HyperLogLog
// ---------------------------------------------------------------------------------------------

TEST(HyperLogLogTest, ExactWhileSmall) {
  HyperLogLog hll;
  for (int rep = 0; rep < 3; ++rep) {
    for (int64_t i = 0; i < 2000; ++i) hll.Add(HashInt64(i));
  }
  EXPECT_TRUE(hll.exact());
  EXPECT_EQ(hll.Estimate(), 2000);
  HyperLogLog empty;
  EXPECT_EQ(empty.Estimate(), 0);
}

TEST(HyperLogLogTest, RelativeErrorWithinBound) {
  // Standard error 1.04/sqrt(2^14) = 0.81%; allow 4% (about 5 standard errors).
  std::mt19937_64 rng(7);
  for (int64_t n : {5000, 20000, 100000, 1000000, 3000000}) {
    HyperLogLog hll;
    for (int64_t i = 0; i < n; ++i) hll.Add(HashInt64(static_cast<int64_t>(rng())));
    EXPECT_FALSE(hll.exact());
    EXPECT_NEAR(hll.Estimate() / n, 1.0, 0.04) << "n=" << n;
  }
}

TEST(HyperLogLogTest, StringsAndDoubles) {
  HyperLogLog s, d;
  for (int i = 0; i < 50000; ++i) {
    s.Add(HashBytes("value-" + std::to_string(i % 30000)));
    d.Add(HashDouble(i % 40000 * 0.5));
  }
  EXPECT_NEAR(s.Estimate() / 30000, 1.0, 0.04);
  EXPECT_NEAR(d.Estimate() / 40000, 1.0, 0.04);
  EXPECT_EQ(HashDouble(0.0), HashDouble(-0.0));
}

TEST(HyperLogLogTest, MergeIsUnion) {
  HyperLogLog a, b, all;
  for (int64_t i = 0; i < 600000; ++i) {
    a.Add(HashInt64(i));
    all.Add(HashInt64(i));
  }
  for (int64_t i = 300000; i < 900000; ++i) {
    b.Add(HashInt64(i));
    all.Add(HashInt64(i));
  }
  ASSERT_OK(a.Merge(b));
  EXPECT_EQ(a.Serialize(), all.Serialize());  // registers are a max: merge is exact
  EXPECT_NEAR(a.Estimate() / 900000, 1.0, 0.04);

  // Small (exact) sketches merge exactly, and an exact one merges into a dense one.
  HyperLogLog x, y;
  for (int64_t i = 0; i < 300; ++i) x.Add(HashInt64(i));
  for (int64_t i = 200; i < 700; ++i) y.Add(HashInt64(i));
  ASSERT_OK(x.Merge(y));
  EXPECT_TRUE(x.exact());
  EXPECT_EQ(x.Estimate(), 700);
  ASSERT_OK(all.Merge(x));
  EXPECT_NEAR(all.Estimate() / 900000, 1.0, 0.04);

  HyperLogLog other(12);
  EXPECT_TRUE(HasCode(a.Merge(other), ErrorCode::kInvalidArgument));
}

TEST(HyperLogLogTest, SerializationRoundTrip) {
  for (int64_t n : {0, 10, 1500, 100000}) {
    HyperLogLog hll;
    for (int64_t i = 0; i < n; ++i) hll.Add(HashInt64(i * 7919));
    std::string bytes = hll.Serialize();
    ASSERT_OK_AND_ASSIGN(auto back, HyperLogLog::Deserialize(bytes));
    EXPECT_EQ(back.Serialize(), bytes);
    EXPECT_EQ(back.Estimate(), hll.Estimate());
    EXPECT_EQ(back.exact(), hll.exact());
  }
  HyperLogLog hll;
  for (int64_t i = 0; i < 100000; ++i) hll.Add(HashInt64(i));
  std::string bytes = hll.Serialize();
  EXPECT_LT(bytes.size(), 13000u);  // six bits per register
  EXPECT_FALSE(HyperLogLog::Deserialize(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(HyperLogLog::Deserialize("").ok());
  EXPECT_FALSE(HyperLogLog::Deserialize("Hxyz").ok());
}

// ---------------------------------------------------------------------------------------------
// KLL
// ---------------------------------------------------------------------------------------------

/// Largest |estimated rank - true rank| (normalized) of the sketch's quantiles over a grid.
double MaxRankError(const KllSketch& sketch, std::vector<double> truth) {
  std::sort(truth.begin(), truth.end());
  const double n = static_cast<double>(truth.size());
  double worst = 0;
  for (int i = 1; i < 100; ++i) {
    const double q = i / 100.0;
    const double v = sketch.Quantile(q);
    // The true normalized rank range of v: [#<v, #<=v] / n.
    const double lo = (std::lower_bound(truth.begin(), truth.end(), v) - truth.begin()) / n;
    const double hi = (std::upper_bound(truth.begin(), truth.end(), v) - truth.begin()) / n;
    const double err = q < lo ? lo - q : (q > hi ? q - hi : 0);
    worst = std::max(worst, err);
  }
  return worst;
}

TEST(KllSketchTest, ExactWhileSmall) {
  KllSketch s;
  std::vector<double> values;
  for (int i = 0; i < 150; ++i) values.push_back((i * 37) % 150);
  for (double v : values) s.Add(v);
  EXPECT_EQ(s.n(), 150);
  EXPECT_EQ(s.num_retained(), 150u);
  EXPECT_EQ(s.Quantile(0), 0);
  EXPECT_EQ(s.Quantile(1), 149);
  EXPECT_EQ(s.Quantile(0.5), 74);  // smallest value with cumulative weight >= 75
  auto f = s.FractionsBelow({0, 10, 149, 150, -1});
  EXPECT_DOUBLE_EQ(f[0], 0);
  EXPECT_DOUBLE_EQ(f[1], 10 / 150.0);
  EXPECT_DOUBLE_EQ(f[2], 149 / 150.0);
  EXPECT_DOUBLE_EQ(f[3], 1);
  EXPECT_DOUBLE_EQ(f[4], 0);
  KllSketch empty;
  EXPECT_TRUE(std::isnan(empty.Quantile(0.5)));
}

TEST(KllSketchTest, RankErrorWithinBound) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal(10, 3);
  std::uniform_real_distribution<double> uniform(-1e6, 1e6);
  for (int dist = 0; dist < 3; ++dist) {
    for (int64_t n : {10000, 300000, 2000000}) {
      KllSketch s(KllSketch::kDefaultK, 1234 + dist);
      std::vector<double> truth;
      truth.reserve(n);
      for (int64_t i = 0; i < n; ++i) {
        double v = dist == 0 ? normal(rng) : dist == 1 ? uniform(rng) : static_cast<double>(i);  // 2: sorted
        truth.push_back(v);
        s.Add(v);
      }
      EXPECT_EQ(s.n(), n);
      EXPECT_LT(s.num_retained(), 1000u);
      EXPECT_EQ(s.min(), *std::min_element(truth.begin(), truth.end()));
      EXPECT_EQ(s.max(), *std::max_element(truth.begin(), truth.end()));
      EXPECT_LT(MaxRankError(s, truth), 0.02) << "dist " << dist << " n " << n;
    }
  }
}

TEST(KllSketchTest, MergeIsUnion) {
  std::mt19937_64 rng(5);
  std::exponential_distribution<double> expo(0.5);
  std::vector<double> truth;
  KllSketch merged(KllSketch::kDefaultK, 1);
  // Sketches of very different sizes (so sampler levels differ), merged in both directions.
  for (int part = 0; part < 12; ++part) {
    KllSketch s(KllSketch::kDefaultK, 100 + part);
    int64_t n = part % 3 == 0 ? 400000 : (part % 3 == 1 ? 777 : 31000);
    for (int64_t i = 0; i < n; ++i) {
      double v = expo(rng) + part;
      truth.push_back(v);
      s.Add(v);
    }
    if (part % 2 == 0) {
      ASSERT_OK(merged.Merge(s));
    } else {
      ASSERT_OK(s.Merge(merged));
      merged = s;
    }
  }
  EXPECT_EQ(merged.n(), static_cast<int64_t>(truth.size()));
  EXPECT_EQ(merged.min(), *std::min_element(truth.begin(), truth.end()));
  EXPECT_EQ(merged.max(), *std::max_element(truth.begin(), truth.end()));
  EXPECT_LT(MaxRankError(merged, truth), 0.025);
  KllSketch other_k(100);
  EXPECT_TRUE(HasCode(merged.Merge(other_k), ErrorCode::kInvalidArgument));
}

TEST(KllSketchTest, SerializationRoundTrip) {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal;
  for (int64_t n : {0, 5, 1000, 123457}) {
    KllSketch s;
    for (int64_t i = 0; i < n; ++i) s.Add(normal(rng));
    std::string bytes = s.Serialize();
    ASSERT_OK_AND_ASSIGN(auto back, KllSketch::Deserialize(bytes));
    EXPECT_EQ(back.Serialize(), bytes);
    EXPECT_EQ(back.n(), n);
    for (double q : {0.0, 0.1, 0.5, 0.99, 1.0}) {
      double a = s.Quantile(q), b = back.Quantile(q);
      if (n == 0) {
        EXPECT_TRUE(std::isnan(a) && std::isnan(b));
      } else {
        EXPECT_EQ(a, b);
      }
    }
    // A deserialized sketch keeps working.
    for (int i = 0; i < 1000; ++i) back.Add(1.0);
    EXPECT_EQ(back.n(), n + 1000);
  }
  KllSketch s;
  for (int i = 0; i < 10000; ++i) s.Add(i);
  std::string bytes = s.Serialize();
  EXPECT_FALSE(KllSketch::Deserialize(bytes.substr(0, bytes.size() - 8)).ok());
  std::string bad_n = bytes;
  bad_n[6] ^= 1;  // n no longer matches the weights
  EXPECT_FALSE(KllSketch::Deserialize(bad_n).ok());
}

// ---------------------------------------------------------------------------------------------
// Frequent items
// ---------------------------------------------------------------------------------------------

TEST(FrequentItemsTest, ExactForLowCardinality) {
  FrequentItems f;
  std::map<int64_t, int64_t> truth;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 100000; ++i) {
    int64_t v = static_cast<int64_t>(rng() % 1000);
    ++truth[v];
    f.Add(static_cast<uint64_t>(v));
  }
  EXPECT_TRUE(f.exact());
  auto top = f.Top(2000);
  ASSERT_EQ(top.size(), truth.size());
  for (const auto& it : top) EXPECT_EQ(it.count, truth[static_cast<int64_t>(it.key)]);
  for (size_t i = 1; i < top.size(); ++i) EXPECT_GE(top[i - 1].count, top[i].count);
}

TEST(FrequentItemsTest, HeavyHittersWithErrorBound) {
  // Zipf-like: value v has weight 1/(v+1); plus a long tail of unique strings.
  std::mt19937_64 rng(11);
  std::vector<double> w;
  for (int v = 0; v < 5000; ++v) w.push_back(1.0 / (v + 1));
  std::discrete_distribution<int> zipf(w.begin(), w.end());
  FrequentItems a, b;
  std::map<std::string, int64_t> truth;
  int64_t n = 0;
  for (int i = 0; i < 400000; ++i) {
    std::string s = i % 4 == 0 ? "unique-" + std::to_string(i) : "v" + std::to_string(zipf(rng));
    ++truth[s];
    ++n;
    (i % 2 ? a : b).Add(HashBytes(s), s);
  }
  ASSERT_OK(a.Merge(b));
  EXPECT_FALSE(a.exact());
  EXPECT_LE(a.max_error(), n / (a.max_items() / 4 + 1) * 2);  // one bound per input summary
  auto top = a.Top(20);
  ASSERT_EQ(top.size(), 20u);
  std::vector<std::pair<int64_t, std::string>> exact;
  for (const auto& [k, c] : truth) exact.push_back({c, k});
  std::sort(exact.rbegin(), exact.rend());
  for (size_t i = 0; i < 10; ++i) {
    const auto& it = top[i];
    EXPECT_LE(it.count, truth[it.payload]);
    EXPECT_GE(it.count + a.max_error(), truth[it.payload]);
  }
  // The five most frequent values are reported, in order.
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(top[i].payload, exact[i].second);
}

TEST(FrequentItemsTest, SerializationRoundTrip) {
  FrequentItems f(64);
  for (int i = 0; i < 10000; ++i) f.Add(HashInt64(i % 300), "p" + std::to_string(i % 300));
  std::string bytes = f.Serialize();
  ASSERT_OK_AND_ASSIGN(auto back, FrequentItems::Deserialize(bytes));
  EXPECT_EQ(back.Serialize(), bytes);
  EXPECT_EQ(back.max_error(), f.max_error());
  EXPECT_EQ(back.exact(), f.exact());
  auto t1 = f.Top(10), t2 = back.Top(10);
  ASSERT_EQ(t1.size(), t2.size());
  for (size_t i = 0; i < t1.size(); ++i) {
    EXPECT_EQ(t1[i].key, t2[i].key);
    EXPECT_EQ(t1[i].count, t2[i].count);
    EXPECT_EQ(t1[i].payload, t2[i].payload);
  }
  EXPECT_FALSE(FrequentItems::Deserialize(bytes.substr(1)).ok());
  FrequentItems other(32);
  EXPECT_TRUE(HasCode(f.Merge(other), ErrorCode::kInvalidArgument));
}

}  // namespace
}  // namespace strata::quality
