// Online store latency: batch reads of 100 entities (the feature server's request) and batch
// writes (materialization), on RocksDB and on a private local redis-server.
//   ninja strata_online_bench && ./cpp/src/strata/online/strata_online_bench

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

#include <benchmark/benchmark.h>

#include "strata/online/online_store.h"
#include "strata/online/redis_store.h"
#include "strata/online/redis_test_server.h"
#include "strata/online/rocksdb_store.h"
#include "strata/testing/gtest_util.h"

namespace strata::online {
namespace {

constexpr int kEntities = 100'000;
const std::vector<std::string> kFeatures = {"conv_rate", "acc_rate", "avg_daily_trips", "city",
                                            "f4", "f5", "f6", "f7", "f8", "f9"};

std::string Key(int64_t id) { return EncodeEntityKey("driver_id", id); }

void Die(const Status& st) {
  std::fprintf(stderr, "setup failed: %s\n", st.ToString().c_str());
  std::exit(1);
}

Status Fill(OnlineStore* store) {
  std::mt19937 rng(1);
  for (int start = 0; start < kEntities; start += 1000) {
    RowBatch b{kFeatures, {}};
    for (int i = start; i < start + 1000; ++i) {
      OnlineRow r;
      r.entity_key = Key(i);
      r.event_ts = 1'700'000'000'000'000 + i;
      r.values = {rng() / 4e9, rng() / 4e9, static_cast<int64_t>(rng() % 100), std::string("Amsterdam"),
                  1.0, 2.0, int64_t{3}, int64_t{4}, std::string("x"), true};
      b.rows.push_back(std::move(r));
    }
    ARROW_RETURN_NOT_OK(store->WriteBatch("driver_stats", b));
  }
  return Status::OK();
}

struct Env {
  strata::testing::TempDir dir;
  std::unique_ptr<OnlineStore> rocksdb;
  std::unique_ptr<OnlineStore> rocksdb_secondary;
  std::unique_ptr<OnlineStore> rocksdb_memtable;
  std::unique_ptr<testing::RedisTestServer> redis_server;
  std::unique_ptr<OnlineStore> redis;
};

Env& GetEnv() {
  static Env* env = [] {
    auto* e = new Env;
    RocksDbOptions o;
    o.path = e->dir.path() + "/online";
    auto r = OpenRocksDbStore(o);
    if (!r.ok()) Die(r.status());
    e->rocksdb = std::move(*r);
    if (auto st = Fill(e->rocksdb.get()); !st.ok()) Die(st);
    // Reopening replays the log into a table file: the state a server reads after a
    // materialization (BM_RocksDbMemtableRead measures rows still in the memtable).
    if (auto st = e->rocksdb->Close(); !st.ok()) Die(st);
    r = OpenRocksDbStore(o);
    if (!r.ok()) Die(r.status());
    e->rocksdb = std::move(*r);
    RocksDbOptions m = o;
    m.path = e->dir.path() + "/memtable";
    auto mem = OpenRocksDbStore(m);
    if (!mem.ok()) Die(mem.status());
    e->rocksdb_memtable = std::move(*mem);
    if (auto st = Fill(e->rocksdb_memtable.get()); !st.ok()) Die(st);
    o.mode = RocksDbOptions::Mode::kSecondary;
    auto sec = OpenRocksDbStore(o);
    if (!sec.ok()) Die(sec.status());
    e->rocksdb_secondary = std::move(*sec);
    auto server = testing::RedisTestServer::Start();
    if (server.ok()) {
      e->redis_server = std::move(*server);
      RedisOptions ro;
      ro.url = e->redis_server->url();
      auto red = OpenRedisStore(ro);
      if (!red.ok()) Die(red.status());
      e->redis = std::move(*red);
      if (auto st = Fill(e->redis.get()); !st.ok()) Die(st);
    } else {
      std::fprintf(stderr, "no redis: %s\n", server.status().ToString().c_str());
    }
    return e;
  }();
  return *env;
}

void ReadBatch(benchmark::State& state, OnlineStore* store) {
  if (store == nullptr) {
    state.SkipWithError("store not available");
    return;
  }
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<std::string> features(kFeatures.begin(), kFeatures.begin() + state.range(1));
  std::mt19937 rng(2);
  // Many distinct batches, so that the cache state resembles a server's.
  std::vector<std::vector<std::string>> batches(64);
  for (auto& b : batches) {
    for (size_t i = 0; i < n; ++i) b.push_back(Key(rng() % kEntities));
  }
  ReadOptions ro;
  ro.ttl_micros = int64_t{3600} * 1'000'000 * 24 * 365 * 100;
  size_t i = 0;
  for (auto _ : state) {
    auto r = store->Read("driver_stats", batches[i++ % batches.size()], features, ro);
    if (!r.ok() || r->statuses[0] != FeatureStatus::kPresent) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

void BM_RocksDbRead(benchmark::State& state) { ReadBatch(state, GetEnv().rocksdb.get()); }
void BM_RocksDbSecondaryRead(benchmark::State& state) {
  ReadBatch(state, GetEnv().rocksdb_secondary.get());
}
void BM_RocksDbMemtableRead(benchmark::State& state) {
  ReadBatch(state, GetEnv().rocksdb_memtable.get());
}
void BM_RedisRead(benchmark::State& state) { ReadBatch(state, GetEnv().redis.get()); }

void WriteBatch(benchmark::State& state, OnlineStore* store) {
  if (store == nullptr) {
    state.SkipWithError("store not available");
    return;
  }
  const int n = static_cast<int>(state.range(0));
  int64_t ts = 1'800'000'000'000'000;
  int start = 0;
  for (auto _ : state) {
    RowBatch b{kFeatures, {}};
    for (int i = 0; i < n; ++i) {
      OnlineRow r;
      r.entity_key = Key((start + i) % kEntities);
      r.event_ts = ts;
      r.values = {0.5, 0.25, int64_t{7}, std::string("Amsterdam"), 1.0, 2.0, int64_t{3},
                  int64_t{4}, std::string("x"), true};
      b.rows.push_back(std::move(r));
    }
    ++ts;
    start += n;
    if (!store->WriteBatch("driver_stats_w", b).ok()) {
      state.SkipWithError("write failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

void BM_RocksDbWrite(benchmark::State& state) { WriteBatch(state, GetEnv().rocksdb.get()); }
void BM_RedisWrite(benchmark::State& state) { WriteBatch(state, GetEnv().redis.get()); }

// Decoding alone: 100 stored rows of 10 features, 5 wanted (the CPU part of a read).
void BM_DecodeRows(benchmark::State& state) {
  std::vector<std::string> rows(100);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::vector<FeatureValue> values = {0.5, 0.25, int64_t{7}, std::string("Amsterdam"), 1.0, 2.0,
                                        int64_t{3}, int64_t{4}, std::string("x"), true};
    EncodeRow(RowVersion{static_cast<int64_t>(i), std::nullopt}, kFeatures, values, &rows[i]);
  }
  const std::vector<std::string> wanted(kFeatures.begin(), kFeatures.begin() + 5);
  std::vector<std::optional<FeatureValue>> out(rows.size() * wanted.size());
  for (auto _ : state) {
    FeatureSelector selector(wanted);
    for (size_t i = 0; i < rows.size(); ++i) {
      auto st = DecodeRowFeatures(rows[i], &selector, out.data() + i * wanted.size());
      benchmark::DoNotOptimize(st);
    }
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_DecodeRows)->Unit(benchmark::kMicrosecond);

// Args: keys per read, features per read.
BENCHMARK(BM_RocksDbRead)->Args({1, 5})->Args({100, 5})->Args({100, 10})->Args({1000, 5})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RocksDbMemtableRead)->Args({100, 5})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RocksDbSecondaryRead)->Args({100, 5})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RedisRead)->Args({1, 5})->Args({100, 5})->Args({100, 10})->Args({1000, 5})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RocksDbWrite)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RedisWrite)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace strata::online

BENCHMARK_MAIN();
