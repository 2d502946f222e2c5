// Redis-specific behaviour: URL parsing, connection errors, corrupt or foreign values, script
// cache flushes, dropped connections, database selection.

#include "strata/online/redis_store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>

#include <hiredis/hiredis.h>

#include "strata/online/layout_internal.h"
#include "strata/online/online_test_util.h"
#include "strata/online/redis_test_server.h"
#include "strata/testing/gtest_util.h"

namespace strata::online {
namespace {

using RedisTestServer = testing::RedisTestServer;

TEST(RedisUrl, Parses) {
  ASSERT_OK_AND_ASSIGN(auto e, ParseRedisUrl("redis://127.0.0.1:6379/0"));
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 6379);
  EXPECT_EQ(e.db, 0);
  EXPECT_TRUE(e.password.empty());
  ASSERT_OK_AND_ASSIGN(e, ParseRedisUrl("redis://cache.internal"));
  EXPECT_EQ(e.host, "cache.internal");
  EXPECT_EQ(e.port, 6379);
  EXPECT_EQ(e.db, 0);
  ASSERT_OK_AND_ASSIGN(e, ParseRedisUrl("redis://:s%40cret@h:7000/3"));
  EXPECT_EQ(e.username, "");
  EXPECT_EQ(e.password, "s@cret");
  EXPECT_EQ(e.port, 7000);
  EXPECT_EQ(e.db, 3);
  ASSERT_OK_AND_ASSIGN(e, ParseRedisUrl("redis://alice:p:w@h/"));
  EXPECT_EQ(e.username, "alice");
  EXPECT_EQ(e.password, "p:w");
  EXPECT_EQ(e.db, 0);
  ASSERT_OK_AND_ASSIGN(e, ParseRedisUrl("redis://[::1]:6380/2"));
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.db, 2);
}

TEST(RedisUrl, RejectsMalformed) {
  for (const char* url : {"", "127.0.0.1:6379", "http://h:1/0", "rediss://h:6379/0", "redis://",
                          "redis://:6379/0", "redis://h:/0", "redis://h:0/0", "redis://h:65536/0",
                          "redis://h:12x/0", "redis://h:-1/0", "redis://h:6379/x", "redis://h:6379/-1",
                          "redis://h:6379/0/1", "redis://h:6379/0?db=1", "redis://h#frag",
                          "redis://pass@h", "redis://u:@h", "redis://:%zz@h", "redis://:%4@h",
                          "redis://[::1", "redis://[::1]x", "redis://h h", "redis://h\n",
                          "redis://h:99999999999999999999/0", "redis://h:6379/99999999999"}) {
    auto r = ParseRedisUrl(url);
    EXPECT_FALSE(r.ok()) << url;
    EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument)) << url << ": " << r.status().ToString();
  }
  auto r = ParseRedisUrl("rediss://h");
  EXPECT_NE(r.status().message().find("TLS"), std::string::npos);
  // The password never shows up in messages.
  r = ParseRedisUrl("redis://:topsecret@h:bad/0");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("topsecret"), std::string::npos) << r.status().ToString();
  r = ParseRedisUrl("redis://user:top%zzsecret@h/0");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("secret"), std::string::npos) << r.status().ToString();
}

/// A loopback port nothing listens on.
int UnusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(RedisStore, UnreachableServerIsAnError) {
  RedisOptions o;
  o.url = "redis://127.0.0.1:" + std::to_string(UnusedPort()) + "/0";
  o.connect_timeout_ms = 500;
  auto start = std::chrono::steady_clock::now();
  auto r = OpenRedisStore(o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsIOError()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("cannot connect"), std::string::npos) << r.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

/// Tests against the binary's shared server, each under its own key prefix.
class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = RedisTestServer::Shared();
    if (server_ == nullptr) GTEST_SKIP() << RedisTestServer::SharedError().ToString();
    static std::atomic<int> counter{0};
    options_.url = server_->url();
    options_.key_prefix = "rtest-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ":";
    ASSERT_OK_AND_ASSIGN(store_, OpenRedisStore(options_));
    timeval tv{2, 0};
    raw_ = redisConnectWithTimeout("127.0.0.1", server_->port(), tv);
    ASSERT_TRUE(raw_ != nullptr && raw_->err == 0);
  }
  void TearDown() override {
    if (raw_) redisFree(raw_);
  }

  /// Runs a command on a separate raw connection; returns the reply's string or integer.
  std::string Raw(std::vector<std::string> args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(raw_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) return "<io error>";
    std::string out = r->type == REDIS_REPLY_INTEGER ? std::to_string(r->integer)
                      : r->str != nullptr          ? std::string(r->str, r->len)
                                                   : "";
    freeReplyObject(r);
    return out;
  }
  std::string StoreKey(std::string_view view, std::string_view entity) {
    return options_.key_prefix + internal::RowKey(view, entity);
  }

  RedisTestServer* server_ = nullptr;
  RedisOptions options_;
  std::unique_ptr<OnlineStore> store_;
  redisContext* raw_ = nullptr;
};

TEST_F(RedisStoreTest, LayoutIsOneStringPerEntity) {
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(1), 10, {}, {int64_t{5}})}}));
  EXPECT_EQ(Raw({"TYPE", StoreKey("v", DriverKey(1))}), "string");
  // The raw value is the row encoding, the same bytes RocksDB keeps.
  std::string raw = Raw({"GET", StoreKey("v", DriverKey(1))});
  ASSERT_OK_AND_ASSIGN(auto row, DecodeRow(raw));
  EXPECT_EQ(row.version.event_ts, 10);
  EXPECT_EQ(row.names, std::vector<std::string>{"x"});
}

