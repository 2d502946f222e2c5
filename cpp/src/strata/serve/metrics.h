/// \file
/// The feature server's counters, rendered in the Prometheus text format (version 0.0.4) for
/// `GET /metrics`. Every update is a relaxed atomic add on a fixed slot (no locks, no
/// allocation), so counting costs the request path a few nanoseconds.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace strata::serve {

/// The paths counted separately; anything else is kOther.
enum class Endpoint : uint8_t { kGetOnlineFeatures, kHealth, kMetrics, kOther };
constexpr size_t kNumEndpoints = 4;
/// "/get-online-features", "/health", "/metrics", "other".
const char* EndpointLabel(Endpoint e);

class Metrics {
 public:
  /// Upper bounds of the latency histogram's buckets, in seconds (+Inf is implicit).
  static constexpr std::array<double, 14> kBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                      0.0025,  0.005,  0.01,    0.025,  0.05,
                                                      0.1,     0.25,   1.0,     5.0};

  /// One answered request: its endpoint, HTTP status and handling time.
  void RecordRequest(Endpoint endpoint, int status, int64_t nanos);
  void AddEntities(int64_t rows) { entities_.fetch_add(rows, std::memory_order_relaxed); }
  void AddValues(int64_t values) { values_.fetch_add(values, std::memory_order_relaxed); }
  void AddStoreError() { store_errors_.fetch_add(1, std::memory_order_relaxed); }
  void AddRefreshError() { refresh_errors_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionOpened() {
    connections_total_.fetch_add(1, std::memory_order_relaxed);
    connections_open_.fetch_add(1, std::memory_order_relaxed);
  }
  void ConnectionClosed() { connections_open_.fetch_sub(1, std::memory_order_relaxed); }

  int64_t requests(Endpoint endpoint, int status) const;
  int64_t store_errors() const { return store_errors_.load(std::memory_order_relaxed); }
  int64_t connections_open() const { return connections_open_.load(std::memory_order_relaxed); }

  /// The Prometheus exposition text. `registry_version` and `start_time_s` are gauges the
  /// server knows; `store` labels the store errors.
  std::string Render(int64_t registry_version, double start_time_s, const std::string& store) const;

 private:
  static constexpr int kMinStatus = 100, kMaxStatus = 599;
  struct PerEndpoint {
    std::array<std::atomic<int64_t>, kMaxStatus - kMinStatus + 1> by_status{};
    std::array<std::atomic<int64_t>, kBuckets.size() + 1> buckets{};  // non-cumulative
    std::atomic<int64_t> sum_nanos{0};
    std::atomic<int64_t> count{0};
  };
  std::array<PerEndpoint, kNumEndpoints> endpoints_{};
  std::atomic<int64_t> entities_{0};
  std::atomic<int64_t> values_{0};
  std::atomic<int64_t> store_errors_{0};
  std::atomic<int64_t> refresh_errors_{0};
  std::atomic<int64_t> connections_total_{0};
  std::atomic<int64_t> connections_open_{0};
};

}  // namespace strata::serve
