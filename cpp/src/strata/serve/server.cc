// The HTTP side of the feature server. One Session per connection:
//
//   ReadHeader ──(Expect: 100-continue? write 100)──> ReadBody ──> Handle ──> Write ──┐
//       ^                                                                             │
//       └────────────────────── keep-alive and not stopping ─────────────────────────┘
//   read errors: 400 / 413 / 431 with a JSON body, then close (413: drain the rest first)
//
// Timeouts: each session keeps a deadline for what it waits for (the next request: the idle
// timeout; a body or a response: the I/O timeout), and a sweep on each I/O thread closes the
// sessions past theirs a few times per timeout. A timer per operation (Beast's tcp_stream) costs a
// timerfd_settime call per read and per write: a twentieth of the server's CPU per request.
//
// Everything a session does runs on the one thread of its io_context, so its state needs no lock.

#include "strata/serve/server.h"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "strata/serve/metrics.h"
#include "strata/serve/request.h"
#include "strata/serve/response.h"

namespace strata::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

namespace {

constexpr int64_t kDrainTimeoutMs = 2000;
constexpr size_t kDrainLimit = size_t{64} << 20;
constexpr size_t kReuseBodyLimit = size_t{256} << 10;

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Sets status and headers for the body already in `res`.
void Finish(Response* res, http::status status, std::string_view content_type) {
  res->result(status);
  res->set(http::field::server, "strata-server");
  res->set(http::field::content_type, content_type);
  res->prepare_payload();
}

void SetBody(Response* res, http::status status, std::string_view content_type, std::string body) {
  res->body() = std::move(body);
  Finish(res, status, content_type);
}

void SetError(Response* res, http::status status, std::string_view message) {
  SetBody(res, status, "application/json", RenderError(message));
}

Endpoint EndpointOf(std::string_view path) {
  if (path == "/get-online-features") return Endpoint::kGetOnlineFeatures;
  if (path == "/health") return Endpoint::kHealth;
  if (path == "/metrics") return Endpoint::kMetrics;
  return Endpoint::kOther;
}

std::string_view PathOf(std::string_view target) {
  return target.substr(0, target.find('?'));
}

}  // namespace

class Session;

class Server::Impl {
 public:
  Impl(std::shared_ptr<const features::OnlineServing> serving, const ServerOptions& options)
      : serving_(std::move(serving)),
        registry_version_(options.registry_version),
        options_(options),
        threads_count_(options.threads > 0
                           ? options.threads
                           : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))),
        contexts_(MakeContexts(threads_count_)),
        acceptor_(contexts_[0]->get_executor()),
        accept_timer_(contexts_[0]->get_executor()) {
    for (auto& c : contexts_) work_.push_back(asio::make_work_guard(*c));
  }

  ~Impl() {
    Shutdown();
    Wait();
  }

  Status Listen();
  void Run();
  void Shutdown();
  void Wait();

  void Register(const std::shared_ptr<Session>& s);
  void Unregister(Session* s);

  /// Answers one complete request into `res`; returns its endpoint.
  Endpoint Handle(const Request& req, Response* res);

  const ServerOptions& options() const { return options_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  Metrics& metrics() { return metrics_; }
  uint16_t port() const { return port_; }
  std::string MetricsText() const {
    return metrics_.Render(registry_version_.load(), start_time_s_,
                           std::string(current()->store().kind()));
  }

 private:
  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  /// Closes the sessions of I/O thread `i` past their deadlines, then runs again shortly.
  void SweepLater(size_t i);
  void RefreshLoop();
  void GetOnlineFeatures(const Request& req, Response* res);
  std::string HealthBody() const;

  /// The serving object requests use now (SetServing swaps it; a request keeps the one it began
  /// with).
  std::shared_ptr<const features::OnlineServing> current() const { return serving_.load(); }

 public:
  void SetServing(std::shared_ptr<const features::OnlineServing> serving, int64_t registry_version) {
    serving_.store(std::move(serving));
    registry_version_.store(registry_version);
  }
  int64_t registry_version() const { return registry_version_.load(); }

 private:
  std::atomic<std::shared_ptr<const features::OnlineServing>> serving_;
  std::atomic<int64_t> registry_version_;
  ServerOptions options_;
  const int threads_count_;
  const double start_time_s_ = NowSeconds();
  uint16_t port_ = 0;
  Metrics metrics_;
  std::atomic<bool> stopping_{false};
  std::once_flag shutdown_once_;

  std::mutex sessions_mu_;
  std::condition_variable sessions_cv_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;

  std::mutex refresh_mu_;
  std::condition_variable refresh_cv_;
  bool stop_refresh_ = false;

  std::vector<std::thread> io_threads_;  // set by Run, before anyone waits
  std::thread refresher_;
  std::mutex threads_mu_;  // guards watchdog_
  std::thread watchdog_;
  std::mutex wait_mu_;  // serializes Wait
  bool joined_ = false;

  // One io_context per I/O thread, each connection on one of them (round robin): a connection's
  // handlers always run on the same thread, so it needs no strand, its memory is allocated and
  // freed by one thread, and threads do not contend for one shared queue.
  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (int i = 0; i < n; ++i) out.push_back(std::make_unique<asio::io_context>(1));
    return out;
  }
  size_t next_context_ = 0;    // used on contexts_[0] only (the acceptor's)
  size_t accept_context_ = 0;  // where the connection being accepted goes

  // Declared last: destroyed first, while what their pending handlers touch still lives.
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_timer_;
  std::vector<std::unique_ptr<asio::steady_timer>> sweep_timers_;  // one per I/O thread
  std::optional<asio::signal_set> signals_;
};

