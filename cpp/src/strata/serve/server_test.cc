// The server on an ephemeral port of 127.0.0.1, talked to with a Beast client: keep-alive,
// pipelining, errors, /health, /metrics, a secondary store following its writer, shutdown.

#include "strata/serve/server.h"

#include <chrono>
#include <cstring>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "strata/online/rocksdb_store.h"
#include "strata/testing/gtest_util.h"

namespace strata::serve {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using features::Field;
using features::FeatureType;

constexpr int64_t kHour = 3600LL * 1000000;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<features::Repository> MakeRepo() {
  auto r = std::make_shared<features::Repository>();
  r->project = "rides";
  r->entities = {features::Entity{"driver", {Field{"driver_id", FeatureType::kInt64, ""}}, "", {}}};
  features::FeatureView v;
  v.name = "driver_stats";
  v.entities = {"driver"};
  v.source = "s";
  v.ttl_us = kHour;
  v.features = {Field{"conv_rate", FeatureType::kFloat64, ""}, Field{"trips", FeatureType::kInt64, ""},
                Field{"name", FeatureType::kString, ""}};
  r->feature_views = {v};
  features::FeatureService s;
  s.name = "eta_model";
  s.features = {"driver_stats:conv_rate"};
  r->feature_services = {s};
  return r;
}

/// A synchronous HTTP/1.1 client on one connection.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  http::response<http::string_body> Send(http::verb method, const std::string& target,
                                         const std::string& body = "", bool keep_alive = true) {
    Write(method, target, body, keep_alive);
    return Read();
  }

  void Write(http::verb method, const std::string& target, const std::string& body,
             bool keep_alive = true) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    if (method == http::verb::post) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    http::write(socket_, req);
  }

  void WriteRaw(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  http::response<http::string_body> Read() {
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res;
  }

  /// Everything the server sends until it closes the connection.
  std::string ReadAllRaw() {
    std::string out(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    buffer_.consume(buffer_.size());
    char chunk[4096];
    beast::error_code ec;
    while (true) {
      size_t n = socket_.read_some(asio::buffer(chunk), ec);
      if (ec) break;
      out.append(chunk, n);
    }
    return out;
  }

  /// True when the server closed the connection (EOF on the next read).
  bool Closed() {
    beast::error_code ec;
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res, ec);
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    online::RocksDbOptions o;
    o.path = dir_.path() + "/online";
    ASSERT_OK_AND_ASSIGN(auto primary, online::OpenRocksDbStore(o));
    primary_ = std::move(primary);
    ASSERT_OK(WriteDriver(1001, NowMicros() - 1000, 0.5, 7));
    ASSERT_OK(WriteDriver(1002, NowMicros() - 2 * kHour, 0.25, 9));  // expired
    o.mode = online::RocksDbOptions::Mode::kSecondary;
    o.catch_up_interval_ms = 0;  // only the server's refresh catches up
    ASSERT_OK_AND_ASSIGN(auto secondary, online::OpenRocksDbStore(o));
    ASSERT_OK_AND_ASSIGN(auto serving, features::OnlineServing::Make(
                                           MakeRepo(), std::shared_ptr<online::OnlineStore>(
                                                           std::move(secondary))));
    serving_ = std::move(serving);
    ServerOptions so;
    so.port = 0;
    so.threads = 2;
    so.body_limit = 64 << 10;
    so.refresh_interval_ms = 20;
    so.registry_version = 3;
    ASSERT_OK_AND_ASSIGN(server_, Server::Start(serving_, so));
    ASSERT_NE(server_->port(), 0);
  }

  Status WriteDriver(int64_t id, int64_t ts, double conv, int64_t trips) {
    online::RowBatch b;
    b.feature_names = {"conv_rate", "trips", "name"};
    b.rows.push_back(online::OnlineRow{online::EncodeEntityKey("driver_id", id), ts, {},
                                       {conv, trips, std::string("d\"") + std::to_string(id)}});
    return primary_->WriteBatch("driver_stats", b);
  }

  strata::testing::TempDir dir_;
  std::unique_ptr<online::OnlineStore> primary_;
  std::shared_ptr<features::OnlineServing> serving_;
  std::unique_ptr<Server> server_;
};

constexpr const char* kBody =
    R"({"features": ["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:name"],
        "entities": {"driver_id": [1001, 1002, 1003]}})";

