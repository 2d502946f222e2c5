// Open-loop HTTP load generator for the feature server benchmark (bench_serve.py builds it with
// g++ and Boost.Beast). wrk measures at a fixed concurrency; this sends at a fixed *rate*: request
// k of connection c is due at start + (k * C + c) / rate, whatever happened before, and its latency
// is measured from that due time (so a stall is charged to every request it delays: no coordinated
// omission, as in wrk2). One thread, one io_context, C keep-alive connections.
//
// Client and server share the machine's cores, so the client's own CPU per request delays the
// server's: like wrk, it formats requests into one buffer per connection and reads responses with
// a minimal HTTP/1.1 parser (status line, Content-Length, body), about half the CPU per request
// of a Boost.Beast client. A response that is not "200" with a complete body counts as an error.
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
#include <string_view>
#include <cctype>
#include <vector>

#include <boost/asio.hpp>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
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
    error_code ec;
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
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->Send();
    });
  }

  void Send() {
    std::uniform_int_distribution<int64_t> id(1, o_.entities);
    body_ = "{\"features\":" + o_.features + ",\"entities\":{\"driver_id\":[";
    for (int i = 0; i < o_.batch; ++i) {
      if (i) body_ += ',';
      body_ += std::to_string(id(rng_));
    }
    body_ += "]}}";
    out_ = "POST /get-online-features HTTP/1.1\r\nHost: " + o_.host +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body_.size()) +
           "\r\n\r\n" + body_;
    ++stats_->sent;
    in_.clear();
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](error_code ec, size_t) {
      if (ec) return self->Fail(ec.message());
      self->Read();
    });
  }

  void Read() {
    const size_t have = in_.size();
    in_.resize(have + 16384);
    socket_.async_read_some(asio::buffer(in_.data() + have, 16384),
                            [self = shared_from_this(), have](error_code ec, size_t n) {
                              if (ec) return self->Fail(ec.message());
                              self->in_.resize(have + n);
                              self->OnBytes();
                            });
  }

  /// A complete response is its header block and Content-Length bytes of body.
  void OnBytes() {
    const size_t head_end = in_.find("\r\n\r\n");
    if (head_end == std::string::npos) return Read();
    const size_t cl = FindContentLength(std::string_view(in_).substr(0, head_end));
    if (cl == std::string::npos) return Fail("response without Content-Length");
    if (in_.size() < head_end + 4 + cl) return Read();
    if (in_.size() > head_end + 4 + cl) return Fail("bytes after the response");
    auto now = Clock::now();
    // "HTTP/1.1 200 ..." with a JSON body.
    if (in_.compare(0, 13, "HTTP/1.1 200 ") == 0 && cl > 0 && in_[head_end + 4] == '{') {
      ++stats_->ok;
    } else {
      ++stats_->errors;
    }
    if (due_ >= measure_from_) {
      stats_->latency_us.push_back(std::chrono::duration<double, std::micro>(now - due_).count());
    }
    Schedule();
  }

  static size_t FindContentLength(std::string_view head) {
    size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
      pos += 2;
      std::string_view line = head.substr(pos, head.find("\r\n", pos) - pos);
      constexpr std::string_view kName = "content-length:";
      if (line.size() > kName.size() &&
          std::equal(kName.begin(), kName.end(), line.begin(),
                     [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
        size_t v = 0;
        for (char c : line.substr(kName.size())) {
          if (c >= '0' && c <= '9') v = v * 10 + static_cast<size_t>(c - '0');
        }
        return v;
      }
    }
    return std::string_view::npos;
  }

  void Fail(const std::string& what) {
    ++stats_->errors;
    std::fprintf(stderr, "connection %d: %s\n", index_, what.c_str());
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  const Options& o_;
  int index_;
  Clock::time_point start_, measure_from_, end_, due_;
  Stats* stats_;
  std::mt19937_64 rng_;
  int64_t k_ = 0;
  std::string body_, out_;  // the request being sent
  std::string in_;          // the response being read
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
