// The conformance suite every OnlineStore implementation runs (RocksDB, Redis).

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <thread>

#include "strata/online/online_store.h"
#include "strata/online/online_test_util.h"
#include "strata/online/redis_test_server.h"
#include "strata/testing/gtest_util.h"

namespace strata::online {
namespace {

using RedisTestServer = testing::RedisTestServer;

/// Stops the binary's shared redis-server after the last test.
class RedisEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { RedisTestServer::StopShared(); }
};
[[maybe_unused]] ::testing::Environment* const kRedisEnvironment =
    ::testing::AddGlobalTestEnvironment(new RedisEnvironment);

/// A key prefix no other test (or test process) uses, so tests share one server safely.
std::string UniquePrefix() {
  static std::atomic<int> counter{0};
  return "test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ":";
}

/// One implementation under test: the config of a fresh, empty store (opening it twice opens
/// the same data), or a reason to skip.
struct StoreFactory {
  std::string name;
  std::function<OnlineStoreConfig(const std::string& scratch)> config;
  std::function<std::string()> skip_reason = [] { return std::string(); };
};
void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

class OnlineStoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    std::string reason = GetParam().skip_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    config_ = GetParam().config(dir_.path());
    ASSERT_OK_AND_ASSIGN(store_, OpenOnlineStore(config_));
  }
  void TearDown() override {
    if (store_) EXPECT_OK(store_->Close());
  }
  void Reopen() {
    ASSERT_OK(store_->Close());
    store_.reset();
    ASSERT_OK_AND_ASSIGN(store_, OpenOnlineStore(config_));
  }
  Result<ReadResult> Read(std::string_view view, const std::vector<std::string>& keys,
                          const std::vector<std::string>& features, ReadOptions options = {}) {
    return ReadKeys(store_.get(), view, keys, features, options);
  }

  strata::testing::TempDir dir_;
  OnlineStoreConfig config_;
  std::unique_ptr<OnlineStore> store_;
};

const std::vector<std::string> kAllTypes = {"n", "b", "i", "d", "s", "fl"};

TEST_P(OnlineStoreConformance, RoundTripsEveryValueType) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::vector<FeatureValue>> rows = {
      {FeatureValue{}, true, int64_t{0}, 0.5, std::string("text"), std::vector<float>{1.5f, -2.f}},
      {FeatureValue{}, false, std::numeric_limits<int64_t>::min(), -0.0, std::string(),
       std::vector<float>{}},
      {FeatureValue{}, true, std::numeric_limits<int64_t>::max(), nan,
       std::string("bin\0ary\xff\xfe \xc3\xbc", 12), std::vector<float>(300, 0.25f)},
      {FeatureValue{}, false, int64_t{-1}, std::numeric_limits<double>::infinity(),
       std::string(5000, 'x'), std::vector<float>{std::numeric_limits<float>::lowest()}},
  };
  RowBatch batch{kAllTypes, {}};
  std::vector<std::string> keys;
  for (size_t i = 0; i < rows.size(); ++i) {
    keys.push_back(DriverKey(static_cast<int64_t>(i)));
    batch.rows.push_back(MakeRow(keys.back(), 1000 + static_cast<int64_t>(i), std::nullopt, rows[i]));
  }
  ASSERT_OK(store_->WriteBatch("driver_stats", batch));
  ASSERT_OK_AND_ASSIGN(auto r, Read("driver_stats", keys, kAllTypes));
  ASSERT_EQ(r.num_keys(), rows.size());
  ASSERT_EQ(r.num_features, kAllTypes.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    EXPECT_EQ(r.statuses[k], FeatureStatus::kPresent);
    EXPECT_EQ(r.event_ts[k], 1000 + static_cast<int64_t>(k));
    for (size_t f = 0; f < kAllTypes.size(); ++f) {
      EXPECT_TRUE(SameOptional(r.value(k, f), rows[k][f])) << "key " << k << " feature " << kAllTypes[f];
      EXPECT_EQ(r.feature_status(k, f), FeatureStatus::kPresent);
    }
  }
  // Values keep their types: the server renders JSON from them.
  EXPECT_EQ(TypeOf(*r.value(0, 3)), ValueType::kDouble);
  EXPECT_EQ(TypeOf(*r.value(0, 5)), ValueType::kFloatList);
}