// ---- Session ----------------------------------------------------------------------------

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Server::Impl* server, size_t context)
      : socket_(std::move(socket)), server_(server), context_(context) {
    server_->metrics().ConnectionOpened();
  }
  ~Session() {
    server_->metrics().ConnectionClosed();
    server_->Unregister(this);
  }

  void Start() {
    asio::dispatch(socket_.get_executor(),
                   beast::bind_front_handler(&Session::ReadHeader, shared_from_this()));
  }

  /// Runs on the session's thread: closes the connection now when it waits for a request, or after the
  /// response it is working on.
  void OnShutdown() {
    if (!busy_) Close();
  }

  asio::any_io_executor executor() { return socket_.get_executor(); }
  size_t context() const { return context_; }

  /// Runs on the session's thread: closes the connection when its deadline has passed (its pending
  /// read or write then completes with an error and the session ends).
  void Sweep(Clock::time_point now) {
    if (now >= deadline_ && socket_.is_open()) Close();
  }

 private:
  void ReadHeader() {
    busy_ = false;
    if (server_->stopping()) return Close();
    const ServerOptions& o = server_->options();
    parser_.emplace();
    parser_->body_limit(o.body_limit);
    parser_->header_limit(static_cast<uint32_t>(o.header_limit));
    ExpiresAfter(o.idle_timeout_ms);
    http::async_read_header(socket_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    busy_ = true;
    const Request& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
      continue_.emplace(http::status::continue_, req.version());
      ExpiresAfter(server_->options().io_timeout_ms);
      http::async_write(socket_, *continue_,
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    ExpiresAfter(server_->options().io_timeout_ms);
    http::async_read(socket_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    busy_ = true;
    const auto start = Clock::now();
    Request req = parser_->release();
    // The last response's body keeps its capacity for this one (small bodies: one allocation
    // per connection instead of one per request).
    std::string body = std::move(res_.body());
    body.clear();
    if (body.capacity() > kReuseBodyLimit) body = std::string();
    res_ = {};
    res_.body() = std::move(body);
    res_.version(req.version());
    Endpoint endpoint = server_->Handle(req, &res_);
    res_.keep_alive(req.keep_alive() && !server_->stopping());
    close_after_ = !res_.keep_alive();
    server_->metrics().RecordRequest(
        endpoint, res_.result_int(),
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    Write();
  }

  void OnReadError(beast::error_code ec) {
    http::status status;
    std::string message;
    if (ec == http::error::body_limit) {
      status = http::status::payload_too_large;
      message = "request body larger than " + std::to_string(server_->options().body_limit) +
                " bytes";
      drain_ = true;
    } else if (ec == http::error::header_limit) {
      status = http::status::request_header_fields_too_large;
      message = "request headers larger than " +
                std::to_string(server_->options().header_limit) + " bytes";
      drain_ = true;
    } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message) {
      status = http::status::bad_request;
      message = "malformed HTTP request: " + ec.message();
    } else {
      return Close();  // the peer went away, a timeout, or shutdown
    }
    busy_ = true;
    close_after_ = true;
    Endpoint endpoint = Endpoint::kOther;
    if (parser_ && parser_->is_header_done()) {
      endpoint = EndpointOf(PathOf(parser_->get().target()));
    }
    res_ = {};
    res_.version(11);
    SetError(&res_, status, message);
    res_.keep_alive(false);
    server_->metrics().RecordRequest(endpoint, res_.result_int(), 0);
    Write();
  }

  /// Sends `res_` as one gathered write: the status line and header fields formatted here, then
  /// the body. Beast's serializer walks a buffer sequence of many small pieces per response,
  /// which cost the server more than its store read (a tenth of its CPU per request).
  void Write() {
    head_.clear();
    head_ += res_.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head_ += std::to_string(res_.result_int());
    head_ += ' ';
    head_ += res_.reason();
    head_ += "\r\n";
    for (const auto& field : res_) {
      head_ += field.name_string();
      head_ += ": ";
      head_ += field.value();
      head_ += "\r\n";
    }
    head_ += "\r\n";
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(res_.body())};
    ExpiresAfter(server_->options().io_timeout_ms);
    asio::async_write(socket_, buffers,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    if (ec) return Close();
    if (close_after_ || server_->stopping()) {
      if (drain_) return Drain();
      return Close();
    }
    ReadHeader();
  }

  /// After an error answered before the body was read: read and drop what the client still
  /// sends (bounded), so that closing does not reset the connection before it reads our answer.
  void Drain() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    ExpiresAfter(kDrainTimeoutMs);
    buffer_.consume(buffer_.size());
    DrainSome();
  }

  void DrainSome() {
    socket_.async_read_some(buffer_.prepare(64 << 10),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kDrainLimit) return self->Close();
                              self->DrainSome();
                            });
  }

  void Close() {
    busy_ = false;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    socket_.close(ec);
  }

  void ExpiresAfter(int64_t ms) { deadline_ = Clock::now() + std::chrono::milliseconds(ms); }

  tcp::socket socket_;
  Server::Impl* server_;
  const size_t context_;  // index of the I/O thread it runs on
  Clock::time_point deadline_ = Clock::time_point::max();
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  Response res_;
  std::string head_;  // the response's status line and header fields, as sent
  bool busy_ = false;  // between a request's header and its response's end
  bool close_after_ = false;
  bool drain_ = false;
  size_t drained_ = 0;
};