TEST_F(ServerTest, AnswersFeastRequestsOnOneConnection) {
  Client c(server_->port());
  for (int i = 0; i < 5; ++i) {
    auto res = c.Send(http::verb::post, "/get-online-features", kBody);
    ASSERT_EQ(res.result_int(), 200) << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_TRUE(res.keep_alive());
    rapidjson::Document doc;
    doc.Parse(res.body().data(), res.body().size());
    ASSERT_FALSE(doc.HasParseError()) << res.body();
    const auto& names = doc["metadata"]["feature_names"];
    ASSERT_EQ(names.Size(), 4u);
    EXPECT_STREQ(names[0].GetString(), "driver_id");
    const auto& results = doc["results"];
    EXPECT_EQ(results[0]["values"][2].GetInt64(), 1003);
    EXPECT_EQ(results[1]["values"][0].GetDouble(), 0.5);
    EXPECT_STREQ(results[1]["statuses"][0].GetString(), "PRESENT");
    EXPECT_TRUE(results[1]["values"][1].IsNull());
    EXPECT_STREQ(results[1]["statuses"][1].GetString(), "OUTSIDE_MAX_AGE");
    EXPECT_STREQ(results[1]["statuses"][2].GetString(), "NOT_FOUND");
    EXPECT_EQ(results[2]["values"][0].GetInt64(), 7);
    EXPECT_STREQ(results[3]["values"][0].GetString(), "d\"1001");
  }
  // Feature service, full names.
  auto res = c.Send(http::verb::post, "/get-online-features",
                    R"({"feature_service": "eta_model", "entities": {"driver_id": [1001]},
                        "full_feature_names": true})");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_NE(res.body().find(R"(["driver_id","driver_stats__conv_rate"])"), std::string::npos);
}

