#include "strata/online/rocksdb_store.h"

#include <stdlib.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "strata/online/layout_internal.h"

namespace strata::online {
namespace {

namespace fs = std::filesystem;
using internal::AppendViewPrefix;

constexpr char kKind[] = "rocksdb";
// A file beside RocksDB's own marks a strata online store and its format, so that opening
// some other RocksDB directory fails clearly (and before anything in it is touched).
constexpr char kFormatFile[] = "STRATA_ONLINE_FORMAT";
constexpr char kFormatValue[] = "1";
constexpr char kIngestDir[] = "ingest";  // table files being written for IngestExternalFile

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  std::string msg = std::string(context) + ": " + s.ToString();
  if (s.IsIOError() && msg.find("lock") != std::string::npos) {
    msg += " (one process at a time may open an online store for writing; readers in other "
           "processes open it read-only, as a secondary)";
  }
  if (s.IsCorruption()) return Status::IOError("corrupt online store: ", msg);
  if (s.IsInvalidArgument() || s.IsNotSupported()) {
    return Error(ErrorCode::kInvalidArgument, msg);
  }
  return Status::IOError(msg);
}

/// The smallest key greater than every key starting with `prefix`. REQUIRES: `prefix` has a
/// byte other than 0xff (ours start with a tag).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xff) prefix.pop_back();
  prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
  return prefix;
}

rocksdb::Options MakeOptions(const RocksDbOptions& o, std::shared_ptr<rocksdb::Cache> cache) {
  rocksdb::Options opts;
  opts.max_open_files = -1;  // required by secondaries; keeps table readers open for speed
  opts.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  opts.keep_log_file_num = 2;
  opts.max_background_jobs = 2;
  opts.level_compaction_dynamic_level_bytes = true;
  opts.bytes_per_sync = 1 << 20;
  // Point lookups of keys that were never written are common (new entities): a bloom filter
  // in the memtable as in every table file answers them without a search.
  opts.memtable_prefix_bloom_size_ratio = 0.02;
  opts.memtable_whole_key_filtering = true;
  auto supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType t) {
    return std::find(supported.begin(), supported.end(), t) != supported.end();
  };
  opts.compression = has(rocksdb::kLZ4Compression)      ? rocksdb::kLZ4Compression
                     : has(rocksdb::kSnappyCompression) ? rocksdb::kSnappyCompression
                                                        : rocksdb::kNoCompression;
  // Whole rows by key: a hit skips the index and data block search of a table file, which
  // is most of the cost of a point lookup.
  if (o.row_cache_bytes > 0) opts.row_cache = rocksdb::NewLRUCache(o.row_cache_bytes);
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = std::move(cache);
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  t.whole_key_filtering = true;
  // Index and filter blocks live with the open table readers (max_open_files = -1), outside
  // the cache: no cache lookup for them on the read path. About 2% of the data in memory.
  t.cache_index_and_filter_blocks = false;
  // A hash index inside each data block finds a key's restart interval; short intervals mean
  // few keys to parse after it.
  t.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
  t.data_block_hash_table_util_ratio = 0.75;
  t.block_restart_interval = 4;
  t.format_version = 5;
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return opts;
}

class RocksDbStore final : public OnlineStore {
 public:
  RocksDbStore(RocksDbOptions options, std::shared_ptr<rocksdb::Cache> cache)
      : options_(std::move(options)), cache_(std::move(cache)) {
    write_options_.sync = options_.sync_writes;
  }
  ~RocksDbStore() override { (void)Close(); }

