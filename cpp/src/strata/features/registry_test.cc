#include "strata/features/registry.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace strata::features {
namespace {

namespace fs = std::filesystem;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("strata_registry_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Write("strata.yaml", "project: rides\nonline: {type: rocksdb, path: online}\n");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  fs::path dir_;
};

constexpr const char* kDefs = R"(entities:
  - name: driver
    join_keys: [{name: driver_id, type: int64}]
sources:
  - name: driver_hourly
    table: data/driver_hourly
    timestamp_field: event_timestamp
    created_timestamp_field: created
feature_views:
  - name: driver_stats
    entities: [driver]
    source: driver_hourly
    ttl: 2h
    tags: {team: eta}
    features: [{name: conv_rate, type: float64}, {name: trips, type: int64}]
on_demand_feature_views:
  - name: adjusted
    sources: [driver_stats]
    request: [{name: bonus, type: float64}]
    features: [{name: score, type: float64, expression: "conv_rate * 10 + bonus"}]
feature_services:
  - name: eta_model
    features: ["driver_stats:conv_rate", "driver_stats:trips", "adjusted"]
)";

TEST_F(RegistryTest, LoadsAndRoundTripsThroughJson) {
  Write("features.yaml", kDefs);
  auto repo = LoadRepository(dir_.string());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  EXPECT_EQ(repo->project, "rides");
  EXPECT_EQ(repo->online.path, (dir_ / "online").string());
  ASSERT_EQ(repo->feature_views.size(), 1u);
  EXPECT_EQ(repo->feature_views[0].ttl_us, int64_t{2} * 3600 * 1000000);
  EXPECT_EQ(repo->feature_views[0].location.ToString(), "features.yaml:10");
  EXPECT_EQ(repo->sources[0].table_uri, (dir_ / "data/driver_hourly").string());
  auto refs = repo->ServiceRefs("eta_model");
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), 3u);
  EXPECT_TRUE((*refs)[2].on_demand);
  EXPECT_EQ((*refs)[2].ToString(), "adjusted:score");

  auto back = RepositoryFromJson(repo->ToJson(), repo->root);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), repo->ToJson());
  EXPECT_EQ(back->feature_views[0].location.ToString(), "features.yaml:10");
  EXPECT_TRUE(PlanChanges(&*repo, *back).empty());
}

// The server polls TableVersion to learn of a new apply without reading the registry.
TEST_F(RegistryTest, TableVersionChangesWithEveryCommit) {
  Write("features.yaml", kDefs);
  auto repo = LoadRepository(dir_.string());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  RegistryStore store(dir_.string());
  auto none = store.TableVersion();
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, -1);
  int64_t last = -1;
  for (int i = 0; i < 3; ++i) {
    auto committed = store.Commit(*repo, {});
    ASSERT_TRUE(committed.ok()) << committed.status().ToString();
    auto v = store.TableVersion();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_GT(*v, last);
    last = *v;
    auto latest = store.Latest();
    ASSERT_TRUE(latest.ok() && latest->has_value());
    EXPECT_EQ((*latest)->version, *committed);
  }
}

TEST_F(RegistryTest, StoredLocationWithAnOutOfRangeLineIsAnError) {
  // Found by registry_fuzz: the line number of a stored `_location` went through std::stoi, which
  // throws past INT_MAX.
  Write("features.yaml", kDefs);
  auto repo = LoadRepository(dir_.string());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  std::string json = repo->ToJson();
  const std::string from = "features.yaml:10\"";
  const size_t at = json.find(from);
  ASSERT_NE(at, std::string::npos) << json;
  json.replace(at, from.size(), "features.yaml:99999999999999999999\"");
  auto back = RepositoryFromJson(json, repo->root);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("out of range"), std::string::npos) << back.status().ToString();
}

TEST_F(RegistryTest, ErrorsNameFileAndLine) {
  struct Case {
    std::string yaml, expect;
  };
  std::string base = kDefs;
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  std::vector<Case> cases = {
      {replace("source: driver_hourly\n    ttl", "source: nope\n    ttl"), "features.yaml:10: feature view 'driver_stats': unknown source 'nope'"},
      {replace("entities: [driver]", "entities: [rider]"), "features.yaml:10: feature view 'driver_stats': unknown entity 'rider'"},
      {replace("ttl: 2h", "ttl: 2x"), "features.yaml:13: feature view 'driver_stats': ttl '2x' has an unknown unit"},
      {replace("type: int64}]\nsources", "type: float64}]\nsources"), "join keys are int64 or string"},
      {replace("tags: {team: eta}", "colour: red"), "features.yaml:14: unknown key 'colour' in feature view"},
      {replace("\"driver_stats:trips\"", "\"driver_stats:tripz\""), "features.yaml:22: feature service 'eta_model': unknown feature 'tripz'"},
      {replace("{name: trips, type: int64}", "{name: trips, type: int65}"), "unknown type 'int65'"},
      {base + "  - name: eta_model\n    features: [driver_stats]\n", "features.yaml:24: duplicate feature_service 'eta_model' (first declared at features.yaml:22)"},
      {"entities: [{name: x, join_keys: [{name: id, type: int64}]\n", "features.yaml:2: invalid YAML"},
  };
  for (const auto& c : cases) {
    Write("features.yaml", c.yaml);
    auto repo = LoadRepository(dir_.string());
    ASSERT_FALSE(repo.ok()) << c.expect;
    EXPECT_NE(repo.status().message().find(c.expect), std::string::npos)
        << "got: " << repo.status().message() << "\nwant: " << c.expect;
  }
}

TEST_F(RegistryTest, PlanListsChanges) {
  Write("features.yaml", kDefs);
  auto a = LoadRepository(dir_.string());
  ASSERT_TRUE(a.ok());
  auto first = PlanChanges(nullptr, *a);
  EXPECT_EQ(first.size(), 5u);
  std::string changed = kDefs;
  changed.replace(changed.find("ttl: 2h"), 7, "ttl: 3h");
  changed.replace(changed.find("{name: trips, type: int64}"), 26, "{name: trips, type: int64}, {name: rating, type: float32}");
  changed.replace(changed.find("feature_services:"), std::string::npos, "");
  Write("features.yaml", changed);
  auto b = LoadRepository(dir_.string());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto plan = PlanChanges(&*a, *b);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].ToString(), "~ feature_view driver_stats (ttl 2h -> 3h; +feature rating)");
  EXPECT_EQ(plan[1].ToString(), "- feature_service eta_model");
}

}  // namespace
}  // namespace strata::features
