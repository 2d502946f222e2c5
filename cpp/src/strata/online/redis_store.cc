#include "strata/online/redis_store.h"

#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <vector>

#include <hiredis/hiredis.h>

#include "strata/online/layout_internal.h"

namespace strata::online {
namespace {

constexpr char kKind[] = "redis";

// KEYS[i]: row keys; ARGV[i]: encoded rows. A row's first 16 bytes are its version and sort
// bytewise like it (value.h), so comparing them byte by byte is comparing versions; Lua's own
// string comparison would use the server's locale. A stored value that is not a row (too short,
// another type) is replaced. Returns the number of rows written.
constexpr char kWriteScript[] = R"lua(
local written = 0
for i = 1, #KEYS do
  local new = ARGV[i]
  local old = redis.pcall('GET', KEYS[i])
  local replace = true
  if type(old) == 'string' and string.len(old) >= 16 then
    if old == new then
      replace = false
    else
      for j = 1, 16 do
        local a, b = string.byte(new, j), string.byte(old, j)
        if a ~= b then
          replace = a > b
          break
        end
      end
    end
  end
  if replace then
    redis.call('SET', KEYS[i], new)
    written = written + 1
  end
end
return written
)lua";

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

/// The arguments of one command; the strings must outlive it.
class Command {
 public:
  Command& Add(std::string_view arg) {
    argv_.push_back(arg.empty() ? "" : arg.data());
    lens_.push_back(arg.size());
    return *this;
  }
  void Reserve(size_t n) {
    argv_.reserve(n);
    lens_.reserve(n);
  }
  int argc() const { return static_cast<int>(argv_.size()); }
  const char** argv() { return argv_.data(); }
  const size_t* lens() const { return lens_.data(); }

 private:
  std::vector<const char*> argv_;
  std::vector<size_t> lens_;
};

timeval Timeval(int ms) {
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

bool IsError(const redisReply* r) { return r->type == REDIS_REPLY_ERROR; }
std::string_view Str(const redisReply* r) { return std::string_view(r->str, r->len); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) {
      return Error(ErrorCode::kInvalidArgument, "bad redis URL: bad percent escape in its credentials");
    }
    int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) {
      return Error(ErrorCode::kInvalidArgument, "bad redis URL: bad percent escape in its credentials");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool ParseInt(std::string_view s, int64_t max, int* out) {
  if (s.empty() || s.size() > 10) return false;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0 || v > max) return false;
  *out = static_cast<int>(v);
  return true;
}

/// Escapes the glob characters of a SCAN MATCH pattern.
std::string GlobEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

class RedisStore final : public OnlineStore {
 public:
  RedisStore(RedisOptions options, RedisEndpoint endpoint)
      : options_(std::move(options)), endpoint_(std::move(endpoint)) {
    where_ = "redis://" + (endpoint_.host.find(':') != std::string::npos
                               ? "[" + endpoint_.host + "]"
                               : endpoint_.host) +
             ":" + std::to_string(endpoint_.port) + "/" + std::to_string(endpoint_.db);
    options_.write_chunk_rows = std::max(1, options_.write_chunk_rows);
    options_.read_chunk_keys = std::max(1, options_.read_chunk_keys);
  }
  ~RedisStore() override { (void)Close(); }

  /// Connects once, so that Open fails on a bad address, and loads the write script.
  Status Start() {
    ARROW_ASSIGN_OR_RAISE(auto conn, Connect());
    Command cmd;
    cmd.Add("SCRIPT").Add("LOAD").Add(kWriteScript);
    ARROW_ASSIGN_OR_RAISE(auto reply, Call(conn.get(), cmd));
    if (reply->type != REDIS_REPLY_STRING) return Unexpected(reply.get(), "SCRIPT LOAD");
    script_sha_ = std::string(Str(reply.get()));
    Release(std::move(conn));
    return Status::OK();
  }

  std::string_view kind() const override { return kKind; }

