// Online retrieval over a real RocksDB store: resolution, entity key checks, TTL statuses,
// on-demand features, output naming, and a brute-force oracle on random data.

#include "strata/features/online_serving.h"

#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "strata/online/rocksdb_store.h"
#include "strata/testing/gtest_util.h"

namespace strata::features {
namespace {

using online::FeatureStatus;
using online::FeatureValue;
using online::JoinKeyValue;

constexpr int64_t kHour = 3600LL * 1000000;
constexpr int64_t kNow = 1767225600LL * 1000000;  // 2026-01-01T00:00:00Z

Field F(std::string name, FeatureType type) { return Field{std::move(name), type, ""}; }

/// drivers (int64 key) and customers (string key); three views, one on-demand view, a service.
std::shared_ptr<Repository> MakeRepo() {
  auto r = std::make_shared<Repository>();
  r->root = "/tmp/unused";
  r->project = "rides";
  r->entities = {Entity{"customer", {F("customer_id", FeatureType::kString)}, "", {}},
                 Entity{"driver", {F("driver_id", FeatureType::kInt64)}, "", {}}};
  FeatureView cp;
  cp.name = "customer_profile";
  cp.entities = {"customer"};
  cp.source = "s";
  cp.features = {F("age", FeatureType::kInt64), F("embedding", FeatureType::kFloatList)};
  FeatureView dc;
  dc.name = "driver_customer";
  dc.entities = {"driver", "customer"};
  dc.source = "s";
  dc.ttl_us = 2 * kHour;
  dc.features = {F("rating", FeatureType::kFloat64)};
  FeatureView ds;
  ds.name = "driver_stats";
  ds.entities = {"driver"};
  ds.source = "s";
  ds.ttl_us = kHour;
  ds.features = {F("conv_rate", FeatureType::kFloat64), F("trips", FeatureType::kInt64),
                 F("name", FeatureType::kString), F("active", FeatureType::kBool)};
  r->feature_views = {cp, dc, ds};
  OnDemandFeatureView od;
  od.name = "adjusted";
  od.sources = {"driver_stats"};
  od.request = {F("bonus", FeatureType::kFloat64)};
  od.features = {OnDemandFeature{"score", FeatureType::kFloat64, "conv_rate * 2 + bonus"},
                 OnDemandFeature{"big", FeatureType::kBool, "driver_stats__trips > 100"},
                 OnDemandFeature{"trips32", FeatureType::kInt32, "trips + 1"}};
  r->on_demand_views = {od};
  FeatureService svc;
  svc.name = "eta_model";
  svc.features = {"driver_stats:conv_rate", "driver_stats:trips"};
  r->feature_services = {svc};
  return r;
}

class OnlineServingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    online::RocksDbOptions o;
    o.path = dir_.path() + "/online";
    auto store = online::OpenRocksDbStore(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::shared_ptr<online::OnlineStore>(std::move(*store));
    auto s = OnlineServing::Make(MakeRepo(), store_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    serving_ = std::move(*s);
  }

  void WriteDriver(int64_t id, int64_t ts, std::vector<std::string> names,
                   std::vector<FeatureValue> values) {
    online::RowBatch b;
    b.feature_names = std::move(names);
    b.rows.push_back(online::OnlineRow{online::EncodeEntityKey("driver_id", id), ts, {},
                                       std::move(values)});
    ASSERT_OK(store_->WriteBatch("driver_stats", b));
  }

  OnlineRequest Drivers(std::vector<std::string> features, std::vector<int64_t> ids) {
    OnlineRequest r;
    r.features = std::move(features);
    std::vector<JoinKeyValue> col(ids.begin(), ids.end());
    r.entities = {{"driver_id", col}};
    r.now_us = kNow;
    return r;
  }

  Status ErrorOf(const OnlineRequest& r) {
    auto res = serving_->Get(r);
    return res.ok() ? Status::OK() : res.status();
  }

  strata::testing::TempDir dir_;
  std::shared_ptr<online::OnlineStore> store_;
  std::unique_ptr<OnlineServing> serving_;
};

TEST_F(OnlineServingTest, BasicShapeAndStatuses) {
  WriteDriver(1, kNow - 10, {"conv_rate", "trips"}, {0.5, int64_t{7}});
  WriteDriver(2, kNow - 2 * kHour, {"conv_rate", "trips"}, {0.25, int64_t{9}});  // expired
  ASSERT_OK_AND_ASSIGN(auto resp, serving_->Get(Drivers({"driver_stats:conv_rate",
                                                        "driver_stats:trips",
                                                        "driver_stats:name"},
                                                       {1, 2, 3})));
  ASSERT_EQ(resp.feature_names,
            (std::vector<std::string>{"driver_id", "conv_rate", "trips", "name"}));
  EXPECT_EQ(resp.num_rows, 3u);
  EXPECT_EQ(resp.num_entity_columns, 1u);
  const auto& id = resp.columns[0];
  EXPECT_EQ(std::get<int64_t>(*id.values[2]), 3);
  EXPECT_EQ(id.statuses[2], FeatureStatus::kPresent);
  const auto& conv = resp.columns[1];
  EXPECT_EQ(std::get<double>(*conv.values[0]), 0.5);
  EXPECT_EQ(conv.statuses[0], FeatureStatus::kPresent);
  EXPECT_EQ(conv.event_ts_us[0], kNow - 10);
  EXPECT_FALSE(conv.values[1].has_value());
  EXPECT_EQ(conv.statuses[1], FeatureStatus::kOutsideMaxAge);
  EXPECT_EQ(conv.event_ts_us[1], kNow - 2 * kHour);
  EXPECT_EQ(conv.statuses[2], FeatureStatus::kNotFound);
  EXPECT_EQ(conv.event_ts_us[2], 0);
  // A row without the feature: NOT_FOUND.
  EXPECT_EQ(resp.columns[3].statuses[0], FeatureStatus::kNotFound);
  EXPECT_EQ(std::get<int64_t>(*resp.columns[2].values[0]), 7);
}

TEST_F(OnlineServingTest, FullNamesServicesAndWholeViews) {
  WriteDriver(1, kNow, {"conv_rate", "trips"}, {0.5, int64_t{7}});
  auto req = Drivers({"driver_stats:trips"}, {1});
  req.full_feature_names = true;
  ASSERT_OK_AND_ASSIGN(auto resp, serving_->Get(req));
  EXPECT_EQ(resp.feature_names, (std::vector<std::string>{"driver_id", "driver_stats__trips"}));

  req = Drivers({}, {1});
  req.feature_service = "eta_model";
  ASSERT_OK_AND_ASSIGN(resp, serving_->Get(req));
  EXPECT_EQ(resp.feature_names, (std::vector<std::string>{"driver_id", "conv_rate", "trips"}));

  ASSERT_OK_AND_ASSIGN(resp, serving_->Get(Drivers({"driver_stats"}, {1})));
  EXPECT_EQ(resp.feature_names, (std::vector<std::string>{"driver_id", "conv_rate", "trips",
                                                          "name", "active"}));
}

TEST_F(OnlineServingTest, RequestErrorsNameTheProblem) {
  auto expect = [&](const OnlineRequest& r, const std::string& needle) {
    Status st = ErrorOf(r);
    ASSERT_FALSE(st.ok()) << "expected an error containing " << needle;
    EXPECT_TRUE(IsRequestError(st)) << st.ToString();
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  };
  expect(Drivers({"nope:x"}, {1}), "unknown feature view 'nope'");
  expect(Drivers({"driver_stats:nope"}, {1}), "unknown feature 'nope'");
  auto r = Drivers({}, {1});
  r.feature_service = "nope";
  expect(r, "unknown feature service 'nope'");
  r.features = {"driver_stats:trips"};
  expect(r, "not both");
  expect(Drivers({}, {1}), "no features requested");

  r = Drivers({"driver_stats:trips"}, {1});
  r.entities[0].first = "driver";
  expect(r, "unknown entity key 'driver'");
  r.entities.push_back({"driver_id", {int64_t{1}}});
  expect(r, "unknown entity key 'driver'");
  r.entities.erase(r.entities.begin());
  r.entities.push_back({"customer_id", {std::string("c1")}});
  ASSERT_OK(ErrorOf(r));  // a known join key the views do not use is echoed, not an error

  r = Drivers({"driver_stats:trips"}, {});
  r.entities[0].second = {std::string("1001")};
  expect(r, "entity key 'driver_id' must be an integer, got a string at row 0");

  r = Drivers({"customer_profile:age"}, {1});
  expect(r, "missing entity key 'customer_id'");

  r = Drivers({"driver_stats:trips"}, {1, 2});
  r.entities.push_back({"customer_id", {std::string("c1")}});
  expect(r, "has 1 values but 'driver_id' has 2");

  r = Drivers({"driver_stats:trips"}, {});
  expect(r, "has no values");
  r.entities.clear();
  expect(r, "no entities given");

  r = Drivers({"driver_stats:trips"}, {});
  r.entities.clear();
  r.request_data = {{"driver_id", {FeatureValue(1.5)}}};
  expect(r, "entity key 'driver_id' must hold int64");

  r = Drivers({"adjusted:score"}, {1});
  expect(r, "missing request data 'bonus'");
  r.request_data = {{"bonus", {FeatureValue(std::string("x"))}}};
  expect(r, "request data 'bonus' at row 0 is a string, expected float64");
  r = Drivers({"driver_stats:trips"}, {1});
  r.request_data = {{"bonus", {FeatureValue(1.0)}}};
  expect(r, "unknown request data 'bonus'");

  // Same short name from two views.
  OnlineRequest c = Drivers({"driver_stats:conv_rate", "adjusted:score", "driver_stats"}, {1});
  c.request_data = {{"bonus", {FeatureValue(1.0)}}};
  ASSERT_OK(ErrorOf(c));  // duplicates across refs are resolved once
}

TEST_F(OnlineServingTest, MultiColumnKeysAndStringKeys) {
  online::RowBatch b;
  b.feature_names = {"rating"};
  std::vector<online::JoinKey> k = {{"driver_id", int64_t{5}}, {"customer_id", std::string("c9")}};
  ASSERT_OK_AND_ASSIGN(auto key, online::EncodeEntityKey(k));
  b.rows.push_back(online::OnlineRow{key, kNow - 5, {}, {FeatureValue(4.5)}});
  ASSERT_OK(store_->WriteBatch("driver_customer", b));
  online::RowBatch p;
  p.feature_names = {"age", "embedding"};
  p.rows.push_back(online::OnlineRow{online::EncodeEntityKey("customer_id", "c9"), kNow - 5, {},
                                     {FeatureValue(int64_t{33}),
                                      FeatureValue(std::vector<float>{1.5f, -2.0f})}});
  ASSERT_OK(store_->WriteBatch("customer_profile", p));

  OnlineRequest r;
  r.now_us = kNow;
  r.features = {"driver_customer:rating", "customer_profile:embedding"};
  r.entities = {{"customer_id", {std::string("c9"), std::string("c9")}},
                {"driver_id", {int64_t{5}, int64_t{6}}}};
  ASSERT_OK_AND_ASSIGN(auto resp, serving_->Get(r));
  EXPECT_EQ(resp.feature_names,
            (std::vector<std::string>{"customer_id", "driver_id", "rating", "embedding"}));
  EXPECT_EQ(std::get<double>(*resp.columns[2].values[0]), 4.5);
  EXPECT_EQ(resp.columns[2].statuses[1], FeatureStatus::kNotFound);
  EXPECT_EQ(std::get<std::vector<float>>(*resp.columns[3].values[1]),
            (std::vector<float>{1.5f, -2.0f}));
}

TEST_F(OnlineServingTest, OnDemandFeatures) {
  WriteDriver(1, kNow - 10, {"conv_rate", "trips"}, {0.5, int64_t{170}});
  WriteDriver(2, kNow - 20, {"conv_rate", "trips"}, {FeatureValue{}, int64_t{3}});
  auto r = Drivers({"adjusted:score", "adjusted:big", "adjusted:trips32"}, {1, 2, 3});
  r.request_data = {{"bonus", {FeatureValue(1.0), FeatureValue(int64_t{2}), FeatureValue(3.0)}}};
  ASSERT_OK_AND_ASSIGN(auto resp, serving_->Get(r));
  ASSERT_EQ(resp.feature_names,
            (std::vector<std::string>{"driver_id", "score", "big", "trips32"}));
  const auto& score = resp.columns[1];
  EXPECT_EQ(std::get<double>(*score.values[0]), 2.0);
  EXPECT_EQ(score.statuses[0], FeatureStatus::kPresent);
  EXPECT_EQ(score.event_ts_us[0], kNow - 10);
  EXPECT_FALSE(score.values[1].has_value());  // stored null conv_rate
  EXPECT_EQ(score.statuses[1], FeatureStatus::kNotFound);
  EXPECT_FALSE(score.values[2].has_value());  // no row
  EXPECT_EQ(std::get<bool>(*resp.columns[2].values[0]), true);
  EXPECT_EQ(std::get<bool>(*resp.columns[2].values[1]), false);
  EXPECT_EQ(std::get<int64_t>(*resp.columns[3].values[0]), 171);

  // Request data may come among the entities (Feast clients send it there).
  r.request_data.clear();
  r.entities.push_back({"bonus", {int64_t{1}, int64_t{1}, int64_t{1}}});
  ASSERT_OK_AND_ASSIGN(resp, serving_->Get(r));
  EXPECT_EQ(resp.feature_names.size(), 4u);  // "bonus" is not echoed
  EXPECT_EQ(std::get<double>(*resp.columns[1].values[0]), 2.0);

  // Full names and a bad expression.
  r.full_feature_names = true;
  ASSERT_OK_AND_ASSIGN(resp, serving_->Get(r));
  EXPECT_EQ(resp.feature_names[1], "adjusted__score");

  auto repo = MakeRepo();
  repo->on_demand_views[0].features.push_back(
      OnDemandFeature{"broken", FeatureType::kFloat64, "conv_rate +"});
  auto bad = OnlineServing::Make(repo, store_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("adjusted:broken"), std::string::npos);
}

TEST_F(OnlineServingTest, NameCollisionNeedsFullNames) {
  auto repo = MakeRepo();
  FeatureView other = repo->feature_views[2];
  other.name = "driver_stats_v2";
  repo->feature_views.push_back(other);
  ASSERT_OK_AND_ASSIGN(auto s, OnlineServing::Make(repo, store_));
  auto r = Drivers({"driver_stats:trips", "driver_stats_v2:trips"}, {1});
  auto res = s->Get(r);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.status().message().find("full_feature_names"), std::string::npos);
  r.full_feature_names = true;
  ASSERT_OK(s->Get(r).status());
}

TEST_F(OnlineServingTest, EntityNameMayNotBeAFeatureName) {
  auto repo = MakeRepo();
  repo->feature_views[2].features.push_back(F("driver_id", FeatureType::kInt64));
  ASSERT_OK_AND_ASSIGN(auto s, OnlineServing::Make(repo, store_));
  auto r = Drivers({"driver_stats:driver_id"}, {1});
  for (int attempt = 0; attempt < 2; ++attempt) {  // the second one finds the cached plan
    auto res = s->Get(r);
    ASSERT_FALSE(res.ok());
    EXPECT_NE(res.status().message().find("produced by both entity 'driver_id' and 'driver_stats:driver_id'"),
              std::string::npos)
        << res.status().message();
  }
  r.full_feature_names = true;
  ASSERT_OK_AND_ASSIGN(auto res, s->Get(r));
  EXPECT_EQ(res.feature_names, (std::vector<std::string>{"driver_id", "driver_stats__driver_id"}));
}

// Plans are cached per feature list: the same list with other entities, other names or another
// order must still be answered for that request.
TEST_F(OnlineServingTest, CachedPlansServeEveryRequestOfTheirList) {
  WriteDriver(1, kNow - 10, {"conv_rate", "trips"}, {0.5, int64_t{7}});
  WriteDriver(2, kNow - 20, {"conv_rate", "trips"}, {0.25, int64_t{9}});
  auto a = Drivers({"driver_stats:conv_rate", "driver_stats:trips"}, {1});
  auto b = Drivers({"driver_stats:trips", "driver_stats:conv_rate"}, {2, 1});
  for (int round = 0; round < 3; ++round) {
    ASSERT_OK_AND_ASSIGN(auto ra, serving_->Get(a));
    EXPECT_EQ(ra.feature_names, (std::vector<std::string>{"driver_id", "conv_rate", "trips"}));
    EXPECT_EQ(std::get<double>(*ra.columns[1].values[0]), 0.5);
    ASSERT_OK_AND_ASSIGN(auto rb, serving_->Get(b));
    EXPECT_EQ(rb.feature_names, (std::vector<std::string>{"driver_id", "trips", "conv_rate"}));
    EXPECT_EQ(std::get<int64_t>(*rb.columns[1].values[0]), 9);
    EXPECT_EQ(std::get<int64_t>(*rb.columns[1].values[1]), 7);
    EXPECT_EQ(std::get<double>(*rb.columns[2].values[0]), 0.25);
    auto full = a;
    full.full_feature_names = true;
    ASSERT_OK_AND_ASSIGN(auto rf, serving_->Get(full));
    EXPECT_EQ(rf.feature_names[1], "driver_stats__conv_rate");
    auto service = a;
    service.features.clear();
    service.feature_service = "eta_model";
    ASSERT_OK(serving_->Get(service).status());
    service.features = {"driver_stats:trips"};  // both: an error, whatever the cache holds
    auto both = serving_->Get(service);
    ASSERT_FALSE(both.ok());
    EXPECT_NE(both.status().message().find("not both"), std::string::npos) << both.status().message();
    auto wrong = a;
    wrong.entities[0].first = "rider_id";
    auto bad = serving_->Get(wrong);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("unknown entity key 'rider_id'"), std::string::npos)
        << bad.status().message();
  }
}

