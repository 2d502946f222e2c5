/// \file
/// The embedded online store: one RocksDB database directory.
///
/// Sharing one store between a writer and readers in other processes. RocksDB lets only one
/// process open a directory for writing (its LOCK file). A materialization job or stream
/// worker opens the *primary* (Mode::kPrimary); the feature server opens a *secondary*
/// (Mode::kSecondary): a read-only instance that reads the primary's files, and sees its newer
/// writes only when it catches up by replaying the primary's MANIFEST and write-ahead log
/// (rocksdb::DB::TryCatchUpWithPrimary). Catching up happens in Refresh(), and, when
/// `catch_up_interval_ms` > 0, on a background thread at that interval, so a secondary lags
/// its primary by at most about that long. A secondary starts from what the primary has
/// written when it opens; the primary need not be running. Several secondaries may follow one
/// primary; each keeps its own info log in `secondary_path`.
///
/// Layout, shared with Redis (layout_internal.h): a row lives under
/// 'v' varint(len(view)) view entity_key; metadata under 'm' varint(len(view)) view name. A
/// file STRATA_ONLINE_FORMAT beside RocksDB's files marks the directory and its format.
/// Reads use MultiGet with pinned slices, whole-key bloom filters (memtable and table files),
/// a row cache and a block cache; views are deleted with point deletes, because the row cache
/// ignores range tombstones.
/// Writes read the stored versions of the batch's keys and write the winners in one atomic
/// rocksdb::WriteBatch; writes of one primary are serialized by a mutex, which with the
/// single-writer-process rule makes the newer-or-equal rule atomic.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "strata/online/online_store.h"

namespace strata::online {

struct RocksDbOptions {
  enum class Mode {
    kPrimary,    ///< read-write; creates the directory when missing
    kSecondary,  ///< read-only follower of the primary writing `path`
  };
  std::string path;
  Mode mode = Mode::kPrimary;
  /// kSecondary: a directory for this instance's own info log; empty = a fresh temporary
  /// directory, removed on Close.
  std::string secondary_path;
  /// kSecondary: catch up with the primary every this many milliseconds on a background
  /// thread; 0 = only in Refresh().
  int64_t catch_up_interval_ms = 100;
  /// LRU cache of data blocks.
  size_t block_cache_bytes = size_t{256} << 20;
  /// LRU cache of whole rows read from table files (RocksDB's row cache); 0 disables it.
  size_t row_cache_bytes = size_t{64} << 20;
  /// fsync the write-ahead log on every write (survives power loss, not only process crash).
  bool sync_writes = false;
};

/// Opens the store. Errors: the directory is not a strata online store, is locked by another
/// primary, or (secondary) holds no database.
Result<std::unique_ptr<OnlineStore>> OpenRocksDbStore(const RocksDbOptions& options);

}  // namespace strata::online