  Status WriteBatch(std::string_view view, const RowBatch& batch) override {
    std::vector<std::string> keys, rows;
    ARROW_RETURN_NOT_OK(internal::EncodeBatch(options_.key_prefix, view, batch, &keys, &rows));
    if (keys.empty()) return CheckOpen();
    const size_t chunk = static_cast<size_t>(options_.write_chunk_rows);
    const size_t num_chunks = (keys.size() + chunk - 1) / chunk;
    std::vector<std::string> counts(num_chunks);
    for (size_t c = 0; c < num_chunks; ++c) {
      counts[c] = std::to_string(std::min(keys.size(), (c + 1) * chunk) - c * chunk);
    }
    auto make = [&](size_t c, bool by_sha) {
      size_t begin = c * chunk, end = std::min(keys.size(), begin + chunk);
      std::string_view count = counts[c];
      Command cmd;
      cmd.Reserve(3 + 2 * (end - begin));
      const std::string_view script = by_sha ? std::string_view(script_sha_) : kWriteScript;
      cmd.Add(by_sha ? "EVALSHA" : "EVAL").Add(script).Add(count);
      for (size_t i = begin; i < end; ++i) cmd.Add(keys[i]);
      for (size_t i = begin; i < end; ++i) cmd.Add(rows[i]);
      return cmd;
    };
    return WithConnection([&](redisContext* c) -> Status {
      std::vector<Command> cmds;
      cmds.reserve(num_chunks);
      for (size_t i = 0; i < num_chunks; ++i) cmds.push_back(make(i, true));
      ARROW_ASSIGN_OR_RAISE(auto replies, Pipeline(c, &cmds));
      // After a SCRIPT FLUSH or a server restart the script is gone: send it whole again.
      std::vector<Command> retry;
      Status first_error;
      for (size_t i = 0; i < replies.size(); ++i) {
        const redisReply* r = replies[i].get();
        if (IsError(r) && Str(r).starts_with("NOSCRIPT")) {
          retry.push_back(make(i, false));
        } else if (r->type != REDIS_REPLY_INTEGER && first_error.ok()) {
          first_error = Unexpected(r, "writing view '" + std::string(view) + "'");
        }
      }
      ARROW_RETURN_NOT_OK(first_error);
      if (retry.empty()) return Status::OK();
      ARROW_ASSIGN_OR_RAISE(replies, Pipeline(c, &retry));
      for (const auto& r : replies) {
        if (r->type != REDIS_REPLY_INTEGER) {
          return Unexpected(r.get(), "writing view '" + std::string(view) + "'");
        }
      }
      return Status::OK();
    });
  }

  Result<ReadResult> Read(std::string_view view, std::span<const std::string> keys,
                          std::span<const std::string> features,
                          const ReadOptions& options) override {
    ARROW_RETURN_NOT_OK(internal::CheckView(view));
    ReadResult result = internal::EmptyResult(keys.size(), features.size());
    const size_t n = keys.size();
    if (n == 0) {
      ARROW_RETURN_NOT_OK(CheckOpen());
      return result;
    }
    std::string prefix = options_.key_prefix;
    internal::AppendViewPrefix(internal::kRowTag, view, &prefix);
    std::string buf;
    size_t total = n * prefix.size();
    for (const auto& k : keys) total += k.size();
    buf.reserve(total);
    std::vector<size_t> offsets(n + 1);
    for (size_t i = 0; i < n; ++i) {
      offsets[i] = buf.size();
      buf.append(prefix).append(keys[i]);
    }
    offsets[n] = buf.size();
    const size_t chunk = static_cast<size_t>(options_.read_chunk_keys);
    const size_t num_chunks = (n + chunk - 1) / chunk;
    const int64_t now = internal::NowMicros(options);
    FeatureSelector selector(features);

    ARROW_RETURN_NOT_OK(WithConnection([&](redisContext* c) -> Status {
      std::vector<Command> cmds(num_chunks);
      for (size_t ch = 0; ch < num_chunks; ++ch) {
        size_t begin = ch * chunk, end = std::min(n, begin + chunk);
        cmds[ch].Reserve(1 + end - begin);
        cmds[ch].Add("MGET");
        for (size_t i = begin; i < end; ++i) {
          cmds[ch].Add(std::string_view(buf).substr(offsets[i], offsets[i + 1] - offsets[i]));
        }
      }
      ARROW_ASSIGN_OR_RAISE(auto replies, Pipeline(c, &cmds));
      for (size_t ch = 0; ch < num_chunks; ++ch) {
        size_t begin = ch * chunk, end = std::min(n, begin + chunk);
        const redisReply* r = replies[ch].get();
        if (r->type != REDIS_REPLY_ARRAY || r->elements != end - begin) {
          return Unexpected(r, "reading view '" + std::string(view) + "'");
        }
        for (size_t i = begin; i < end; ++i) {
          const redisReply* e = r->element[i - begin];
          if (e->type == REDIS_REPLY_NIL) continue;
          if (e->type != REDIS_REPLY_STRING) {
            return Unexpected(e, "reading view '" + std::string(view) + "'");
          }
          ARROW_RETURN_NOT_OK(internal::FillFromRow(view, keys[i], Str(e), i, &selector,
                                                    options, now, &result));
        }
      }
      return Status::OK();
    }));
    internal::SpreadDuplicateFeatures(features, &result);
    return result;
  }