TEST_F(ServerTest, PipelinedRequestsAnswerInOrder) {
  Client c(server_->port());
  std::string one =
      std::string("POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: ") +
      std::to_string(std::strlen(kBody)) + "\r\n\r\n" + kBody;
  c.WriteRaw(one + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + one +
             "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.Read().result_int(), 200);
  auto health = c.Read();
  EXPECT_EQ(health.result_int(), 200);
  EXPECT_NE(health.body().find("\"registry_version\":3"), std::string::npos) << health.body();
  EXPECT_NE(health.body().find("\"status\":\"ok\""), std::string::npos);
  EXPECT_EQ(c.Read().result_int(), 200);
  EXPECT_EQ(c.Read().result_int(), 404);
}

TEST_F(ServerTest, BadRequestsGet4xxWithJsonErrors) {
  Client c(server_->port());
  struct Case {
    http::verb method;
    std::string target, body;
    int status;
    std::string needle;
  };
  std::vector<Case> cases = {
      {http::verb::post, "/get-online-features", "{not json", 400, "malformed JSON"},
      {http::verb::post, "/get-online-features", R"({"features": ["nope:x"], "entities": {"driver_id": [1]}})",
       400, "unknown feature view 'nope'"},
      {http::verb::post, "/get-online-features",
       R"({"features": ["driver_stats:nope"], "entities": {"driver_id": [1]}})", 400,
       "unknown feature 'nope'"},
      {http::verb::post, "/get-online-features",
       R"({"features": ["driver_stats:trips"], "entities": {"driver_id": ["1"]}})", 400,
       "must be an integer"},
      {http::verb::post, "/get-online-features", R"({"features": ["driver_stats:trips"], "entities": {}})",
       400, "no entities"},
      {http::verb::post, "/get-online-features",
       R"({"features": ["driver_stats:trips"], "entities": {"rider_id": [1]}})", 400,
       "unknown entity key 'rider_id'"},
      {http::verb::get, "/get-online-features", "", 405, "use POST"},
      {http::verb::post, "/health", "{}", 405, "use GET"},
      {http::verb::get, "/nope?x=1", "", 404, "unknown path '/nope'"},
  };
  for (const auto& k : cases) {
    auto res = c.Send(k.method, k.target, k.body);
    EXPECT_EQ(res.result_int(), k.status) << k.target << " " << k.body << " -> " << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_EQ(res.body().rfind("{\"error\":", 0), 0u) << res.body();
    EXPECT_NE(res.body().find(k.needle), std::string::npos) << res.body();
    EXPECT_TRUE(res.keep_alive());  // a request error does not cost the connection
  }
  // Still serving on the same connection.
  EXPECT_EQ(c.Send(http::verb::post, "/get-online-features", kBody).result_int(), 200);
}

TEST_F(ServerTest, OversizedAndMalformedHttpCloseTheConnection) {
  {
    Client c(server_->port());
    std::string big = R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [)";
    while (big.size() < (100 << 10)) big += "1,";
    big += "1]}}";
    auto res = c.Send(http::verb::post, "/get-online-features", big);
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_NE(res.body().find("larger than 65536 bytes"), std::string::npos) << res.body();
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(c.Closed());
  }
  {
    Client c(server_->port());
    c.WriteRaw("THIS IS NOT HTTP\r\n\r\n");
    auto res = c.Read();
    EXPECT_EQ(res.result_int(), 400);
    EXPECT_NE(res.body().find("malformed HTTP request"), std::string::npos) << res.body();
    EXPECT_TRUE(c.Closed());
  }
  {
    Client c(server_->port());
    c.WriteRaw("GET /health HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    EXPECT_EQ(c.Read().result_int(), 431);
  }
  // Connection: close is honoured.
  Client c(server_->port());
  auto res = c.Send(http::verb::get, "/health", "", /*keep_alive=*/false);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(c.Closed());
}

// The response's status line and header fields are written by the server itself: check them byte
// for byte, for HTTP/1.0 (answered as 1.0, then closed) and for an error with an extra field.
TEST_F(ServerTest, StatusLineAndFieldsAreWellFormed) {
  {
    Client c(server_->port());
    c.WriteRaw("GET /health HTTP/1.0\r\n\r\n");
    std::string raw = c.ReadAllRaw();
    ASSERT_EQ(raw.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << raw;
    const size_t end = raw.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << raw;
    const std::string body = raw.substr(end + 4);
    EXPECT_NE(raw.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos) << raw;
    EXPECT_EQ(body.rfind("{\"status\":\"ok\"", 0), 0u) << body;
  }
  Client c(server_->port());
  auto res = c.Send(http::verb::put, "/get-online-features", "");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res.reason(), "Method Not Allowed");
  EXPECT_EQ(res[http::field::allow], "POST");
  EXPECT_EQ(res[http::field::server], "strata-server");
  // Still usable afterwards (keep-alive).
  EXPECT_EQ(c.Send(http::verb::get, "/health").result_int(), 200);
}

TEST_F(ServerTest, ExpectContinue) {
  Client c(server_->port());
  std::string body = kBody;
  c.WriteRaw("POST /get-online-features HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  auto cont = c.Read();
  EXPECT_EQ(cont.result_int(), 100);
  c.WriteRaw(body);
  EXPECT_EQ(c.Read().result_int(), 200);
}

TEST_F(ServerTest, Metrics) {
  Client c(server_->port());
  ASSERT_EQ(c.Send(http::verb::post, "/get-online-features", kBody).result_int(), 200);
  ASSERT_EQ(c.Send(http::verb::post, "/get-online-features", "[").result_int(), 400);
  auto res = c.Send(http::verb::get, "/metrics");
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  const std::string& m = res.body();
  for (const char* needle :
       {"strata_requests_total{path=\"/get-online-features\",code=\"200\"} 1",
        "strata_requests_total{path=\"/get-online-features\",code=\"400\"} 1",
        "# TYPE strata_request_duration_seconds histogram",
        "strata_request_duration_seconds_bucket{path=\"/get-online-features\",le=\"+Inf\"} 2",
        "strata_request_duration_seconds_count{path=\"/get-online-features\"} 2",
        "strata_store_errors_total{store=\"rocksdb\"} 0", "strata_entities_served_total 3",
        "strata_feature_values_served_total 9", "strata_connections_open 1",
        "strata_registry_version 3"}) {
    EXPECT_NE(m.find(needle), std::string::npos) << needle << "\n" << m;
  }
}

TEST_F(ServerTest, SecondarySeesNewWritesAfterRefresh) {
  Client c(server_->port());
  const std::string body =
      R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [5000]}})";
  auto res = c.Send(http::verb::post, "/get-online-features", body);
  ASSERT_NE(res.body().find("NOT_FOUND"), std::string::npos);
  ASSERT_OK(WriteDriver(5000, NowMicros(), 0.1, 42));
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    res = c.Send(http::verb::post, "/get-online-features", body);
    seen = res.body().find("[5000],") != std::string::npos &&
           res.body().find("\"values\":[42]") != std::string::npos;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(seen) << res.body();
}

