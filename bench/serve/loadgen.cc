// Open-loop HTTP load generator for the feature server benchmark (bench_serve.py builds it with
// g++ and Boost.Beast). wrk measures at a fixed concurrency; this sends at a fixed *rate*: request
// k of connection c is due at start + (k * C + c) / rate, whatever happened before, and its latency
// is measured from that due time (so a stall is charged to every request it delays: no coordinated
// omission, as in wrk2). One thread, one io_context, C keep-alive connections.
//
//   loadgen --port P --rate 10000 --seconds 10 --connections 32 --entities 1000000 --batch 1
//           --features '["stats:f0", ...]' [--host 127.0.0.1] [--warmup 2]
//
// Prints one JSON object: sent, ok, errors, achieved rate, latency percentiles in microseconds.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 6566;
  double rate = 1000;
  double seconds = 10;
  double warmup = 2;
  int connections = 32;
  int64_t entities = 1000000;
  int batch = 1;
  std::string features = "[]";
};

struct Stats {
  std::vector<double> latency_us;  // measured requests only
  int64_t sent = 0, ok = 0, errors = 0;
};

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(asio::io_context& ioc, const Options& o, int index, Clock::time_point start, Clock::time_point measure_from,
       Clock::time_point end, Stats* stats)
      : socket_(ioc), timer_(ioc), o_(o), index_(index), start_(start), measure_from_(measure_from), end_(end),
        stats_(stats), rng_(1234 + index) {}

  void Start(const tcp::endpoint& ep) {
    beast::error_code ec;
    socket_.connect(ep, ec);
    if (ec) {
      std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
      std::exit(1);
    }
    socket_.set_option(tcp::no_delay(true));
    Schedule();
  }

 private:
  Clock::time_point Due(int64_t k) const {
    double t = (static_cast<double>(k) * o_.connections + index_) / o_.rate;
    return start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t));
  }

  void Schedule() {
    due_ = Due(k_++);
    if (due_ >= end_) return;
    timer_.expires_at(due_);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Send();
    });
  }

  void Send() {
    std::uniform_int_distribution<int64_t> id(1, o_.entities);
    std::string body = "{\"features\":" + o_.features + ",\"entities\":{\"driver_id\":[";
    for (int i = 0; i < o_.batch; ++i) {
      if (i) body += ',';
      body += std::to_string(id(rng_));
    }
    body += "]}}";
    req_ = {http::verb::post, "/get-online-features", 11};
    req_.set(http::field::host, o_.host);
    req_.set(http::field::content_type, "application/json");
    req_.body() = std::move(body);
    req_.prepare_payload();
    ++stats_->sent;
    http::async_write(socket_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail(ec);
      self->res_ = {};
      http::async_read(self->socket_, self->buffer_, self->res_, [self](beast::error_code ec, size_t) {
        if (ec) return self->Fail(ec);
        auto now = Clock::now();
        if (self->res_.result_int() == 200) {
          ++self->stats_->ok;
        } else {
          ++self->stats_->errors;
        }
        if (self->due_ >= self->measure_from_) {
          self->stats_->latency_us.push_back(std::chrono::duration<double, std::micro>(now - self->due_).count());
        }
        self->Schedule();
      });
    });
  }

  void Fail(beast::error_code ec) {
    ++stats_->errors;
    std::fprintf(stderr, "connection %d: %s\n", index_, ec.message().c_str());
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  const Options& o_;
  int index_;
  Clock::time_point start_, measure_from_, end_, due_;
  Stats* stats_;
  std::mt19937_64 rng_;
  int64_t k_ = 0;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

double Pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(std::max(0.0, std::ceil(p / 100.0 * v.size()) - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = std::stoi(v);
    else if (k == "--rate") o.rate = std::stod(v);
    else if (k == "--seconds") o.seconds = std::stod(v);
    else if (k == "--warmup") o.warmup = std::stod(v);
    else if (k == "--connections") o.connections = std::stoi(v);
    else if (k == "--entities") o.entities = std::stoll(v);
    else if (k == "--batch") o.batch = std::stoi(v);
    else if (k == "--features") o.features = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  asio::io_context ioc(1);
  tcp::endpoint ep(asio::ip::make_address(o.host), static_cast<unsigned short>(o.port));
  Stats stats;
  auto start = Clock::now() + std::chrono::milliseconds(100);
  auto measure_from = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
  auto end = measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<std::shared_ptr<Conn>> conns;
  for (int c = 0; c < o.connections; ++c) {
    conns.push_back(std::make_shared<Conn>(ioc, o, c, start, measure_from, end, &stats));
    conns.back()->Start(ep);
  }
  ioc.run();
  auto& l = stats.latency_us;
  size_t measured = l.size();
  double mean = 0;
  for (double x : l) mean += x;
  mean = measured ? mean / measured : 0;
  double p50 = Pct(l, 50), p90 = Pct(l, 90), p99 = Pct(l, 99), p999 = Pct(l, 99.9), max = Pct(l, 100);
  std::printf(
      "{\"target_rate\": %.1f, \"achieved_rate\": %.1f, \"sent\": %lld, \"ok\": %lld, \"errors\": %lld, "
      "\"measured\": %zu, \"mean_us\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
      "\"p999_us\": %.1f, \"max_us\": %.1f}\n",
      o.rate, measured / o.seconds, static_cast<long long>(stats.sent), static_cast<long long>(stats.ok),
      static_cast<long long>(stats.errors), measured, mean, p50, p90, p99, p999, max);
  return stats.errors == 0 ? 0 : 1;
}