TEST_P(OnlineStoreConformance, MissingKeysViewsAndFeatures) {
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"a", "b"}, {MakeRow(DriverKey(1), 10, 1, {int64_t{1}, 2.0})}}));
  ASSERT_OK_AND_ASSIGN(auto r, Read("v", {DriverKey(2), DriverKey(1), DriverKey(3)}, {"b", "zz", "a"}));
  EXPECT_EQ(r.statuses, (std::vector<FeatureStatus>{FeatureStatus::kNotFound, FeatureStatus::kPresent,
                                                    FeatureStatus::kNotFound}));
  EXPECT_EQ(r.event_ts, (std::vector<int64_t>{0, 10, 0}));
  for (size_t f = 0; f < 3; ++f) {
    EXPECT_FALSE(r.value(0, f).has_value());
    EXPECT_FALSE(r.value(2, f).has_value());
    EXPECT_EQ(r.feature_status(0, f), FeatureStatus::kNotFound);
  }
  EXPECT_TRUE(SameOptional(r.value(1, 0), 2.0));
  EXPECT_FALSE(r.value(1, 1).has_value());  // the row lacks "zz"
  EXPECT_EQ(r.feature_status(1, 1), FeatureStatus::kNotFound);
  EXPECT_TRUE(SameOptional(r.value(1, 2), int64_t{1}));

  ASSERT_OK_AND_ASSIGN(r, Read("no_such_view", {DriverKey(1)}, {"a"}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kNotFound);
  // The same entity key under another view, and another join key with the same value.
  ASSERT_OK_AND_ASSIGN(r, Read("v2", {DriverKey(1)}, {"a"}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kNotFound);
  ASSERT_OK_AND_ASSIGN(r, Read("v", {EncodeEntityKey("rider_id", int64_t{1})}, {"a"}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kNotFound);
  ASSERT_OK_AND_ASSIGN(r, Read("v", {EncodeEntityKey("driver_id", "1")}, {"a"}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kNotFound);
}

TEST_P(OnlineStoreConformance, EmptyInputs) {
  ASSERT_OK(store_->WriteBatch("v", RowBatch{}));
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"a"}, {}}));
  ASSERT_OK_AND_ASSIGN(auto r, Read("v", {}, {"a"}));
  EXPECT_EQ(r.num_keys(), 0u);
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"a"}, {MakeRow(DriverKey(1), 5, {}, {int64_t{7}})}}));
  ASSERT_OK_AND_ASSIGN(r, Read("v", {DriverKey(1)}, {}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kPresent);
  EXPECT_EQ(r.event_ts[0], 5);
  EXPECT_TRUE(r.values.empty());
}

TEST_P(OnlineStoreConformance, ThousandsOfKeysPerBatch) {
  constexpr int kN = 5000;
  RowBatch batch{{"id", "name", "emb"}, {}};
  for (int i = 0; i < kN; ++i) {
    batch.rows.push_back(MakeRow(DriverKey(i), 1'700'000'000'000'000 + i, std::nullopt,
                                 {int64_t{i}, "name-" + std::to_string(i),
                                  std::vector<float>{static_cast<float>(i), 0.5f}}));
  }
  ASSERT_OK(store_->WriteBatch("big", batch));
  // Read them back interleaved with 1000 missing keys, in a shuffled order.
  std::vector<int> ids;
  for (int i = 0; i < kN + 1000; ++i) ids.push_back(i % 6 == 5 ? -1 - i : i - i / 6);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(7));
  std::vector<std::string> keys;
  for (int id : ids) keys.push_back(DriverKey(id));
  ASSERT_OK_AND_ASSIGN(auto r, Read("big", keys, {"name", "id", "emb"}));
  int present = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    int id = ids[k];
    if (id < 0) {
      EXPECT_EQ(r.statuses[k], FeatureStatus::kNotFound) << id;
      continue;
    }
    ++present;
    ASSERT_EQ(r.statuses[k], FeatureStatus::kPresent) << id;
    EXPECT_EQ(r.event_ts[k], 1'700'000'000'000'000 + id);
    EXPECT_TRUE(SameOptional(r.value(k, 0), "name-" + std::to_string(id)));
    EXPECT_TRUE(SameOptional(r.value(k, 1), int64_t{id}));
    EXPECT_TRUE(SameOptional(r.value(k, 2), std::vector<float>{static_cast<float>(id), 0.5f}));
  }
  EXPECT_EQ(present, kN);
}

