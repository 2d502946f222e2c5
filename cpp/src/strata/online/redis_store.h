/// \file
/// The shared online store: a Redis server (hiredis, RESP2), for many feature servers.
///
/// Layout: one Redis string per (view, entity): key = key_prefix 'v' varint(len(view)) view
/// entity_key, value = the encoded row (value.h); metadata in one hash per view, key =
/// key_prefix 'm' varint(len(view)) view. Strings rather than a hash per entity: a read of a
/// batch is one MGET, and a row is written whole anyway.
///
/// Writes run a small Lua script (EVALSHA; EVAL again after a script-cache flush) that, for
/// each row, compares the 16-byte version header of the stored and the new row and SETs only
/// if the new one is newer or equal. A script runs atomically in Redis, so concurrent writers
/// converge. Batches are sent in chunks, pipelined; reads are one pipelined MGET per chunk.
/// A single Redis server only: in Redis Cluster the keys of one script would span slots.
///
/// Connections come from a small pool (one per concurrent caller); a connection that failed
/// is dropped and the next call reconnects.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "strata/online/online_store.h"

namespace strata::online {

/// A parsed redis:// URL.
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string username;  ///< empty: AUTH with the password only
  std::string password;  ///< empty: no AUTH
};

/// Parses redis://[[user]:password@]host[:port][/db]; host may be an [IPv6] literal, user and
/// password may be percent-encoded. Errors (kInvalidArgument) on anything else, including
/// rediss:// (TLS is not supported).
Result<RedisEndpoint> ParseRedisUrl(std::string_view url);

struct RedisOptions {
  std::string url = "redis://127.0.0.1:6379/0";
  std::string key_prefix = "strata:";
  int connect_timeout_ms = 2000;
  int io_timeout_ms = 10000;
  /// Idle connections kept for reuse; more are opened under concurrency and closed after.
  int max_idle_connections = 8;
  /// Rows per Lua script call (a script blocks the server while it runs).
  int write_chunk_rows = 256;
  /// Keys per MGET.
  int read_chunk_keys = 1024;
};

/// Connects (so that a wrong URL or an unreachable server fails here) and loads the script.
Result<std::unique_ptr<OnlineStore>> OpenRedisStore(const RedisOptions& options);

}  // namespace strata::online