  Status DeleteView(std::string_view view) override {
    ARROW_RETURN_NOT_OK(internal::CheckView(view));
    std::string prefix = options_.key_prefix;
    internal::AppendViewPrefix(internal::kRowTag, view, &prefix);
    const std::string pattern = GlobEscape(prefix) + "*";
    const std::string meta = MetaHash(view);
    return WithConnection([&](redisContext* c) -> Status {
      std::string cursor = "0";
      do {
        Command scan;
        scan.Add("SCAN").Add(cursor).Add("MATCH").Add(pattern).Add("COUNT").Add("1000");
        ARROW_ASSIGN_OR_RAISE(auto reply, Call(c, scan));
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            reply->element[1]->type != REDIS_REPLY_ARRAY) {
          return Unexpected(reply.get(), "SCAN");
        }
        cursor = std::string(Str(reply->element[0]));
        const redisReply* found = reply->element[1];
        if (found->elements == 0) continue;
        Command unlink;
        unlink.Reserve(1 + found->elements);
        unlink.Add("UNLINK");
        for (size_t i = 0; i < found->elements; ++i) unlink.Add(Str(found->element[i]));
        ARROW_ASSIGN_OR_RAISE(auto deleted, Call(c, unlink));
        if (deleted->type != REDIS_REPLY_INTEGER) return Unexpected(deleted.get(), "UNLINK");
      } while (cursor != "0");
      Command del;
      del.Add("DEL").Add(meta);
      ARROW_ASSIGN_OR_RAISE(auto reply, Call(c, del));
      if (reply->type != REDIS_REPLY_INTEGER) return Unexpected(reply.get(), "DEL");
      return Status::OK();
    });
  }

  Status SetMetadata(std::string_view view, std::string_view name,
                     std::string_view value) override {
    ARROW_RETURN_NOT_OK(internal::CheckView(view));
    const std::string meta = MetaHash(view);
    return WithConnection([&](redisContext* c) -> Status {
      Command cmd;
      cmd.Add("HSET").Add(meta).Add(name).Add(value);
      ARROW_ASSIGN_OR_RAISE(auto reply, Call(c, cmd));
      if (reply->type != REDIS_REPLY_INTEGER) return Unexpected(reply.get(), "HSET");
      return Status::OK();
    });
  }

  Result<std::optional<std::string>> GetMetadata(std::string_view view,
                                                 std::string_view name) override {
    ARROW_RETURN_NOT_OK(internal::CheckView(view));
    const std::string meta = MetaHash(view);
    std::optional<std::string> out;
    ARROW_RETURN_NOT_OK(WithConnection([&](redisContext* c) -> Status {
      Command cmd;
      cmd.Add("HGET").Add(meta).Add(name);
      ARROW_ASSIGN_OR_RAISE(auto reply, Call(c, cmd));
      if (reply->type == REDIS_REPLY_NIL) return Status::OK();
      if (reply->type != REDIS_REPLY_STRING) return Unexpected(reply.get(), "HGET");
      out = std::string(Str(reply.get()));
      return Status::OK();
    }));
    return out;
  }

  Status Close() override {
    std::lock_guard l(pool_mu_);
    closed_ = true;
    idle_.clear();
    return Status::OK();
  }

 private:
  std::string MetaHash(std::string_view view) const {
    std::string k = options_.key_prefix;
    internal::AppendViewPrefix(internal::kMetaTag, view, &k);
    return k;
  }

  Status Transport(redisContext* c, std::string_view doing) const {
    return Status::IOError("redis at ", where_, ": ", doing, ": ",
                           c->err ? c->errstr : "connection lost");
  }

  Status Unexpected(const redisReply* r, std::string_view doing) const {
    if (IsError(r)) return Status::IOError("redis at ", where_, ": ", doing, ": ", Str(r));
    return Status::IOError("redis at ", where_, ": ", doing, ": unexpected reply type ", r->type);
  }

  Status CheckOpen() {
    std::lock_guard l(pool_mu_);
    if (closed_) return internal::ClosedError(kKind);
    return Status::OK();
  }