TEST_P(OnlineStoreConformance, NewerWinsOlderIsIgnored) {
  const std::string k = DriverKey(42);
  auto write = [&](int64_t ts, std::optional<int64_t> created, int64_t v) {
    return store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(k, ts, created, {v})}});
  };
  auto current = [&]() -> std::pair<int64_t, int64_t> {
    auto r = Read("v", {k}, {"x"});
    if (!r.ok() || !r->value(0, 0)) return {-1, -1};
    return {r->event_ts[0], std::get<int64_t>(*r->value(0, 0))};
  };
  ASSERT_OK(write(100, std::nullopt, 1));
  EXPECT_EQ(current(), std::make_pair(int64_t{100}, int64_t{1}));
  ASSERT_OK(write(200, std::nullopt, 2));  // newer
  EXPECT_EQ(current(), std::make_pair(int64_t{200}, int64_t{2}));
  ASSERT_OK(write(150, 999, 3));  // older event time, whatever its created time
  EXPECT_EQ(current(), std::make_pair(int64_t{200}, int64_t{2}));
  ASSERT_OK(write(-5, std::nullopt, 4));
  EXPECT_EQ(current(), std::make_pair(int64_t{200}, int64_t{2}));
  ASSERT_OK(write(200, std::nullopt, 5));  // equal version: a replay replaces
  EXPECT_EQ(current(), std::make_pair(int64_t{200}, int64_t{5}));
  ASSERT_OK(write(200, std::nullopt, 5));  // an identical replay changes nothing
  EXPECT_EQ(current(), std::make_pair(int64_t{200}, int64_t{5}));
}

TEST_P(OnlineStoreConformance, TiesOnEventTimeAreBrokenByCreatedTime) {
  const std::string k = DriverKey(7);
  auto write = [&](std::optional<int64_t> created, std::string v) {
    return store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(k, 100, created, {std::move(v)})}});
  };
  auto current = [&]() {
    auto r = Read("v", {k}, {"x"});
    return r.ok() && r->value(0, 0) ? std::get<std::string>(*r->value(0, 0)) : "<none>";
  };
  ASSERT_OK(write(10, "c10"));
  ASSERT_OK(write(std::nullopt, "absent"));  // absent created time is older than any
  EXPECT_EQ(current(), "c10");
  ASSERT_OK(write(5, "c5"));
  EXPECT_EQ(current(), "c10");
  ASSERT_OK(write(11, "c11"));
  EXPECT_EQ(current(), "c11");
  ASSERT_OK(write(11, "c11-again"));  // equal (event, created): the later write wins
  EXPECT_EQ(current(), "c11-again");
  ASSERT_OK(write(std::numeric_limits<int64_t>::min() + 1, "min"));
  EXPECT_EQ(current(), "c11-again");
  // A negative created time is still newer than an absent one.
  const std::string k2 = DriverKey(8);
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(k2, 1, std::nullopt, {std::string("a")})}}));
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(k2, 1, -3, {std::string("b")})}}));
  ASSERT_OK_AND_ASSIGN(auto r, Read("v", {k2}, {"x"}));
  EXPECT_TRUE(SameOptional(r.value(0, 0), std::string("b")));
}

TEST_P(OnlineStoreConformance, DuplicateKeysInOneBatchConverge) {
  RowBatch batch{{"x"}, {}};
  batch.rows.push_back(MakeRow(DriverKey(1), 5, 1, {int64_t{1}}));
  batch.rows.push_back(MakeRow(DriverKey(1), 9, 1, {int64_t{2}}));  // newest
  batch.rows.push_back(MakeRow(DriverKey(1), 7, 8, {int64_t{3}}));
  batch.rows.push_back(MakeRow(DriverKey(2), 3, 1, {int64_t{4}}));
  batch.rows.push_back(MakeRow(DriverKey(2), 3, 1, {int64_t{5}}));  // tie: later wins
  ASSERT_OK(store_->WriteBatch("v", batch));
  ASSERT_OK_AND_ASSIGN(auto r, Read("v", {DriverKey(1), DriverKey(2)}, {"x"}));
  EXPECT_EQ(r.event_ts, (std::vector<int64_t>{9, 3}));
  EXPECT_TRUE(SameOptional(r.value(0, 0), int64_t{2}));
  EXPECT_TRUE(SameOptional(r.value(1, 0), int64_t{5}));
}

