#include "strata/online/redis_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

namespace strata::online::testing {
namespace {

namespace fs = std::filesystem;

std::string FindBinary() {
  if (const char* env = std::getenv("STRATA_REDIS_SERVER"); env && *env) return env;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    fs::path candidate = fs::path(p.substr(start, end - start)) / "redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return "";
}

/// A port nothing listens on right now (the kernel's pick for an ephemeral bind).
Result<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::IOError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return Status::IOError("cannot find a free port");
  }
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

bool Pings(int port) {
  timeval tv{0, 200000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr) return false;
  bool ok = false;
  if (c->err == 0) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
  }
  redisFree(c);
  return ok;
}

std::mutex shared_mu;
std::unique_ptr<RedisTestServer> shared_server;
Status shared_error;
bool shared_tried = false;

}  // namespace

bool RedisTestServer::Available() { return !FindBinary().empty(); }

std::string RedisTestServer::url(int db) const {
  return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
}

Result<std::unique_ptr<RedisTestServer>> RedisTestServer::Start() {
  std::string binary = FindBinary();
  if (binary.empty()) return Status::IOError("redis-server not found (set STRATA_REDIS_SERVER)");
  Status last = Status::IOError("redis-server did not start");
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::unique_ptr<RedisTestServer> s(new RedisTestServer());
    std::string tmpl = (fs::temp_directory_path() / "strata-redis-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return Status::IOError("mkdtemp failed");
    s->dir_ = tmpl;
    ARROW_ASSIGN_OR_RAISE(s->port_, FreePort());
    std::string port = std::to_string(s->port_);
    std::string log = s->dir_ + "/redis.log";
    std::vector<std::string> args = {binary, "--port", port, "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", s->dir_,
                                     "--daemonize", "no", "--logfile", log};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) return Status::IOError("fork failed");
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    s->pid_ = pid;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool up = false, exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Pings(s->port_)) {
        up = true;
        break;
      }
      int status;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        s->pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (up) return s;
    last = Status::IOError("redis-server on port ", s->port_,
                           exited ? " exited at start (port taken?)" : " did not answer PING");
    // `s` is destroyed here: stops the child if it still runs, removes the directory.
  }
  return last;
}

RedisTestServer::~RedisTestServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status;
    bool reaped = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!reaped) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

RedisTestServer* RedisTestServer::Shared() {
  std::lock_guard l(shared_mu);
  if (!shared_tried) {
    shared_tried = true;
    auto started = Start();
    if (started.ok()) {
      shared_server = std::move(*started);
    } else {
      shared_error = started.status();
    }
  }
  return shared_server.get();
}

const Status& RedisTestServer::SharedError() {
  std::lock_guard l(shared_mu);
  return shared_error;
}

void RedisTestServer::StopShared() {
  std::lock_guard l(shared_mu);
  shared_server.reset();
}

}  // namespace strata::online::testing
