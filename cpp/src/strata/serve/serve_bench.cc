// CPU per feature-server request outside the network: parsing the body, retrieval (plan, key
// encoding, RocksDB read, TTL statuses) and rendering, for the benchmark's request shape (1 entity,
// 10 features of one view) over a store of 200,000 entities.
//   ninja strata_serve_bench && ./cpp/src/strata/serve/strata_serve_bench

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "strata/features/online_serving.h"
#include "strata/online/key.h"
#include "strata/online/rocksdb_store.h"
#include "strata/serve/request.h"
#include "strata/serve/response.h"
#include "strata/testing/gtest_util.h"

namespace strata::serve {
namespace {

constexpr int64_t kEntities = 200'000;

void Die(const Status& st) {
  std::fprintf(stderr, "setup failed: %s\n", st.ToString().c_str());
  std::exit(1);
}

std::string Body(int64_t id) {
  std::string b = R"({"features": [)";
  for (int i = 0; i < 10; ++i) b += (i ? ", " : "") + std::string("\"stats:f") + std::to_string(i) + "\"";
  return b + R"(], "entities": {"driver_id": [)" + std::to_string(id) + "]}}";
}

struct Env {
  strata::testing::TempDir dir;
  std::shared_ptr<features::OnlineServing> serving;
};

Env& GetEnv() {
  static Env* env = [] {
    auto* e = new Env;
    auto repo = std::make_shared<features::Repository>();
    repo->root = e->dir.path();
    repo->project = "bench";
    repo->entities = {features::Entity{"driver", {features::Field{"driver_id", features::FeatureType::kInt64, ""}}, "", {}}};
    features::FeatureView v;
    v.name = "stats";
    v.entities = {"driver"};
    v.source = "s";
    std::vector<std::string> names;
    for (int i = 0; i < 10; ++i) {
      auto type = i < 5 ? features::FeatureType::kFloat64 : i < 9 ? features::FeatureType::kInt64 : features::FeatureType::kString;
      v.features.push_back(features::Field{"f" + std::to_string(i), type, ""});
      names.push_back("f" + std::to_string(i));
    }
    repo->feature_views = {v};
    online::RocksDbOptions o;
    o.path = e->dir.path() + "/online";
    auto store = online::OpenRocksDbStore(o);
    if (!store.ok()) Die(store.status());
    std::mt19937_64 rng(1);
    for (int64_t start = 0; start < kEntities; start += 10'000) {
      online::RowBatch b{names, {}};
      for (int64_t id = start; id < start + 10'000; ++id) {
        online::OnlineRow r;
        r.entity_key = online::EncodeEntityKey("driver_id", id);
        r.event_ts = 1'700'000'000'000'000 + id;
        for (int i = 0; i < 5; ++i) r.values.emplace_back(static_cast<double>(rng() % 1000) / 7.0);
        for (int i = 0; i < 4; ++i) r.values.emplace_back(static_cast<int64_t>(rng() % 1000));
        r.values.emplace_back("city-" + std::to_string(rng() % 100));
        b.rows.push_back(std::move(r));
      }
      if (auto st = (*store)->WriteBatch("stats", b); !st.ok()) Die(st);
    }
    if (auto st = (*store)->Close(); !st.ok()) Die(st);
    store = online::OpenRocksDbStore(o);
    if (!store.ok()) Die(store.status());
    auto serving = features::OnlineServing::Make(repo, std::shared_ptr<online::OnlineStore>(std::move(*store)));
    if (!serving.ok()) Die(serving.status());
    e->serving = std::move(*serving);
    return e;
  }();
  return *env;
}

void BM_Parse(benchmark::State& state) {
  const std::string body = Body(12345);
  for (auto _ : state) {
    auto r = ParseOnlineRequest(body);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Parse);

void BM_Get(benchmark::State& state) {
  auto& env = GetEnv();
  auto req = ParseOnlineRequest(Body(1));
  if (!req.ok()) Die(req.status());
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    req->entities[0].second[0] = static_cast<int64_t>(rng() % kEntities);
    auto r = env.serving->Get(*req);
    if (!r.ok()) Die(r.status());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Get);

void BM_Render(benchmark::State& state) {
  auto& env = GetEnv();
  auto req = ParseOnlineRequest(Body(7));
  if (!req.ok()) Die(req.status());
  auto res = env.serving->Get(*req);
  if (!res.ok()) Die(res.status());
  std::string out;
  for (auto _ : state) {
    out.clear();
    RenderOnlineResponse(*res, &out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_Render);

void BM_ParseGetRender(benchmark::State& state) {
  auto& env = GetEnv();
  std::mt19937_64 rng(3);
  std::string out;
  for (auto _ : state) {
    auto req = ParseOnlineRequest(Body(static_cast<int64_t>(rng() % kEntities)));
    auto res = env.serving->Get(*req);
    out.clear();
    RenderOnlineResponse(*res, &out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_ParseGetRender);

}  // namespace
}  // namespace strata::serve

BENCHMARK_MAIN();
