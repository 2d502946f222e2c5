// strata-server: the feature server of one feature repository (serve/server.h).
//
//   strata-server --repo DIR [--host 127.0.0.1] [--port 6566] [--threads N]
//                 [--registry-version V] [--refresh-ms 500] [--body-limit BYTES]
//                 [--registry-poll-ms 2000]
//
// Serves the latest applied registry (or version V) from the repository's online store, and
// switches to a newly applied one within --registry-poll-ms (not when V is given): a RocksDB
// store is opened as a read-only secondary that follows the process writing it (materialization,
// stream ingest), a Redis store as configured. Prints one line when ready:
//
//   strata-server listening on http://127.0.0.1:6566 (registry v3, store rocksdb)
//
// SIGTERM or SIGINT: stop accepting, finish the requests in flight, exit 0.


#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "strata/features/online_serving.h"
#include "strata/features/registry.h"
#include "strata/serve/server.h"

namespace {

constexpr const char* kUsage =
    "usage: strata-server --repo DIR [--host HOST] [--port PORT] [--threads N]\n"
    "                     [--registry-version V] [--refresh-ms MS] [--body-limit BYTES]\n"
    "                     [--registry-poll-ms MS]\n"
    "\n"
    "Serves a feature repository's online features over HTTP (Feast's JSON API):\n"
    "  POST /get-online-features, GET /health, GET /metrics (Prometheus).\n"
    "\n"
    "  --repo DIR              the feature repository (run `strata apply` there first)\n"
    "  --host HOST             address to listen on (default 127.0.0.1)\n"
    "  --port PORT             port (default 6566; 0 picks a free one)\n"
    "  --threads N             I/O threads (default: the number of cores)\n"
    "  --registry-version V    serve this applied registry version (default: the latest)\n"
    "  --refresh-ms MS         catch up with the store's writer every MS ms (default 500)\n"
    "  --body-limit BYTES      largest request body (default 1048576)\n"
    "  --registry-poll-ms MS   look for a newly applied registry every MS ms and serve it\n"
    "                          (default 2000; 0: never; not with --registry-version)\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "strata-server: error: %s\n", message.c_str());
  return 1;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "strata-server: %s\n%s", message.c_str(), kUsage);
  return 2;
}