// ---- Server::Impl -----------------------------------------------------------------------

Status Server::Impl::Listen() {
  beast::error_code ec;
  tcp::resolver resolver(*contexts_[0]);
  auto results = resolver.resolve(options_.host, std::to_string(options_.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cannot resolve host '" + options_.host + "': " + ec.message());
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  auto fail = [&](const char* what) {
    return Status::IOError("cannot listen on ", options_.host, ":", options_.port, " (", what,
                           "): ", ec.message());
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  port_ = acceptor_.local_endpoint().port();
  return Status::OK();
}

void Server::Impl::Run() {
  if (options_.handle_signals) {
    signals_.emplace(*contexts_[0], SIGINT, SIGTERM);
    signals_->async_wait([this](beast::error_code ec, int) {
      if (!ec) Shutdown();
    });
  }
  Accept();
  for (size_t i = 0; i < contexts_.size(); ++i) {
    sweep_timers_.push_back(std::make_unique<asio::steady_timer>(*contexts_[i]));
    SweepLater(i);
  }
  for (auto& c : contexts_) {
    io_threads_.emplace_back([ctx = c.get()] { ctx->run(); });
  }
  if (options_.refresh_interval_ms > 0) refresher_ = std::thread([this] { RefreshLoop(); });
}

void Server::Impl::Accept() {
  accept_context_ = next_context_++ % contexts_.size();
  acceptor_.async_accept(*contexts_[accept_context_], beast::bind_front_handler(&Impl::OnAccept, this));
}

void Server::Impl::SweepLater(size_t i) {
  const int64_t shortest = std::min(options_.idle_timeout_ms, options_.io_timeout_ms);
  const auto interval = std::chrono::milliseconds(std::clamp<int64_t>(shortest / 8, 5, 250));
  sweep_timers_[i]->expires_after(interval);
  sweep_timers_[i]->async_wait([this, i](beast::error_code ec) {
    if (ec || stopping()) return;
    std::vector<std::shared_ptr<Session>> mine;
    {
      std::lock_guard<std::mutex> lock(sessions_mu_);
      for (auto& [ptr, weak] : sessions_) {
        auto s = weak.lock();  // not one being destroyed
        if (s && s->context() == i) mine.push_back(std::move(s));
      }
    }
    // This runs on thread i, the only one that touches these sessions.
    const auto now = Clock::now();
    for (auto& s : mine) s->Sweep(now);
    mine.clear();  // outside the lock: the last reference runs ~Session, which takes it
    SweepLater(i);
  });
}

void Server::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping()) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // Out of descriptors or a connection reset before accept: try again shortly.
    accept_timer_.expires_after(std::chrono::milliseconds(50));
    accept_timer_.async_wait([this](beast::error_code ec) {
      if (!ec && !stopping()) Accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto session = std::make_shared<Session>(std::move(socket), this, accept_context_);
  Register(session);
  session->Start();
  Accept();
}

void Server::Impl::Register(const std::shared_ptr<Session>& s) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  sessions_.emplace(s.get(), s);
}

void Server::Impl::Unregister(Session* s) {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  sessions_.erase(s);
  if (sessions_.empty()) sessions_cv_.notify_all();
}

void Server::Impl::RefreshLoop() {
  bool reported = false;
  std::unique_lock<std::mutex> lock(refresh_mu_);
  while (!stop_refresh_) {
    refresh_cv_.wait_for(lock, std::chrono::milliseconds(options_.refresh_interval_ms),
                         [this] { return stop_refresh_; });
    if (stop_refresh_) break;
    lock.unlock();
    Status st = current()->store().Refresh();
    if (!st.ok()) {
      metrics_.AddRefreshError();
      if (!reported) {  // once: the metrics count the rest
        std::fprintf(stderr, "strata-server: store refresh failed: %s\n", st.ToString().c_str());
        reported = true;
      }
    }
    lock.lock();
  }
}

void Server::Impl::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    stopping_.store(true, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(threads_mu_);
      const auto grace = std::chrono::milliseconds(options_.shutdown_grace_ms);
      watchdog_ = std::thread([this, grace] {
        std::unique_lock<std::mutex> lock(sessions_mu_);
        sessions_cv_.wait_for(lock, grace, [this] { return sessions_.empty(); });
        lock.unlock();
        // Either every connection is done (run() is returning anyway) or the grace is over.
        for (auto& c : contexts_) c->stop();
      });
    }
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      accept_timer_.cancel();
    });
    for (size_t i = 0; i < sweep_timers_.size(); ++i) {
      asio::post(*contexts_[i], [this, i] { sweep_timers_[i]->cancel(); });
    }
    if (signals_) {
      asio::post(signals_->get_executor(), [this] {
        beast::error_code ec;
        signals_->cancel(ec);
      });
    }
    // Strong references are taken under the lock but dropped outside it: the last one runs
    // ~Session, which unregisters (and takes the lock).
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard<std::mutex> lock(sessions_mu_);
      for (auto& [ptr, weak] : sessions_) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) asio::post(s->executor(), [s] { s->OnShutdown(); });
    live.clear();
    {
      std::lock_guard<std::mutex> lock(refresh_mu_);
      stop_refresh_ = true;
    }
    refresh_cv_.notify_all();
    // Each I/O thread returns once its connections are done.
    for (auto& w : work_) w.reset();
  });
}