TEST_F(ServerTest, SetServingSwitchesRegistries) {
  Client c(server_->port());
  const std::string body = R"({"feature_service": "eta_model", "entities": {"driver_id": [1001]}})";
  auto res = c.Send(http::verb::post, "/get-online-features", body);
  EXPECT_NE(res.body().find(R"(["driver_id","conv_rate"])"), std::string::npos) << res.body();
  auto repo = MakeRepo();
  repo->feature_services[0].features.push_back("driver_stats:trips");
  ASSERT_OK_AND_ASSIGN(auto next, features::OnlineServing::Make(
                                      repo, std::shared_ptr<online::OnlineStore>(serving_, &serving_->store())));
  server_->SetServing(std::move(next), 4);
  EXPECT_EQ(server_->registry_version(), 4);
  res = c.Send(http::verb::post, "/get-online-features", body);
  EXPECT_NE(res.body().find(R"(["driver_id","conv_rate","trips"])"), std::string::npos) << res.body();
  EXPECT_NE(c.Send(http::verb::get, "/health").body().find("\"registry_version\":4"), std::string::npos);
}

TEST_F(ServerTest, ShutdownClosesIdleConnectionsAndReturns) {
  Client idle(server_->port());
  ASSERT_EQ(idle.Send(http::verb::get, "/health").result_int(), 200);
  const auto start = std::chrono::steady_clock::now();
  server_->Shutdown();
  server_->Wait();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_TRUE(idle.Closed());
  // No longer accepting.
  asio::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()), ec);
  EXPECT_TRUE(ec);
  server_.reset();  // destroying a stopped server is fine
}

// Deadlines: an idle keep-alive connection is closed after idle_timeout_ms, a request whose body
// stops arriving after io_timeout_ms; a connection in use is not.
TEST_F(ServerTest, IdleAndStalledConnectionsAreClosed) {
  ServerOptions so;
  so.port = 0;
  so.threads = 2;
  so.idle_timeout_ms = 300;
  so.io_timeout_ms = 300;
  so.refresh_interval_ms = 0;
  ASSERT_OK_AND_ASSIGN(auto server, Server::Start(serving_, so));
  using std::chrono::milliseconds;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
  };
  // Busy for twice the idle timeout: every request resets the deadline.
  Client busy(server->port());
  while (elapsed() < 600) {
    ASSERT_EQ(busy.Send(http::verb::get, "/health").result_int(), 200);
    std::this_thread::sleep_for(milliseconds(50));
  }
  Client idle(server->port());
  Client stalled(server->port());
  stalled.WriteRaw("POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"features\"");
  const auto waited_from = elapsed();
  EXPECT_TRUE(idle.Closed());     // blocks until the server closes it
  EXPECT_TRUE(stalled.Closed());
  const auto waited = elapsed() - waited_from;
  EXPECT_GE(waited, 250);
  EXPECT_LT(waited, 5000);
  // The busy connection was idle meanwhile, so it is closed too; a new one works.
  EXPECT_TRUE(busy.Closed());
  Client again(server->port());
  EXPECT_EQ(again.Send(http::verb::get, "/health").result_int(), 200);
}

TEST_F(ServerTest, ManyClientsInParallel) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      Client c(server_->port());
      for (int i = 0; i < 50; ++i) {
        if (c.Send(http::verb::post, "/get-online-features", kBody).result_int() == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 400);
}

TEST(ServerStart, PortInUseIsAnError) {
  strata::testing::TempDir dir;
  online::RocksDbOptions o;
  o.path = dir.path() + "/online";
  ASSERT_OK_AND_ASSIGN(auto store, online::OpenRocksDbStore(o));
  ASSERT_OK_AND_ASSIGN(auto serving, features::OnlineServing::Make(
                                         MakeRepo(), std::shared_ptr<online::OnlineStore>(std::move(store))));
  std::shared_ptr<const features::OnlineServing> shared = std::move(serving);
  ServerOptions so;
  so.port = 0;
  so.threads = 1;
  ASSERT_OK_AND_ASSIGN(auto a, Server::Start(shared, so));
  so.port = a->port();
  auto b = Server::Start(shared, so);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("cannot listen on 127.0.0.1:"), std::string::npos)
      << b.status().ToString();
  so.host = "no-such-host.invalid";
  so.port = 0;
  EXPECT_FALSE(Server::Start(shared, so).ok());
}

}  // namespace
}  // namespace strata::serve