TEST_P(OnlineStoreConformance, TtlServesExpiredRowsAsOutsideMaxAge) {
  const int64_t kHour = 3'600'000'000;
  const int64_t now = 1'700'000'000'000'000;
  RowBatch batch{{"x"}, {}};
  batch.rows.push_back(MakeRow(DriverKey(1), now - 2 * kHour - 1, {}, {int64_t{1}}));  // expired
  batch.rows.push_back(MakeRow(DriverKey(2), now - 2 * kHour, {}, {int64_t{2}}));      // boundary: kept
  batch.rows.push_back(MakeRow(DriverKey(3), now - 10, {}, {int64_t{3}}));
  batch.rows.push_back(MakeRow(DriverKey(4), now + kHour, {}, {int64_t{4}}));  // future: served
  ASSERT_OK(store_->WriteBatch("v", batch));
  std::vector<std::string> keys = {DriverKey(1), DriverKey(2), DriverKey(3), DriverKey(4), DriverKey(5)};

  ASSERT_OK_AND_ASSIGN(auto r, Read("v", keys, {"x"}, ReadOptions{2 * kHour, now}));
  EXPECT_EQ(r.statuses, (std::vector<FeatureStatus>{FeatureStatus::kOutsideMaxAge, FeatureStatus::kPresent,
                                                    FeatureStatus::kPresent, FeatureStatus::kPresent,
                                                    FeatureStatus::kNotFound}));
  EXPECT_FALSE(r.value(0, 0).has_value());  // expired values are served as missing
  EXPECT_EQ(r.feature_status(0, 0), FeatureStatus::kOutsideMaxAge);
  EXPECT_EQ(r.event_ts[0], now - 2 * kHour - 1);
  EXPECT_TRUE(SameOptional(r.value(1, 0), int64_t{2}));

  // No TTL, or a non-positive one: no limit.
  for (std::optional<int64_t> ttl : {std::optional<int64_t>(), std::optional<int64_t>(0),
                                     std::optional<int64_t>(-5)}) {
    ASSERT_OK_AND_ASSIGN(r, Read("v", keys, {"x"}, ReadOptions{ttl, now}));
    EXPECT_EQ(r.statuses[0], FeatureStatus::kPresent);
  }
  // Without an explicit now, the system clock: these rows are decades in the future or past.
  ASSERT_OK_AND_ASSIGN(r, Read("v", {DriverKey(9)}, {"x"}, ReadOptions{kHour, std::nullopt}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kNotFound);
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(9), 1, {}, {int64_t{9}})}}));
  ASSERT_OK_AND_ASSIGN(r, Read("v", {DriverKey(9)}, {"x"}, ReadOptions{kHour, std::nullopt}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kOutsideMaxAge);
  // Extreme values do not overflow.
  ASSERT_OK_AND_ASSIGN(r, Read("v", {DriverKey(9)}, {"x"},
                               ReadOptions{std::numeric_limits<int64_t>::max(),
                                           std::numeric_limits<int64_t>::max()}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kPresent);
  ASSERT_OK_AND_ASSIGN(r, Read("v", {DriverKey(9)}, {"x"},
                               ReadOptions{1, std::numeric_limits<int64_t>::max()}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kOutsideMaxAge);
}

TEST_P(OnlineStoreConformance, DeleteViewRemovesOnlyThatView) {
  // View names that share prefixes, or contain glob and separator characters.
  const std::vector<std::string> views = {"a", "ab", "a:b", "a*", "a?", "[a]", std::string("a\0b", 3)};
  for (const auto& v : views) {
    RowBatch batch{{"x"}, {}};
    for (int i = 0; i < 50; ++i) batch.rows.push_back(MakeRow(DriverKey(i), 1, {}, {v}));
    ASSERT_OK(store_->WriteBatch(v, batch));
    ASSERT_OK(store_->SetMetadata(v, "watermark", v + "-wm"));
  }
  ASSERT_OK(store_->DeleteView("a"));
  ASSERT_OK(store_->DeleteView("a*"));
  ASSERT_OK(store_->DeleteView("never-written"));
  for (const auto& v : views) {
    bool deleted = v == "a" || v == "a*";
    ASSERT_OK_AND_ASSIGN(auto r, Read(v, {DriverKey(0), DriverKey(49)}, {"x"}));
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(r.statuses[k], deleted ? FeatureStatus::kNotFound : FeatureStatus::kPresent) << v;
      if (!deleted) {
        EXPECT_TRUE(SameOptional(r.value(k, 0), v));
      }
    }
    ASSERT_OK_AND_ASSIGN(auto wm, store_->GetMetadata(v, "watermark"));
    EXPECT_EQ(wm.has_value(), !deleted) << v;
  }
  // A deleted view can be written again, old versions forgotten.
  ASSERT_OK(store_->WriteBatch("a", RowBatch{{"x"}, {MakeRow(DriverKey(0), 0, {}, {std::string("again")})}}));
  ASSERT_OK_AND_ASSIGN(auto r, Read("a", {DriverKey(0)}, {"x"}));
  EXPECT_TRUE(SameOptional(r.value(0, 0), std::string("again")));
}

TEST_P(OnlineStoreConformance, Metadata) {
  ASSERT_OK_AND_ASSIGN(auto v, store_->GetMetadata("view", "watermark"));
  EXPECT_FALSE(v.has_value());
  ASSERT_OK(store_->SetMetadata("view", "watermark", "2024-01-01T00:00:00Z"));
  ASSERT_OK(store_->SetMetadata("view", "empty", ""));
  ASSERT_OK(store_->SetMetadata("view2", "watermark", "other"));
  ASSERT_OK(store_->SetMetadata("view", std::string("bin\0name", 8), std::string("\0\xff", 2)));
  ASSERT_OK_AND_ASSIGN(v, store_->GetMetadata("view", "watermark"));
  EXPECT_EQ(v, std::optional<std::string>("2024-01-01T00:00:00Z"));
  ASSERT_OK_AND_ASSIGN(v, store_->GetMetadata("view", "empty"));
  EXPECT_EQ(v, std::optional<std::string>(""));
  ASSERT_OK_AND_ASSIGN(v, store_->GetMetadata("view", std::string("bin\0name", 8)));
  EXPECT_EQ(v, std::optional<std::string>(std::string("\0\xff", 2)));
  ASSERT_OK_AND_ASSIGN(v, store_->GetMetadata("view2", "watermark"));
  EXPECT_EQ(v, std::optional<std::string>("other"));
  ASSERT_OK(store_->SetMetadata("view", "watermark", "2024-02-01T00:00:00Z"));
  ASSERT_OK_AND_ASSIGN(v, store_->GetMetadata("view", "watermark"));
  EXPECT_EQ(v, std::optional<std::string>("2024-02-01T00:00:00Z"));
  // Metadata and rows do not see each other.
  ASSERT_OK_AND_ASSIGN(auto r, Read("view", {"watermark"}, {"x"}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kNotFound);
}

TEST_P(OnlineStoreConformance, ReopenPersists) {
  RowBatch batch{{"x", "y"}, {}};
  batch.rows.push_back(MakeRow(DriverKey(1), 10, 2, {1.25, std::string("s")}));
  batch.rows.push_back(MakeRow(DriverKey(2), 11, {}, {FeatureValue{}, std::string("t")}));
  ASSERT_OK(store_->WriteBatch("v", batch));
  ASSERT_OK(store_->SetMetadata("v", "watermark", "w"));
  Reopen();
  ASSERT_OK_AND_ASSIGN(auto r, Read("v", {DriverKey(1), DriverKey(2)}, {"y", "x"}));
  EXPECT_EQ(r.event_ts, (std::vector<int64_t>{10, 11}));
  EXPECT_TRUE(SameOptional(r.value(0, 1), 1.25));
  EXPECT_TRUE(SameOptional(r.value(1, 1), FeatureValue{}));
  EXPECT_TRUE(SameOptional(r.value(1, 0), std::string("t")));
  ASSERT_OK_AND_ASSIGN(auto wm, store_->GetMetadata("v", "watermark"));
  EXPECT_EQ(wm, std::optional<std::string>("w"));
  // The version rule holds across reopen.
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x", "y"}, {MakeRow(DriverKey(1), 10, 1, {9.0, std::string("old")})}}));
  ASSERT_OK_AND_ASSIGN(r, Read("v", {DriverKey(1)}, {"x"}));
  EXPECT_TRUE(SameOptional(r.value(0, 0), 1.25));
}

TEST_P(OnlineStoreConformance, InvalidInputIsRejectedAndWritesNothing) {
  const std::string k = DriverKey(1);
  auto rejected = [&](std::string_view view, const RowBatch& b) {
    Status st = store_->WriteBatch(view, b);
    EXPECT_TRUE(HasCode(st, ErrorCode::kInvalidArgument)) << st.ToString();
  };
  RowBatch good_then_bad{{"x"}, {MakeRow(k, 1, {}, {int64_t{1}}), MakeRow(DriverKey(2), 1, {}, {})}};
  rejected("v", good_then_bad);  // the second row has no value
  rejected("", RowBatch{{"x"}, {MakeRow(k, 1, {}, {int64_t{1}})}});
  rejected("v", RowBatch{{"x", "x"}, {MakeRow(k, 1, {}, {int64_t{1}, int64_t{2}})}});
  rejected("v", RowBatch{{""}, {MakeRow(k, 1, {}, {int64_t{1}})}});
  rejected("v", RowBatch{{}, {MakeRow(k, 1, {}, {})}});
  rejected("v", RowBatch{{"x"}, {MakeRow("", 1, {}, {int64_t{1}})}});
  rejected("v", RowBatch{{"x"}, {MakeRow(k, 1, std::numeric_limits<int64_t>::min(), {int64_t{1}})}});
  ASSERT_OK_AND_ASSIGN(auto r, Read("v", {k}, {"x"}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kNotFound);
  EXPECT_TRUE(HasCode(Read("", {k}, {"x"}).status(), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(store_->DeleteView(""), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(store_->SetMetadata("", "a", "b"), ErrorCode::kInvalidArgument));
}

TEST_P(OnlineStoreConformance, ReadsRepeatedKeysAndFeatures) {
  ASSERT_OK(store_->WriteBatch(
      "v", RowBatch{{"a", "b", "c"}, {MakeRow(DriverKey(1), 3, {}, {int64_t{1}, int64_t{2}, int64_t{3}})}}));
  ASSERT_OK_AND_ASSIGN(auto r, Read("v", {DriverKey(1), DriverKey(5), DriverKey(1)},
                                    {"c", "a", "c", "b", "zz", "a"}));
  for (size_t k : {size_t{0}, size_t{2}}) {
    EXPECT_EQ(r.statuses[k], FeatureStatus::kPresent);
    EXPECT_TRUE(SameOptional(r.value(k, 0), int64_t{3}));
    EXPECT_TRUE(SameOptional(r.value(k, 1), int64_t{1}));
    EXPECT_TRUE(SameOptional(r.value(k, 2), int64_t{3}));
    EXPECT_TRUE(SameOptional(r.value(k, 3), int64_t{2}));
    EXPECT_FALSE(r.value(k, 4).has_value());
    EXPECT_TRUE(SameOptional(r.value(k, 5), int64_t{1}));
  }
  EXPECT_EQ(r.statuses[1], FeatureStatus::kNotFound);
}

TEST_P(OnlineStoreConformance, MultiColumnAndStringKeys) {
  using Cols = std::vector<JoinKey>;
  ASSERT_OK_AND_ASSIGN(auto k1, EncodeEntityKey(Cols{{"driver_id", int64_t{1}}, {"city", std::string("Paris")}}));
  ASSERT_OK_AND_ASSIGN(auto k1_swapped,
                       EncodeEntityKey(Cols{{"city", std::string("Paris")}, {"driver_id", int64_t{1}}}));
  ASSERT_OK_AND_ASSIGN(auto k2, EncodeEntityKey(Cols{{"driver_id", int64_t{1}}, {"city", std::string("Pari")}}));
  const std::string k3 = EncodeEntityKey("user", std::string("\xc3\xa9l\0odie", 8));
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(k1, 1, {}, {int64_t{1}}), MakeRow(k2, 1, {}, {int64_t{2}}),
                                                    MakeRow(k3, 1, {}, {int64_t{3}})}}));
  ASSERT_OK_AND_ASSIGN(auto r, Read("v", {k1_swapped, k2, k3, DriverKey(1)}, {"x"}));
  EXPECT_TRUE(SameOptional(r.value(0, 0), int64_t{1}));
  EXPECT_TRUE(SameOptional(r.value(1, 0), int64_t{2}));
  EXPECT_TRUE(SameOptional(r.value(2, 0), int64_t{3}));
  EXPECT_EQ(r.statuses[3], FeatureStatus::kNotFound);
}

TEST_P(OnlineStoreConformance, ClosedStoreReturnsErrors) {
  ASSERT_OK(store_->Close());
  ASSERT_OK(store_->Close());  // idempotent
  EXPECT_FALSE(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(1), 1, {}, {int64_t{1}})}}).ok());
  EXPECT_FALSE(Read("v", {DriverKey(1)}, {"x"}).ok());
  EXPECT_FALSE(store_->SetMetadata("v", "a", "b").ok());
  EXPECT_FALSE(store_->GetMetadata("v", "a").ok());
  EXPECT_FALSE(store_->DeleteView("v").ok());
  store_.reset();
}