// ---- the oracle --------------------------------------------------------------------------

struct ModelRow {
  int64_t ts;
  std::map<std::string, FeatureValue> values;
};

FeatureValue RandomValue(std::mt19937_64& rng, FeatureType t) {
  if (rng() % 10 == 0) return FeatureValue{};
  switch (t) {
    case FeatureType::kInt64: return FeatureValue(static_cast<int64_t>(rng() % 1000) - 500);
    case FeatureType::kFloat64: return FeatureValue(static_cast<double>(rng() % 100000) / 7.0);
    case FeatureType::kString: return FeatureValue("s" + std::to_string(rng() % 1000));
    case FeatureType::kBool: return FeatureValue(rng() % 2 == 0);
    case FeatureType::kFloatList:
      return FeatureValue(std::vector<float>(rng() % 4, static_cast<float>(rng() % 100) / 3.0f));
    default: return FeatureValue{};
  }
}

TEST_F(OnlineServingTest, RandomAgainstBruteForce) {
  std::mt19937_64 rng(42);
  auto repo = MakeRepo();
  // model[view][encoded key]
  std::map<std::string, std::map<std::string, ModelRow>> model;
  for (const auto& v : repo->feature_views) {
    for (int e = 0; e < 300; ++e) {
      if (rng() % 3 == 0) continue;  // absent
      int64_t driver = e % 60;
      std::string customer = "c" + std::to_string(e % 23);
      std::string key;
      if (v.name == "driver_stats") {
        key = online::EncodeEntityKey("driver_id", driver);
      } else if (v.name == "customer_profile") {
        key = online::EncodeEntityKey("customer_id", customer);
      } else {
        std::vector<online::JoinKey> k = {{"driver_id", driver}, {"customer_id", customer}};
        key = *online::EncodeEntityKey(k);
      }
      ModelRow row;
      row.ts = kNow - static_cast<int64_t>(rng() % (3 * kHour));
      if (model[v.name].count(key) && model[v.name][key].ts > row.ts) continue;
      online::RowBatch b;
      for (const auto& f : v.features) {
        if (rng() % 8 == 0) continue;  // the row lacks this feature
        b.feature_names.push_back(f.name);
        FeatureValue val = RandomValue(rng, f.type);
        row.values[f.name] = val;
      }
      if (b.feature_names.empty()) continue;
      online::OnlineRow r{key, row.ts, {}, {}};
      for (const auto& n : b.feature_names) r.values.push_back(row.values[n]);
      b.rows.push_back(std::move(r));
      ASSERT_OK(store_->WriteBatch(v.name, b));
      model[v.name][key] = std::move(row);
    }
  }

  std::vector<std::string> all_refs;
  for (const auto& v : repo->feature_views) {
    for (const auto& f : v.features) all_refs.push_back(v.name + ":" + f.name);
  }
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<std::string> refs;
    for (const auto& ref : all_refs) {
      if (rng() % 3 == 0) refs.push_back(ref);
    }
    if (refs.empty()) refs.push_back(all_refs[rng() % all_refs.size()]);
    std::shuffle(refs.begin(), refs.end(), rng);
    size_t n = 1 + rng() % 40;
    OnlineRequest req;
    req.features = refs;
    req.full_feature_names = true;
    req.now_us = kNow + static_cast<int64_t>(rng() % kHour);
    std::vector<JoinKeyValue> drivers, customers;
    for (size_t i = 0; i < n; ++i) {
      drivers.emplace_back(static_cast<int64_t>(rng() % 70));
      customers.emplace_back("c" + std::to_string(rng() % 25));
    }
    req.entities = {{"driver_id", drivers}, {"customer_id", customers}};
    ASSERT_OK_AND_ASSIGN(auto resp, serving_->Get(req));
    ASSERT_EQ(resp.columns.size(), refs.size() + 2);
    ASSERT_EQ(resp.num_rows, n);
    for (size_t c = 0; c < refs.size(); ++c) {
      std::string view = refs[c].substr(0, refs[c].find(':'));
      std::string feature = refs[c].substr(refs[c].find(':') + 1);
      ASSERT_EQ(resp.feature_names[c + 2], view + "__" + feature);
      const FeatureView* fv = repo->FindView(view);
      const auto& col = resp.columns[c + 2];
      for (size_t i = 0; i < n; ++i) {
        std::string key;
        if (view == "driver_stats") {
          key = online::EncodeEntityKey("driver_id", std::get<int64_t>(drivers[i]));
        } else if (view == "customer_profile") {
          key = online::EncodeEntityKey("customer_id", std::get<std::string>(customers[i]));
        } else {
          std::vector<online::JoinKey> k = {{"driver_id", drivers[i]}, {"customer_id", customers[i]}};
          key = *online::EncodeEntityKey(k);
        }
        FeatureStatus want = FeatureStatus::kNotFound;
        std::optional<FeatureValue> want_value;
        int64_t want_ts = 0;
        auto it = model[view].find(key);
        if (it != model[view].end()) {
          const ModelRow& row = it->second;
          if (fv->ttl_us && row.ts < *req.now_us - *fv->ttl_us) {
            want = FeatureStatus::kOutsideMaxAge;
            want_ts = row.ts;
          } else if (row.values.count(feature)) {
            want = FeatureStatus::kPresent;
            want_value = row.values.at(feature);
            want_ts = row.ts;
          }
        }
        ASSERT_EQ(col.statuses[i], want) << refs[c] << " row " << i << " iter " << iter;
        ASSERT_EQ(col.event_ts_us[i], want_ts) << refs[c] << " row " << i;
        ASSERT_EQ(col.values[i].has_value(), want_value.has_value()) << refs[c] << " row " << i;
        if (want_value) {
          ASSERT_TRUE(online::SameValue(*col.values[i], *want_value));
        }
      }
    }
  }
}

}  // namespace
}  // namespace strata::features