void Server::Impl::Wait() {
  // Not under threads_mu_: Shutdown, which takes it, may run on an I/O thread joined here.
  std::lock_guard<std::mutex> wait_lock(wait_mu_);
  if (joined_) return;
  for (auto& t : io_threads_) t.join();
  // I/O threads return only after Shutdown (the acceptor keeps them busy until then), so the
  // watchdog exists by now.
  std::thread watchdog;
  {
    std::lock_guard<std::mutex> lock(threads_mu_);
    watchdog = std::move(watchdog_);
  }
  if (watchdog.joinable()) watchdog.join();
  if (refresher_.joinable()) refresher_.join();
  joined_ = true;
}

std::string Server::Impl::HealthBody() const {
  const auto serving = current();
  const auto& repo = serving->repository();
  std::string out = "{\"status\":\"ok\",\"registry_version\":" +
                    std::to_string(registry_version_.load()) + ",\"project\":";
  AppendJsonString(repo.project, &out);
  out += ",\"store\":";
  AppendJsonString(serving->store().kind(), &out);
  out += ",\"feature_views\":" + std::to_string(repo.feature_views.size()) +
         ",\"on_demand_feature_views\":" + std::to_string(repo.on_demand_views.size()) +
         ",\"feature_services\":" + std::to_string(repo.feature_services.size()) +
         ",\"uptime_seconds\":";
  AppendJsonDouble(NowSeconds() - start_time_s_, &out);
  out += "}";
  return out;
}