bool ParseInt(std::string_view s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

int main(int argc, char** argv) {
  std::string repo_dir;
  strata::serve::ServerOptions options;
  options.handle_signals = true;
  std::optional<int64_t> registry_version;
  int64_t poll_ms = 2000;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string_view value;
    auto eq = arg.find('=');
    std::string_view name = arg.substr(0, eq);
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Usage("missing value for " + std::string(arg));
    }
    int64_t n = 0;
    auto number = [&](int64_t lo, int64_t hi) {
      return ParseInt(value, &n) && n >= lo && n <= hi;
    };
    if (name == "--repo") {
      repo_dir = std::string(value);
    } else if (name == "--host") {
      options.host = std::string(value);
    } else if (name == "--port") {
      if (!number(0, 65535)) return Usage("--port must be 0..65535, got '" + std::string(value) + "'");
      options.port = static_cast<uint16_t>(n);
    } else if (name == "--threads") {
      if (!number(1, 1024)) return Usage("--threads must be 1..1024, got '" + std::string(value) + "'");
      options.threads = static_cast<int>(n);
    } else if (name == "--registry-version") {
      if (!number(0, INT64_MAX)) return Usage("--registry-version must be >= 0");
      registry_version = n;
    } else if (name == "--refresh-ms") {
      if (!number(0, 3600000)) return Usage("--refresh-ms must be 0..3600000");
      options.refresh_interval_ms = n;
    } else if (name == "--registry-poll-ms") {
      if (!number(0, 3600000)) return Usage("--registry-poll-ms must be 0..3600000");
      poll_ms = n;
    } else if (name == "--body-limit") {
      if (!number(1024, int64_t{1} << 30)) return Usage("--body-limit must be 1024..1073741824");
      options.body_limit = static_cast<size_t>(n);
    } else {
      return Usage("unknown option " + std::string(name));
    }
  }
  if (repo_dir.empty()) return Usage("--repo is required");
  std::error_code ec;
  auto root = std::filesystem::absolute(repo_dir, ec).lexically_normal().string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();

  strata::features::RegistryStore registry(root);
  strata::Result<strata::features::RegistryVersion> version =
      registry_version ? registry.Get(*registry_version)
                       : [&]() -> strata::Result<strata::features::RegistryVersion> {
    ARROW_ASSIGN_OR_RAISE(auto latest, registry.Latest());
    if (!latest) {
      return strata::Error(strata::ErrorCode::kInvalidArgument, "no registry applied in ", root,
                           " yet: run `strata apply` in the feature repository first");
    }
    return std::move(*latest);
  }();
  if (!version.ok()) return Fail(version.status().message());
  auto repo = strata::features::RepositoryFromJson(version->json, root);
  if (!repo.ok()) return Fail("registry v" + std::to_string(version->version) + ": " + repo.status().message());
  options.registry_version = version->version;
  auto shared_repo = std::make_shared<const strata::features::Repository>(std::move(*repo));

  strata::online::OnlineStoreConfig config = shared_repo->online;
  config.read_only = config.type == "rocksdb";  // follow the writing process as a secondary
  // The server refreshes on its own schedule (--refresh-ms), not the store's.
  auto store = strata::features::OpenServingStore(config, /*catch_up_interval_ms=*/0);
  if (!store.ok()) return Fail("opening the online store: " + store.status().message());
  auto serving = strata::features::OnlineServing::Make(shared_repo, *store);
  if (!serving.ok()) return Fail(serving.status().message());

  auto server = strata::serve::Server::Start(std::move(*serving), options);
  if (!server.ok()) return Fail(server.status().message());
  std::printf("strata-server listening on http://%s:%u (registry v%lld, store %s)\n",
              options.host.c_str(), static_cast<unsigned>((*server)->port()),
              static_cast<long long>(version->version), std::string((*store)->kind()).c_str());
  std::fflush(stdout);

  // Follow `strata apply`: serve a newly applied registry when its online store is the same one.
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread poller;
  if (!registry_version && poll_ms > 0) {
    poller = std::thread([&, config = shared_repo->online] {
      int64_t skipped = -1;  // a version that cannot be served (reported once)
      // The registry is read again only when its table has a new commit: a listing of its log
      // per poll, not a scan (which starts reader threads next to the request threads).
      int64_t seen_table_version = -2;
      std::unique_lock<std::mutex> lock(mu);
      while (!cv.wait_for(lock, std::chrono::milliseconds(poll_ms), [&] { return done; })) {
        lock.unlock();
        auto table_version = registry.TableVersion();
        if (table_version.ok() && *table_version == seen_table_version) {
          lock.lock();
          continue;
        }
        auto latest = registry.Latest();
        if (table_version.ok() && latest.ok()) seen_table_version = *table_version;
        if (latest.ok() && latest->has_value() && (*latest)->version != (*server)->registry_version() &&
            (*latest)->version != skipped) {
          const int64_t v = (*latest)->version;
          auto next = strata::features::RepositoryFromJson((*latest)->json, root);
          std::string problem;
          if (!next.ok()) {
            problem = next.status().message();
          } else if (!next->online.SameStore(config)) {
            problem = "its online store differs from the one being served; restart the server";
          } else {
            auto serving = strata::features::OnlineServing::Make(
                std::make_shared<const strata::features::Repository>(std::move(*next)), *store);
            if (serving.ok()) {
              (*server)->SetServing(std::move(*serving), v);
              std::printf("strata-server: serving registry v%lld\n", static_cast<long long>(v));
              std::fflush(stdout);
            } else {
              problem = serving.status().message();
            }
          }
          if (!problem.empty()) {
            std::fprintf(stderr, "strata-server: not serving registry v%lld: %s\n", static_cast<long long>(v),
                         problem.c_str());
            skipped = v;
          }
        }
        lock.lock();
      }
    });
  }
  (*server)->Wait();
  if (poller.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    }
    cv.notify_all();
    poller.join();
  }
  server->reset();
  strata::Status closed = (*store)->Close();
  if (!closed.ok()) return Fail("closing the online store: " + closed.message());
  std::printf("strata-server stopped\n");
  std::fflush(stdout);
  return 0;
}
