/// \file
/// Test and benchmark helper (not part of the library): a private redis-server child process
/// on 127.0.0.1 and a free port, with its own temporary directory and no persistence. Tests
/// never touch a server on the default port.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "strata/common/status.h"

namespace strata::online::testing {

class RedisTestServer {
 public:
  /// Starts redis-server ($STRATA_REDIS_SERVER, else redis-server on PATH) and waits until
  /// it answers PING. The child dies with this process (PR_SET_PDEATHSIG).
  static Result<std::unique_ptr<RedisTestServer>> Start();

  /// Stops the server (SIGTERM, then SIGKILL) and removes its directory.
  ~RedisTestServer();
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  int port() const { return port_; }
  std::string url(int db = 0) const;

  /// The server shared by one test binary, started on first use; null (with the reason in
  /// `SharedError()`) when it cannot start. StopShared() ends it (a GoogleTest Environment's
  /// TearDown calls it).
  static RedisTestServer* Shared();
  static const Status& SharedError();
  static void StopShared();

  /// True when a redis-server binary can be found.
  static bool Available();

 private:
  RedisTestServer() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
};

}  // namespace strata::online::testing