  Result<ContextPtr> Connect() const {
    ContextPtr c(redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                                         Timeval(options_.connect_timeout_ms)));
    if (!c) return Status::OutOfMemory("cannot allocate a redis context");
    if (c->err) return Status::IOError("cannot connect to ", where_, ": ", c->errstr);
    if (redisSetTimeout(c.get(), Timeval(options_.io_timeout_ms)) != REDIS_OK) {
      return Transport(c.get(), "setting timeouts");
    }
    if (!endpoint_.password.empty()) {
      Command auth;
      auth.Add("AUTH");
      if (!endpoint_.username.empty()) auth.Add(endpoint_.username);
      auth.Add(endpoint_.password);
      ARROW_ASSIGN_OR_RAISE(auto reply, Call(c.get(), auth));
      if (IsError(reply.get())) {
        return Error(ErrorCode::kInvalidArgument, "redis at ", where_,
                     ": authentication failed: ", Str(reply.get()));
      }
    }
    if (endpoint_.db != 0) {
      Command select;
      std::string db = std::to_string(endpoint_.db);
      select.Add("SELECT").Add(db);
      ARROW_ASSIGN_OR_RAISE(auto reply, Call(c.get(), select));
      if (IsError(reply.get())) {
        return Error(ErrorCode::kInvalidArgument, "redis at ", where_, ": cannot select db ",
                     endpoint_.db, ": ", Str(reply.get()));
      }
    }
    return c;
  }

  Result<ReplyPtr> Call(redisContext* c, Command& cmd) const {
    void* raw = redisCommandArgv(c, cmd.argc(), cmd.argv(), cmd.lens());
    if (raw == nullptr) return Transport(c, "sending a command");
    return ReplyPtr(static_cast<redisReply*>(raw));
  }

  /// Sends every command, then reads every reply, in order.
  Result<std::vector<ReplyPtr>> Pipeline(redisContext* c, std::vector<Command>* cmds) const {
    for (auto& cmd : *cmds) {
      if (redisAppendCommandArgv(c, cmd.argc(), cmd.argv(), cmd.lens()) != REDIS_OK) {
        return Transport(c, "sending a command");
      }
    }
    std::vector<ReplyPtr> replies;
    replies.reserve(cmds->size());
    for (size_t i = 0; i < cmds->size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
        return Transport(c, "reading a reply");
      }
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    return replies;
  }

  /// A pooled connection when there is one (and whether it was), else a new one.
  Result<std::pair<ContextPtr, bool>> Acquire() {
    {
      std::lock_guard l(pool_mu_);
      if (closed_) return internal::ClosedError(kKind);
      if (!idle_.empty()) {
        ContextPtr c = std::move(idle_.back());
        idle_.pop_back();
        return std::make_pair(std::move(c), true);
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto c, Connect());
    return std::make_pair(std::move(c), false);
  }

  void Release(ContextPtr c) {
    if (c->err != 0) return;  // broken: drop it
    std::lock_guard l(pool_mu_);
    if (closed_ || idle_.size() >= static_cast<size_t>(std::max(0, options_.max_idle_connections))) {
      return;
    }
    idle_.push_back(std::move(c));
  }

  /// Runs `fn` on a connection. A pooled connection that turns out broken (the server closed
  /// it, or restarted) is retried once on a new one: every operation here is idempotent.
  template <typename Fn>
  Status WithConnection(Fn&& fn) {
    for (int attempt = 0;; ++attempt) {
      ARROW_ASSIGN_OR_RAISE(auto acquired, Acquire());
      auto& [conn, reused] = acquired;
      Status st = fn(conn.get());
      bool broken = conn->err != 0;
      Release(std::move(conn));
      if (st.ok() || !broken || !reused || attempt > 0) return st;
    }
  }

  RedisOptions options_;
  const RedisEndpoint endpoint_;
  std::string where_;  // for messages; never holds the password
  std::string script_sha_;

  std::mutex pool_mu_;
  std::vector<ContextPtr> idle_;
  bool closed_ = false;
};

}  // namespace

Result<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    // Messages end up in logs: never with the credentials.
    std::string shown(url);
    size_t scheme = shown.find("://");
    size_t at = shown.rfind('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
      shown.replace(scheme + 3, at - scheme - 3, "***");
    }
    return Error(ErrorCode::kInvalidArgument, "bad redis URL '", shown, "': ", why,
                 " (expected redis://[[user]:password@]host[:port][/db])");
  };
  if (url.starts_with("rediss://")) return bad("TLS (rediss://) is not supported");
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return bad("not a redis:// URL");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) return bad("query and fragment are not supported");
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return bad("control character or space");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);

  RedisEndpoint ep;
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) return bad("credentials must be [user]:password");
    ARROW_ASSIGN_OR_RAISE(ep.username, PercentDecode(userinfo.substr(0, colon)));
    ARROW_ASSIGN_OR_RAISE(ep.password, PercentDecode(userinfo.substr(colon + 1)));
    if (ep.password.empty()) return bad("empty password");
  }
  std::string_view host, port;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6] host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("junk after the host");
      port = after.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return bad("empty port");
    }
    if (host.find_first_of("[]@") != std::string_view::npos) return bad("bad host");
  }
  if (host.empty()) return bad("no host");
  ep.host = std::string(host);
  if (!port.empty() && (!ParseInt(port, 65535, &ep.port) || ep.port == 0)) return bad("bad port");
  if (!path.empty() && !ParseInt(path, 1 << 20, &ep.db)) return bad("bad database number");
  return ep;
}

Result<std::unique_ptr<OnlineStore>> OpenRedisStore(const RedisOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto endpoint, ParseRedisUrl(options.url));
  auto store = std::make_unique<RedisStore>(options, std::move(endpoint));
  ARROW_RETURN_NOT_OK(store->Start());
  return std::unique_ptr<OnlineStore>(std::move(store));
}

}  // namespace strata::online