  Status OpenDb() {
    rocksdb::Options opts = MakeOptions(options_, cache_);
    rocksdb::DB* raw = nullptr;
    const std::string& path = options_.path;
    std::error_code ec;
    const bool exists = fs::exists(fs::path(path) / "CURRENT", ec);
    if (options_.mode == RocksDbOptions::Mode::kPrimary) {
      if (exists) {
        ARROW_RETURN_NOT_OK(CheckFormat());
      } else {
        // The marker first: a crash before the database exists leaves a directory that the
        // next open simply completes.
        fs::create_directories(path, ec);
        if (ec) {
          return Status::IOError("cannot create online store directory '", path, "': ", ec.message());
        }
        ARROW_RETURN_NOT_OK(WriteFormat());
      }
      opts.create_if_missing = true;
      rocksdb::Status s = rocksdb::DB::Open(opts, path, &raw);
      if (!s.ok()) return FromRocks(s, "opening online store '" + path + "'");
      db_.reset(raw);
      // Files a killed writer left before ingesting them (the open above holds the lock).
      fs::remove_all(fs::path(path) / kIngestDir, ec);
      return Status::OK();
    }
    if (!exists) {
      return Error(ErrorCode::kInvalidArgument, "no online store at '", path,
                   "' to follow (a writer creates it when it first opens it)");
    }
    // Each catch-up opens the table files the writer added since the last one, by default on
    // 16 threads started for that call alone: a burst of thread creation every catch-up, on the
    // cores that serve requests. Catch-ups open a few files at a time; one thread does it.
    opts.max_file_opening_threads = 1;
    ARROW_RETURN_NOT_OK(CheckFormat());
    std::string secondary = options_.secondary_path;
    if (secondary.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "strata-online-secondary-XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) {
        return Status::IOError("cannot create a temporary directory for a secondary");
      }
      secondary = owned_secondary_dir_ = tmpl;
    }
    rocksdb::Status s = rocksdb::DB::OpenAsSecondary(opts, path, secondary, &raw);
    if (!s.ok()) return FromRocks(s, "opening online store '" + path + "' as a secondary");
    db_.reset(raw);
    if (options_.catch_up_interval_ms > 0) {
      catch_up_thread_ = std::thread([this] { CatchUpLoop(); });
    }
    return Status::OK();
  }

  std::string_view kind() const override { return kKind; }

  Status WriteBatch(std::string_view view, const RowBatch& batch) override {
    std::shared_lock lock(close_mu_);
    ARROW_RETURN_NOT_OK(CheckWritable());
    std::vector<std::string> keys, rows;
    ARROW_RETURN_NOT_OK(internal::EncodeBatch("", view, batch, &keys, &rows));
    if (keys.empty()) return Status::OK();

    // Within the batch, the newer-or-equal row (the later one on a tie) wins.
    std::vector<size_t> winners;
    if (keys.size() == 1) {
      winners.push_back(0);
    } else {
      std::unordered_map<std::string_view, size_t> best;
      best.reserve(keys.size());
      for (size_t i = 0; i < keys.size(); ++i) {
        auto [it, inserted] = best.try_emplace(keys[i], i);
        if (inserted) continue;
        const OnlineRow& a = batch.rows[i];
        const OnlineRow& b = batch.rows[it->second];
        if (RowVersion{a.event_ts, a.created_ts}.Compare({b.event_ts, b.created_ts}) >= 0) {
          it->second = i;
        }
      }
      winners.reserve(best.size());
      for (const auto& [k, i] : best) winners.push_back(i);
    }

    const size_t n = winners.size();
    std::vector<rocksdb::Slice> slices(n);
    for (size_t j = 0; j < n; ++j) slices[j] = keys[winners[j]];
    std::vector<rocksdb::PinnableSlice> stored(n);
    std::vector<rocksdb::Status> statuses(n);
    rocksdb::WriteBatch wb;
    std::vector<std::pair<std::string_view, std::string_view>> puts;  // key, row
    puts.reserve(n);
    std::lock_guard write_lock(write_mu_);
    db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), n, slices.data(),
                  stored.data(), statuses.data());
    for (size_t j = 0; j < n; ++j) {
      const std::string& row = rows[winners[j]];
      if (statuses[j].ok()) {
        std::string_view old(stored[j].data(), stored[j].size());
        if (old == row) continue;  // a replay: nothing changes
        auto old_version = DecodeRowVersion(old);
        // A value too short to hold a version is garbage: any row replaces it.
        if (old_version.ok() && DecodeRowVersion(row)->Compare(*old_version) < 0) continue;
      } else if (!statuses[j].IsNotFound()) {
        return FromRocks(statuses[j], "writing view '" + std::string(view) + "'");
      }
      puts.emplace_back(std::string_view(slices[j].data(), slices[j].size()), row);
    }
    if (puts.empty()) return Status::OK();
    if (puts.size() >= kIngestMinRows) return Ingest(view, &puts);
    for (const auto& [k, v] : puts) {
      rocksdb::Status s = wb.Put(rocksdb::Slice(k.data(), k.size()), rocksdb::Slice(v.data(), v.size()));
      if (!s.ok()) return FromRocks(s, "writing view '" + std::string(view) + "'");
    }
    rocksdb::Status s = db_->Write(write_options_, &wb);
    if (!s.ok()) return FromRocks(s, "writing view '" + std::string(view) + "'");
    return Status::OK();
  }

  Result<ReadResult> Read(std::string_view view, std::span<const std::string> keys,
                          std::span<const std::string> features,
                          const ReadOptions& options) override {
    std::shared_lock lock(close_mu_);
    if (!db_) return internal::ClosedError(kKind);
    ARROW_RETURN_NOT_OK(internal::CheckView(view));
    ReadResult result = internal::EmptyResult(keys.size(), features.size());
    const size_t n = keys.size();
    if (n == 0) return result;

    // All store keys in one buffer: one allocation for the batch.
    std::string prefix;
    AppendViewPrefix(internal::kRowTag, view, &prefix);
    size_t total = n * prefix.size();
    for (const auto& k : keys) total += k.size();
    std::string buf;
    buf.reserve(total);
    std::vector<rocksdb::Slice> slices(n);
    for (size_t i = 0; i < n; ++i) {
      size_t offset = buf.size();
      buf.append(prefix).append(keys[i]);
      slices[i] = rocksdb::Slice(buf.data() + offset, buf.size() - offset);
    }
    std::vector<rocksdb::PinnableSlice> values(n);
    std::vector<rocksdb::Status> statuses(n);
    db_->MultiGet(read_options_, db_->DefaultColumnFamily(), n, slices.data(), values.data(),
                  statuses.data());

    const int64_t now = internal::NowMicros(options);
    FeatureSelector selector(features);
    for (size_t i = 0; i < n; ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) {
        return FromRocks(statuses[i], "reading view '" + std::string(view) + "'");
      }
      ARROW_RETURN_NOT_OK(internal::FillFromRow(view, keys[i],
                                                std::string_view(values[i].data(), values[i].size()),
                                                i, &selector, options, now, &result));
    }
    internal::SpreadDuplicateFeatures(features, &result);
    return result;
  }

  Status DeleteView(std::string_view view) override {
    std::shared_lock lock(close_mu_);
    ARROW_RETURN_NOT_OK(CheckWritable());
    ARROW_RETURN_NOT_OK(internal::CheckView(view));
    const std::string context = "deleting view '" + std::string(view) + "'";
    std::lock_guard write_lock(write_mu_);
    // Point deletes, not DeleteRange: RocksDB's row cache does not see range tombstones
    // (facebook/rocksdb#4122) and would keep serving deleted rows.
    for (char tag : {internal::kRowTag, internal::kMetaTag}) {
      std::string begin;
      AppendViewPrefix(tag, view, &begin);
      const std::string end = PrefixEnd(begin);
      rocksdb::Slice upper(end);
      rocksdb::ReadOptions ro;
      ro.iterate_upper_bound = &upper;
      ro.fill_cache = false;
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
      rocksdb::WriteBatch wb;
      for (it->Seek(begin); it->Valid(); it->Next()) {
        rocksdb::Status s = wb.Delete(it->key());
        if (!s.ok()) return FromRocks(s, context);
        if (wb.Count() >= 10000) {
          s = db_->Write(write_options_, &wb);
          if (!s.ok()) return FromRocks(s, context);
          wb.Clear();
        }
      }
      if (!it->status().ok()) return FromRocks(it->status(), context);
      if (wb.Count() > 0) {
        rocksdb::Status s = db_->Write(write_options_, &wb);
        if (!s.ok()) return FromRocks(s, context);
      }
    }
    return Status::OK();
  }

  Status SetMetadata(std::string_view view, std::string_view name,
                     std::string_view value) override {
    std::shared_lock lock(close_mu_);
    ARROW_RETURN_NOT_OK(CheckWritable());
    ARROW_RETURN_NOT_OK(internal::CheckView(view));
    std::lock_guard write_lock(write_mu_);
    rocksdb::Status s = db_->Put(write_options_, internal::MetaKey(view, name), value);
    if (!s.ok()) return FromRocks(s, "setting metadata of view '" + std::string(view) + "'");
    return Status::OK();
  }

  Result<std::optional<std::string>> GetMetadata(std::string_view view,
                                                 std::string_view name) override {
    std::shared_lock lock(close_mu_);
    if (!db_) return internal::ClosedError(kKind);
    ARROW_RETURN_NOT_OK(internal::CheckView(view));
    std::string value;
    rocksdb::Status s = db_->Get(read_options_, internal::MetaKey(view, name), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocks(s, "reading metadata of view '" + std::string(view) + "'");
    return value;
  }

  Status Refresh() override {
    std::shared_lock lock(close_mu_);
    if (!db_) return internal::ClosedError(kKind);
    if (options_.mode != RocksDbOptions::Mode::kSecondary) return Status::OK();
    return CatchUp();
  }

  Status Close() override {
    {
      std::lock_guard l(stop_mu_);
      stop_ = true;
    }
    stop_cv_.notify_all();
    if (catch_up_thread_.joinable()) catch_up_thread_.join();
    std::unique_lock lock(close_mu_);
    rocksdb::Status s;
    if (db_) {
      if (options_.mode == RocksDbOptions::Mode::kPrimary) {
        // Rows still in the memtable cost readers a skiplist search each (several times a
        // table-file lookup through the row cache); a writer that is done hands over table
        // files.
        s = db_->Flush(rocksdb::FlushOptions());
      }
      rocksdb::Status closed = db_->Close();
      if (s.ok()) s = closed;
      db_.reset();
    }
    if (!owned_secondary_dir_.empty()) {
      std::error_code ec;
      fs::remove_all(owned_secondary_dir_, ec);
      owned_secondary_dir_.clear();
    }
    if (!s.ok()) return FromRocks(s, "closing online store '" + options_.path + "'");
    return Status::OK();
  }

 private:
  /// Large batches (materialization writes tens of thousands of rows at a time) skip the
  /// write-ahead log, the memtable and its flush: their rows go, sorted, into a table file that
  /// RocksDB ingests atomically (IngestExternalFile; a reader sees all of it or none of it, and a
  /// kill -9 before the ingestion leaves the store as it was). Inserting them one by one into the
  /// memtable's skiplist was most of a materialization's store time.
  static constexpr uint32_t kIngestMinRows = 4096;

  /// `puts`: distinct keys; sorted here.
  Status Ingest(std::string_view view, std::vector<std::pair<std::string_view, std::string_view>>* puts_in) {
    auto& puts = *puts_in;
    std::sort(puts.begin(), puts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    const fs::path dir = fs::path(options_.path) / kIngestDir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create '", dir.string(), "': ", ec.message());
    const fs::path file = dir / ("batch-" + std::to_string(++ingest_seq_) + ".sst");
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), db_->GetOptions());
    rocksdb::Status s = writer.Open(file.string());
    for (size_t i = 0; s.ok() && i < puts.size(); ++i) {
      s = writer.Put(rocksdb::Slice(puts[i].first.data(), puts[i].first.size()),
                     rocksdb::Slice(puts[i].second.data(), puts[i].second.size()));
    }
    if (s.ok()) s = writer.Finish();
    if (s.ok()) {
      rocksdb::IngestExternalFileOptions io;
      io.move_files = true;  // a hard link: the file is not copied
      s = db_->IngestExternalFile({file.string()}, io);
    }
    fs::remove(file, ec);  // moved in, or a failed attempt
    if (!s.ok()) return FromRocks(s, "writing view '" + std::string(view) + "'");
    return Status::OK();
  }

  Status CheckWritable() const {
    if (!db_) return internal::ClosedError(kKind);
    if (options_.mode == RocksDbOptions::Mode::kSecondary) {
      return Error(ErrorCode::kInvalidArgument, "online store '", options_.path,
                   "' is open read-only (as a secondary)");
    }
    return Status::OK();
  }

  Status CheckFormat() const {
    const fs::path file = fs::path(options_.path) / kFormatFile;
    std::ifstream in(file);
    if (!in) {
      return Error(ErrorCode::kInvalidArgument, "'", options_.path,
                   "' is a RocksDB database but not a strata online store (no ", kFormatFile, ")");
    }
    std::string value;
    std::getline(in, value);
    if (value != kFormatValue) {
      return Error(ErrorCode::kUnsupportedFeature, "online store '", options_.path,
                   "' has format '", value, "'; this build reads format ", kFormatValue);
    }
    return Status::OK();
  }

  Status WriteFormat() const {
    const fs::path file = fs::path(options_.path) / kFormatFile;
    const fs::path tmp = fs::path(options_.path) / (std::string(kFormatFile) + ".tmp");
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << kFormatValue << "\n";
      if (!out.flush()) return Status::IOError("cannot write '", tmp.string(), "'");
    }
    std::error_code ec;
    fs::rename(tmp, file, ec);
    if (ec) return Status::IOError("cannot write '", file.string(), "': ", ec.message());
    return Status::OK();
  }

  Status CatchUp() {
    // Refresh() and the background thread may both get here; one catch-up at a time.
    std::lock_guard l(catch_up_mu_);
    rocksdb::Status s = db_->TryCatchUpWithPrimary();
    if (!s.ok()) return FromRocks(s, "catching up with the primary of '" + options_.path + "'");
    return Status::OK();
  }

  void CatchUpLoop() {
    std::unique_lock l(stop_mu_);
    while (!stop_) {
      stop_cv_.wait_for(l, std::chrono::milliseconds(options_.catch_up_interval_ms),
                        [this] { return stop_; });
      if (stop_) break;
      l.unlock();
      {
        std::shared_lock lock(close_mu_);
        // Best effort: a failure here shows up in the next Refresh().
        if (db_) (void)CatchUp();
      }
      l.lock();
    }
  }

  const RocksDbOptions options_;
  std::shared_ptr<rocksdb::Cache> cache_;
  rocksdb::ReadOptions read_options_;
  rocksdb::WriteOptions write_options_;

  std::shared_mutex close_mu_;  // shared by every call, exclusive in Close
  std::unique_ptr<rocksdb::DB> db_;
  std::mutex write_mu_;         // serializes read-compare-write of the primary
  uint64_t ingest_seq_ = 0;     // names ingested table files (under write_mu_)
  std::string owned_secondary_dir_;

  std::mutex catch_up_mu_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread catch_up_thread_;
};

}  // namespace

Result<std::unique_ptr<OnlineStore>> OpenRocksDbStore(const RocksDbOptions& options) {
  if (options.path.empty()) {
    return Error(ErrorCode::kInvalidArgument, "rocksdb online store: empty path");
  }
  auto store = std::make_unique<RocksDbStore>(
      options, rocksdb::NewLRUCache(std::max<size_t>(options.block_cache_bytes, 1 << 20)));
  ARROW_RETURN_NOT_OK(store->OpenDb());
  return std::unique_ptr<OnlineStore>(std::move(store));
}

}  // namespace strata::online
