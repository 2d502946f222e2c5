/// \file
/// The feature server: HTTP/1.1 (keep-alive, pipelining) on Boost.Beast/Asio, answering
///
///   POST /get-online-features   Feast's JSON request and response (request.h, response.h)
///   GET  /health                {"status": "ok", "registry_version": N, ...}
///   GET  /metrics               Prometheus text (metrics.h)
///
/// through features::OnlineServing. Errors are JSON `{"error": "..."}`: 400 for a bad request
/// (malformed JSON or HTTP, unknown feature/view/service, missing or mistyped entity key), 404
/// for an unknown path, 405 for a wrong method, 413 for a body over the limit, 431 for
/// oversized headers, 500 when the store fails (counted in the metrics).
///
/// Threading: `threads` I/O threads, each running its own io_context; connections are dealt to
/// them round robin and stay there, and a connection's requests are answered in order on its
/// thread (a store read takes microseconds, so handing it to another pool would cost more than
/// it saves). A background thread calls
/// `store.Refresh()` every `refresh_interval_ms` so that a RocksDB secondary sees what the
/// writing process (materialization, stream ingest) wrote.
///
/// Shutdown (Shutdown(), or SIGTERM/SIGINT with `handle_signals`): stop accepting, close idle
/// connections, let requests being answered finish and close their connections after the
/// response, then return from Wait(). Connections still busy after `shutdown_grace_ms` are cut.
/// Knows the online serving interface, not the registry's storage or the store's kind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "strata/common/status.h"
#include "strata/features/online_serving.h"

namespace strata::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6566;  ///< 0: an ephemeral port (see Server::port())
  int threads = 0;       ///< I/O threads; 0: the number of cores
  size_t body_limit = size_t{1} << 20;
  size_t header_limit = size_t{16} << 10;
  int64_t idle_timeout_ms = 60000;      ///< a keep-alive connection idle this long is closed
  int64_t io_timeout_ms = 30000;        ///< a request body or a response slower than this closes it
  int64_t refresh_interval_ms = 500;    ///< 0: never refresh the store
  int64_t shutdown_grace_ms = 2000;     ///< then connections still busy are cut
  bool handle_signals = false;          ///< shut down on SIGTERM and SIGINT
  int64_t registry_version = -1;        ///< reported by /health and /metrics
};

class Server {
 public:
  /// Binds, listens and starts the I/O threads; returns once requests are being accepted.
  /// Errors name the address (in use, cannot resolve) as kInvalidArgument or IOError.
  static Result<std::unique_ptr<Server>> Start(std::shared_ptr<const features::OnlineServing> serving,
                                               const ServerOptions& options);
  /// Shuts down and waits.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The bound port (the real one when options.port was 0).
  uint16_t port() const;
  const std::string& host() const;

  /// Begins a graceful shutdown. Thread-safe, idempotent, returns at once.
  void Shutdown();
  /// Blocks until the server has stopped (after Shutdown or a signal).
  void Wait();

  /// The /metrics text.
  std::string MetricsText() const;

  /// Serves `serving` (a newly applied registry) from now on; requests in flight finish with the
  /// one they began with. Thread-safe. The store may be the same object as before.
  void SetServing(std::shared_ptr<const features::OnlineServing> serving, int64_t registry_version);
  int64_t registry_version() const;

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::serve