void Server::Impl::GetOnlineFeatures(const Request& req, Response* res) {
  auto request = ParseOnlineRequest(req.body());
  if (!request.ok()) return SetError(res, http::status::bad_request, request.status().message());
  auto response = current()->Get(*request);
  if (!response.ok()) {
    if (features::IsRequestError(response.status())) {
      return SetError(res, http::status::bad_request, response.status().message());
    }
    metrics_.AddStoreError();
    return SetError(res, http::status::internal_server_error, response.status().ToString());
  }
  metrics_.AddEntities(static_cast<int64_t>(response->num_rows));
  metrics_.AddValues(static_cast<int64_t>(
      response->num_rows * (response->columns.size() - response->num_entity_columns)));
  std::string& body = res->body();  // empty, maybe with capacity from the last response
  body.reserve(256 + response->num_rows * response->columns.size() * 48);
  RenderOnlineResponse(*response, &body);
  Finish(res, http::status::ok, "application/json");
}

Endpoint Server::Impl::Handle(const Request& req, Response* res) {
  const std::string_view path = PathOf(req.target());
  const Endpoint endpoint = EndpointOf(path);
  auto method_not_allowed = [&](const char* allowed) {
    SetError(res, http::status::method_not_allowed,
             std::string(req.method_string().substr(0, 20)) + " " + std::string(path.substr(0, 200)) +
                 " is not supported (use " +
                 allowed + ")");
    res->set(http::field::allow, allowed);
  };
  switch (endpoint) {
    case Endpoint::kGetOnlineFeatures:
      if (req.method() != http::verb::post) {
        method_not_allowed("POST");
      } else {
        GetOnlineFeatures(req, res);
      }
      break;
    case Endpoint::kHealth:
      if (req.method() != http::verb::get) {
        method_not_allowed("GET");
      } else {
        SetBody(res, http::status::ok, "application/json", HealthBody());
      }
      break;
    case Endpoint::kMetrics:
      if (req.method() != http::verb::get) {
        method_not_allowed("GET");
      } else {
        SetBody(res, http::status::ok, "text/plain; version=0.0.4; charset=utf-8", MetricsText());
      }
      break;
    case Endpoint::kOther: {
      std::string shown(path.substr(0, 200));
      SetError(res, http::status::not_found,
               "unknown path '" + shown +
                   "' (the server answers POST /get-online-features, GET /health, GET /metrics)");
      break;
    }
  }
  return endpoint;
}

// ---- Server -----------------------------------------------------------------------------

Result<std::unique_ptr<Server>> Server::Start(std::shared_ptr<const features::OnlineServing> serving,
                                              const ServerOptions& options) {
  if (serving == nullptr) return Status::Invalid("Server::Start needs an OnlineServing");
  auto impl = std::make_unique<Impl>(std::move(serving), options);
  ARROW_RETURN_NOT_OK(impl->Listen());
  impl->Run();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;  // ~Impl shuts down and waits

uint16_t Server::port() const { return impl_->port(); }
const std::string& Server::host() const { return impl_->options().host; }
void Server::Shutdown() { impl_->Shutdown(); }
void Server::Wait() { impl_->Wait(); }
std::string Server::MetricsText() const { return impl_->MetricsText(); }
void Server::SetServing(std::shared_ptr<const features::OnlineServing> serving, int64_t registry_version) {
  impl_->SetServing(std::move(serving), registry_version);
}
int64_t Server::registry_version() const { return impl_->registry_version(); }

}  // namespace strata::serve