// Several threads write every version of every key, each in its own random order and batch
// sizes; the store must end at the largest version, with that version's values (rows are
// never torn: x and y always come from the same write).
TEST_P(OnlineStoreConformance, ConcurrentWritersConvergeToTheMax) {
  constexpr int kThreads = 4, kKeys = 60, kEvents = 6, kCreated = 3;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      std::vector<OnlineRow> rows;
      for (int k = 0; k < kKeys; ++k) {
        for (int e = 0; e < kEvents; ++e) {
          for (int c = 0; c < kCreated; ++c) {
            int64_t v = e * 10 + c;
            rows.push_back(MakeRow(DriverKey(k), e, c, {v, "v" + std::to_string(v) + "-t" + std::to_string(t)}));
          }
        }
      }
      std::shuffle(rows.begin(), rows.end(), rng);
      size_t pos = 0;
      while (pos < rows.size()) {
        size_t n = std::min(rows.size() - pos, size_t{1} + rng() % 40);
        RowBatch b{{"x", "y"}, {rows.begin() + pos, rows.begin() + pos + n}};
        if (!store_->WriteBatch("v", b).ok()) ++failures;
        pos += n;
        // Readers run concurrently and must never see a torn row.
        auto r = ReadKeys(store_.get(), "v", {DriverKey(static_cast<int>(rng() % kKeys))}, {"x", "y"});
        if (!r.ok()) {
          ++failures;
        } else if (r->statuses[0] == FeatureStatus::kPresent) {
          int64_t x = std::get<int64_t>(*r->value(0, 0));
          const auto& y = std::get<std::string>(*r->value(0, 1));
          if (y.rfind("v" + std::to_string(x) + "-t", 0) != 0 || r->event_ts[0] != x / 10) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<std::string> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back(DriverKey(k));
  ASSERT_OK_AND_ASSIGN(auto r, Read("v", keys, {"x", "y"}));
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(r.event_ts[k], kEvents - 1);
    EXPECT_TRUE(SameOptional(r.value(k, 0), int64_t{(kEvents - 1) * 10 + kCreated - 1})) << k;
    ASSERT_TRUE(r.value(k, 1).has_value());
    EXPECT_EQ(std::get<std::string>(*r.value(k, 1)).rfind("v52-t", 0), 0u);
  }
}

// Random writes, reads, view deletions and metadata against a brute-force model.
TEST_P(OnlineStoreConformance, RandomizedAgainstModel) {
  struct ModelRow {
    RowVersion version;
    std::vector<std::string> names;
    std::vector<FeatureValue> values;
  };
  const std::vector<std::string> views = {"a", "ab", "b"};
  const std::vector<std::string> feature_pool = {"f0", "f1", "f2", "f3", "f4"};
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    std::map<std::pair<std::string, std::string>, ModelRow> model;
    std::map<std::pair<std::string, std::string>, std::string> meta;
    auto random_key = [&]() -> std::string {
      if (pick(4) == 0) return EncodeEntityKey("name", "k" + std::to_string(pick(10)));
      return DriverKey(static_cast<int64_t>(pick(25)));
    };
    auto random_value = [&]() -> FeatureValue {
      switch (pick(6)) {
        case 0: return FeatureValue{};
        case 1: return pick(2) == 1;
        case 2: return static_cast<int64_t>(rng()) - (1LL << 31);
        case 3: return static_cast<double>(rng()) / 7.0;
        case 4: return std::string(pick(20), static_cast<char>('a' + pick(26)));
        default: return std::vector<float>(pick(5), static_cast<float>(pick(100)));
      }
    };
    for (int step = 0; step < 400; ++step) {
      const std::string& view = views[pick(views.size())];
      size_t op = pick(20);
      if (op < 10) {
        RowBatch b;
        std::vector<std::string> names = feature_pool;
        std::shuffle(names.begin(), names.end(), rng);
        names.resize(1 + pick(names.size()));
        b.feature_names = names;
        size_t n = 1 + pick(20);
        for (size_t i = 0; i < n; ++i) {
          std::vector<FeatureValue> values;
          for (size_t f = 0; f < names.size(); ++f) values.push_back(random_value());
          std::optional<int64_t> created;
          if (pick(3) != 0) created = static_cast<int64_t>(pick(4)) - 1;
          b.rows.push_back(MakeRow(random_key(), static_cast<int64_t>(pick(12)), created, values));
        }
        ASSERT_OK(store_->WriteBatch(view, b));
        for (const auto& row : b.rows) {
          RowVersion v{row.event_ts, row.created_ts};
          auto [it, inserted] = model.try_emplace({view, row.entity_key});
          if (inserted || v.Compare(it->second.version) >= 0) it->second = {v, names, row.values};
        }
      } else if (op < 17) {
        std::vector<std::string> keys;
        for (size_t i = 0, n = 1 + pick(30); i < n; ++i) keys.push_back(random_key());
        std::vector<std::string> features;
        for (size_t i = 0, n = pick(4); i < n; ++i) {
          features.push_back(pick(6) == 0 ? "zz" : feature_pool[pick(feature_pool.size())]);
        }
        ReadOptions ro;
        if (pick(2) == 0) ro.ttl_micros = static_cast<int64_t>(pick(8));
        ro.now_micros = static_cast<int64_t>(pick(16));
        ASSERT_OK_AND_ASSIGN(auto r, Read(view, keys, features, ro));
        for (size_t k = 0; k < keys.size(); ++k) {
          auto it = model.find({view, keys[k]});
          SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(step) + " key " +
                       std::to_string(k));
          if (it == model.end()) {
            ASSERT_EQ(r.statuses[k], FeatureStatus::kNotFound);
            ASSERT_EQ(r.event_ts[k], 0);
            for (size_t f = 0; f < features.size(); ++f) ASSERT_FALSE(r.value(k, f).has_value());
            continue;
          }
          const ModelRow& m = it->second;
          ASSERT_EQ(r.event_ts[k], m.version.event_ts);
          bool expired = ro.ttl_micros && *ro.ttl_micros > 0 &&
                         m.version.event_ts < *ro.now_micros - *ro.ttl_micros;
          ASSERT_EQ(r.statuses[k], expired ? FeatureStatus::kOutsideMaxAge : FeatureStatus::kPresent);
          for (size_t f = 0; f < features.size(); ++f) {
            std::optional<FeatureValue> expected;
            if (!expired) {
              for (size_t j = 0; j < m.names.size(); ++j) {
                if (m.names[j] == features[f]) expected = m.values[j];
              }
            }
            ASSERT_TRUE(SameOptional(r.value(k, f), expected)) << features[f];
          }
        }
      } else if (op < 19) {
        std::string name = "m" + std::to_string(pick(3));
        if (pick(2) == 0) {
          std::string value = std::to_string(rng());
          ASSERT_OK(store_->SetMetadata(view, name, value));
          meta[{view, name}] = value;
        } else {
          ASSERT_OK_AND_ASSIGN(auto got, store_->GetMetadata(view, name));
          auto it = meta.find({view, name});
          ASSERT_EQ(got, it == meta.end() ? std::nullopt : std::optional<std::string>(it->second));
        }
      } else {
        ASSERT_OK(store_->DeleteView(view));
        std::erase_if(model, [&](const auto& e) { return e.first.first == view; });
        std::erase_if(meta, [&](const auto& e) { return e.first.first == view; });
      }
    }
    for (const auto& v : views) ASSERT_OK(store_->DeleteView(v));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Stores, OnlineStoreConformance,
    ::testing::Values(
        StoreFactory{"rocksdb",
                     [](const std::string& scratch) {
                       OnlineStoreConfig c;
                       c.type = "rocksdb";
                       c.path = scratch + "/online";
                       return c;
                     }},
        // Always instantiated, so that test discovery lists it; skips without redis-server.
        StoreFactory{"redis",
                     [](const std::string&) {
                       OnlineStoreConfig c;
                       c.type = "redis";
                       c.url = RedisTestServer::Shared()->url();
                       c.key_prefix = UniquePrefix();
                       return c;
                     },
                     [] {
                       if (!RedisTestServer::Available()) return std::string("redis-server not installed");
                       if (RedisTestServer::Shared() == nullptr) {
                         return "redis-server did not start: " + RedisTestServer::SharedError().ToString();
                       }
                       return std::string();
                     }}),
    [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

TEST(OpenOnlineStore, RejectsBadConfigs) {
  OnlineStoreConfig c;
  c.type = "memcached";
  auto r = OpenOnlineStore(c);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument));
  EXPECT_NE(r.status().message().find("memcached"), std::string::npos);
  c.type = "rocksdb";
  EXPECT_TRUE(HasCode(OpenOnlineStore(c).status(), ErrorCode::kInvalidArgument));  // no path
  c.type = "redis";
  c.url = "http://localhost";
  EXPECT_TRUE(HasCode(OpenOnlineStore(c).status(), ErrorCode::kInvalidArgument));
  c.url = "redis://127.0.0.1:6379/0";
  c.read_only = true;
  EXPECT_TRUE(HasCode(OpenOnlineStore(c).status(), ErrorCode::kInvalidArgument));
}

TEST(FeatureStatusName, MatchesFeast) {
  EXPECT_STREQ(FeatureStatusName(FeatureStatus::kPresent), "PRESENT");
  EXPECT_STREQ(FeatureStatusName(FeatureStatus::kNotFound), "NOT_FOUND");
  EXPECT_STREQ(FeatureStatusName(FeatureStatus::kOutsideMaxAge), "OUTSIDE_MAX_AGE");
}

}  // namespace
}  // namespace strata::online