TEST_F(RedisStoreTest, CorruptOrForeignValues) {
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(1), 10, {}, {int64_t{1}})}}));
  // Garbage with a plausible header: reading reports it, naming the view.
  std::string row = Raw({"GET", StoreKey("v", DriverKey(1))});
  Raw({"SET", StoreKey("v", DriverKey(1)), row.substr(0, row.size() - 2)});
  auto r = ReadKeys(store_.get(), "v", {DriverKey(1)}, {"x"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("corrupt"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("view 'v'"), std::string::npos) << r.status().ToString();
  Raw({"SET", StoreKey("v", DriverKey(2)), "short"});
  EXPECT_FALSE(ReadKeys(store_.get(), "v", {DriverKey(2)}, {"x"}).ok());
  // A key of another type reads as absent.
  Raw({"HSET", StoreKey("v", DriverKey(3)), "f", "v"});
  ASSERT_OK_AND_ASSIGN(auto rr, ReadKeys(store_.get(), "v", {DriverKey(3)}, {"x"}));
  EXPECT_EQ(rr.statuses[0], FeatureStatus::kNotFound);
  // Writes replace values without a readable version header (2, 3) whatever their version;
  // a damaged row whose header is intact (1) keeps its version, as in every store.
  RowBatch b{{"x"}, {}};
  b.rows.push_back(MakeRow(DriverKey(1), 10, {}, {int64_t{100}}));
  for (int64_t id : {2, 3}) b.rows.push_back(MakeRow(DriverKey(id), -1000, {}, {id * 100}));
  ASSERT_OK(store_->WriteBatch("v", b));
  ASSERT_OK_AND_ASSIGN(rr, ReadKeys(store_.get(), "v", {DriverKey(1), DriverKey(2), DriverKey(3)}, {"x"}));
  for (int64_t id : {1, 2, 3}) EXPECT_TRUE(SameOptional(rr.value(id - 1, 0), id * 100));
  // Metadata under a key of the wrong type is an error, not a crash.
  std::string meta_key = options_.key_prefix;
  internal::AppendViewPrefix(internal::kMetaTag, "w", &meta_key);
  Raw({"SET", meta_key, "x"});
  EXPECT_FALSE(store_->GetMetadata("w", "a").ok());
  EXPECT_FALSE(store_->SetMetadata("w", "a", "b").ok());
}

TEST_F(RedisStoreTest, SurvivesScriptFlushAndDroppedConnections) {
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(1), 1, {}, {int64_t{1}})}}));
  EXPECT_EQ(Raw({"SCRIPT", "FLUSH"}), "OK");
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(1), 2, {}, {int64_t{2}})}}));
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(1), 1, {}, {int64_t{3}})}}));
  ASSERT_OK_AND_ASSIGN(auto r, ReadKeys(store_.get(), "v", {DriverKey(1)}, {"x"}));
  EXPECT_TRUE(SameOptional(r.value(0, 0), int64_t{2}));
  // The server drops every other client: the pooled connection is dead, the next call
  // reconnects.
  EXPECT_NE(Raw({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}), "0");
  ASSERT_OK_AND_ASSIGN(r, ReadKeys(store_.get(), "v", {DriverKey(1)}, {"x"}));
  EXPECT_TRUE(SameOptional(r.value(0, 0), int64_t{2}));
  EXPECT_NE(Raw({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}), "0");
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(1), 3, {}, {int64_t{4}})}}));
  ASSERT_OK_AND_ASSIGN(r, ReadKeys(store_.get(), "v", {DriverKey(1)}, {"x"}));
  EXPECT_TRUE(SameOptional(r.value(0, 0), int64_t{4}));
}

TEST_F(RedisStoreTest, DatabasesAreSeparate) {
  RedisOptions other = options_;
  other.url = server_->url(/*db=*/5);
  ASSERT_OK_AND_ASSIGN(auto db5, OpenRedisStore(other));
  ASSERT_OK(store_->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(1), 1, {}, {int64_t{1}})}}));
  ASSERT_OK_AND_ASSIGN(auto r, ReadKeys(db5.get(), "v", {DriverKey(1)}, {"x"}));
  EXPECT_EQ(r.statuses[0], FeatureStatus::kNotFound);
  // A database the server does not have.
  other.url = server_->url(/*db=*/999);
  auto bad = OpenRedisStore(other);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("select"), std::string::npos) << bad.status().ToString();
}

TEST_F(RedisStoreTest, SmallChunksPipeline) {
  // Many chunks per call exercise the pipelining (and the NOSCRIPT retry of several chunks).
  RedisOptions o = options_;
  o.write_chunk_rows = 7;
  o.read_chunk_keys = 5;
  ASSERT_OK_AND_ASSIGN(auto s, OpenRedisStore(o));
  RowBatch b{{"x"}, {}};
  for (int i = 0; i < 100; ++i) b.rows.push_back(MakeRow(DriverKey(i), 1, {}, {int64_t{i}}));
  Raw({"SCRIPT", "FLUSH"});
  ASSERT_OK(s->WriteBatch("chunks", b));
  std::vector<std::string> keys;
  for (int i = 0; i < 103; ++i) keys.push_back(DriverKey(i));
  ASSERT_OK_AND_ASSIGN(auto r, ReadKeys(s.get(), "chunks", keys, {"x"}));
  for (int i = 0; i < 103; ++i) {
    if (i < 100) {
      EXPECT_TRUE(SameOptional(r.value(i, 0), int64_t{i}));
    } else {
      EXPECT_EQ(r.statuses[i], FeatureStatus::kNotFound);
    }
  }
}

}  // namespace
}  // namespace strata::online
