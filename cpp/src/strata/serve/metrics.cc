#include "strata/serve/metrics.h"

#include <cstdio>

namespace strata::serve {

const char* EndpointLabel(Endpoint e) {
  switch (e) {
    case Endpoint::kGetOnlineFeatures: return "/get-online-features";
    case Endpoint::kHealth: return "/health";
    case Endpoint::kMetrics: return "/metrics";
    case Endpoint::kOther: return "other";
  }
  return "other";
}

void Metrics::RecordRequest(Endpoint endpoint, int status, int64_t nanos) {
  PerEndpoint& e = endpoints_[static_cast<size_t>(endpoint)];
  if (status >= kMinStatus && status <= kMaxStatus) {
    e.by_status[static_cast<size_t>(status - kMinStatus)].fetch_add(1, std::memory_order_relaxed);
  }
  const double seconds = static_cast<double>(nanos) * 1e-9;
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  e.buckets[b].fetch_add(1, std::memory_order_relaxed);
  e.sum_nanos.fetch_add(nanos, std::memory_order_relaxed);
  e.count.fetch_add(1, std::memory_order_relaxed);
}

int64_t Metrics::requests(Endpoint endpoint, int status) const {
  if (status < kMinStatus || status > kMaxStatus) return 0;
  return endpoints_[static_cast<size_t>(endpoint)]
      .by_status[static_cast<size_t>(status - kMinStatus)]
      .load(std::memory_order_relaxed);
}

namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace

std::string Metrics::Render(int64_t registry_version, double start_time_s,
                            const std::string& store) const {
  std::string out;
  out.reserve(4096);
  out +=
      "# HELP strata_requests_total HTTP requests answered, by path and status code.\n"
      "# TYPE strata_requests_total counter\n";
  for (size_t p = 0; p < kNumEndpoints; ++p) {
    const char* label = EndpointLabel(static_cast<Endpoint>(p));
    for (int s = kMinStatus; s <= kMaxStatus; ++s) {
      int64_t n = endpoints_[p].by_status[static_cast<size_t>(s - kMinStatus)].load(
          std::memory_order_relaxed);
      if (n == 0) continue;
      out += "strata_requests_total{path=\"" + std::string(label) + "\",code=\"" +
             std::to_string(s) + "\"} " + std::to_string(n) + "\n";
    }
  }
  out +=
      "# HELP strata_request_duration_seconds Time from a complete request to its response, by path.\n"
      "# TYPE strata_request_duration_seconds histogram\n";
  for (size_t p = 0; p < kNumEndpoints; ++p) {
    const PerEndpoint& e = endpoints_[p];
    const std::string label = EndpointLabel(static_cast<Endpoint>(p));
    int64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += e.buckets[b].load(std::memory_order_relaxed);
      const std::string le = b < kBuckets.size() ? Num(kBuckets[b]) : "+Inf";
      out += "strata_request_duration_seconds_bucket{path=\"" + label + "\",le=\"" + le + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    out += "strata_request_duration_seconds_sum{path=\"" + label + "\"} " +
           Num(static_cast<double>(e.sum_nanos.load(std::memory_order_relaxed)) * 1e-9) + "\n";
    out += "strata_request_duration_seconds_count{path=\"" + label + "\"} " +
           std::to_string(e.count.load(std::memory_order_relaxed)) + "\n";
  }
  auto counter = [&](const char* name, const char* help, const std::string& labels, int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
           labels + " " + std::to_string(v) + "\n";
  };
  auto gauge = [&](const char* name, const char* help, const std::string& v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
           " " + v + "\n";
  };
  const std::string store_label = "{store=\"" + store + "\"}";
  counter("strata_store_errors_total", "Online store reads that failed.", store_label,
          store_errors_.load(std::memory_order_relaxed));
  counter("strata_store_refresh_errors_total",
          "Failed catch-ups of a read-only store with its writer.", store_label,
          refresh_errors_.load(std::memory_order_relaxed));
  counter("strata_entities_served_total", "Entity rows answered.", "",
          entities_.load(std::memory_order_relaxed));
  counter("strata_feature_values_served_total", "Feature values answered (rows x features).", "",
          values_.load(std::memory_order_relaxed));
  counter("strata_connections_total", "TCP connections accepted.", "",
          connections_total_.load(std::memory_order_relaxed));
  gauge("strata_connections_open", "TCP connections open now.",
        std::to_string(connections_open_.load(std::memory_order_relaxed)));
  gauge("strata_registry_version", "The applied registry version served.",
        std::to_string(registry_version));
  gauge("strata_start_time_seconds", "Server start time, seconds since the epoch.",
        [&] {
          char buf[64];
          std::snprintf(buf, sizeof(buf), "%.3f", start_time_s);
          return std::string(buf);
        }());
  return out;
}

}  // namespace strata::serve
