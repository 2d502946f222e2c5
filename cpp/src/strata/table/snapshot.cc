#include "strata/table/snapshot.h"

#include <algorithm>
#include <cstdio>
#include <future>
#include <set>
#include <unordered_map>

#include <arrow/buffer.h>
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

#include "strata/table/checkpoint.h"
#include "strata/table/log_segment.h"
#include "strata/table/stats.h"

namespace strata::table {

namespace {

const std::set<std::string>& SupportedReaderFeatures() {
  static const std::set<std::string> k = {"columnMapping", "deletionVectors", "timestampNtz",
                                          "v2Checkpoint", "vacuumProtocolCheck", "typeWidening",
                                          "typeWidening-preview"};
  return k;
}

const std::set<std::string>& SupportedWriterFeatures() {
  static const std::set<std::string> k = {
      "appendOnly", "invariants", "checkConstraints", "generatedColumns", "columnMapping",
      "deletionVectors", "timestampNtz", "domainMetadata", "changeDataFeed", "inCommitTimestamp",
      "vacuumProtocolCheck", "typeWidening", "typeWidening-preview", "clustering"};
  return k;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool HasIdentityColumn(const arrow::Schema& schema) {
  for (const auto& f : schema.fields()) {
    if (f->metadata() && f->metadata()->Contains("delta.identity.start")) return true;
  }
  return false;
}

Result<std::vector<Action>> ReadCommit(storage::ObjectStore& store, const LogFile& f) {
  auto buf = store.Read(f.info.path);
  if (!buf.ok()) return WithContext(buf.status(), "reading commit " + std::to_string(f.version));
  return ParseActions(std::string_view(reinterpret_cast<const char*>((*buf)->data()), (*buf)->size()),
                      f.info.path);
}


std::optional<int64_t> InCommitTimestamp(const std::vector<Action>& actions) {
  for (const auto& a : actions) {
    if (auto* ci = std::get_if<CommitInfo>(&a)) return ci->in_commit_timestamp;
  }
  return std::nullopt;
}

}  // namespace

// Commits are read in parallel when there are many (each is a small independent file).
Result<std::vector<std::vector<Action>>> ReadCommits(storage::ObjectStore& store,
                                                     const std::vector<LogFile>& commits) {
  std::vector<std::vector<Action>> out(commits.size());
  if (commits.size() < 16) {
    for (size_t i = 0; i < commits.size(); ++i) {
      ARROW_ASSIGN_OR_RAISE(out[i], ReadCommit(store, commits[i]));
    }
    return out;
  }
  size_t nthreads = std::min<size_t>(8, commits.size() / 8 + 1);
  std::vector<std::future<Status>> futs;
  for (size_t t = 0; t < nthreads; ++t) {
    futs.push_back(std::async(std::launch::async, [&, t]() -> Status {
      for (size_t i = t; i < commits.size(); i += nthreads) {
        ARROW_ASSIGN_OR_RAISE(out[i], ReadCommit(store, commits[i]));
      }
      return Status::OK();
    }));
  }
  Status st;
  for (auto& f : futs) {
    Status s = f.get();
    if (st.ok() && !s.ok()) st = s;
  }
  ARROW_RETURN_NOT_OK(st);
  return out;
}

int64_t ParseIntervalMs(const std::string& text, int64_t default_ms) {
  long long n = 0;
  char unit[32] = {0};
  if (std::sscanf(text.c_str(), "interval %lld %31s", &n, unit) != 2) return default_ms;
  std::string u = unit;
  if (!u.empty() && u.back() == 's') u.pop_back();
  if (u == "millisecond") return n;
  if (u == "second") return n * 1000;
  if (u == "minute") return n * 60000;
  if (u == "hour") return n * 3600000;
  if (u == "day") return n * 86400000;
  if (u == "week") return n * 7 * 86400000;
  return default_ms;
}

std::string FileKey(const std::string& path, const std::optional<DeletionVectorDescriptor>& dv) {
  std::string key = DecodePath(path);
  if (dv) key += "\x1f" + dv->UniqueId();
  return key;
}

Status CheckReadSupport(const Protocol& p) {
  if (p.min_reader_version > 3) {
    return Error(ErrorCode::kUnsupportedFeature, "table needs reader version ", p.min_reader_version,
                 "; strata reads versions 1 to 3");
  }
  if (p.min_reader_version == 3 && p.reader_features) {
    std::vector<std::string> missing;
    for (const auto& f : *p.reader_features) {
      if (!SupportedReaderFeatures().count(f)) missing.push_back(f);
    }
    if (!missing.empty()) {
      return Error(ErrorCode::kUnsupportedFeature, "table uses reader feature(s) strata does not support: ",
                   Join(missing));
    }
  }
  return Status::OK();
}

Status CheckWriteSupport(const Protocol& p, const Metadata& m) {
  ARROW_RETURN_NOT_OK(CheckReadSupport(p));
  if (p.min_writer_version > 7) {
    return Error(ErrorCode::kUnsupportedFeature, "table needs writer version ", p.min_writer_version,
                 "; strata writes versions up to 7");
  }
  std::vector<std::string> missing;
  if (p.min_writer_version == 7) {
    for (const auto& f : p.writer_features.value_or(std::vector<std::string>{})) {
      if (!SupportedWriterFeatures().count(f)) missing.push_back(f);
    }
  } else if (p.min_writer_version == 6) {
    auto schema = SchemaFromJson(m.schema_string);
    if (schema.ok() && HasIdentityColumn(**schema)) missing.push_back("identityColumns");
  }
  if (!missing.empty()) {
    return Error(ErrorCode::kUnsupportedFeature, "table uses writer feature(s) strata cannot write yet: ",
                 Join(missing));
  }
  return Status::OK();
}

std::string Snapshot::Property(const std::string& key, const std::string& def) const {
  auto it = metadata_.configuration.find(key);
  return it == metadata_.configuration.end() ? def : it->second;
}

std::optional<int64_t> Snapshot::num_records() const {
  if (!has_files_) return std::nullopt;
  int64_t total = 0;
  for (const auto& f : files_) {
    auto s = ParseFileStats(f.stats);
    if (!s.ok() || !s->num_records) return std::nullopt;
    total += *s->num_records - (f.deletion_vector ? f.deletion_vector->cardinality : 0);
  }
  return total;
}

Status Snapshot::Apply(const std::vector<Action>& actions) {
  // Reconciliation over a vector + index: adds keep log order, removes erase by key.
  for (const auto& a : actions) {
    if (auto* add = std::get_if<AddFile>(&a)) {
      files_.push_back(*add);
    } else if (auto* rm = std::get_if<RemoveFile>(&a)) {
      tombstones_.push_back(*rm);
    } else if (auto* p = std::get_if<Protocol>(&a)) {
      protocol_ = *p;
      has_protocol_ = true;
    } else if (auto* m = std::get_if<Metadata>(&a)) {
      metadata_ = *m;
      has_metadata_ = true;
    } else if (auto* t = std::get_if<Txn>(&a)) {
      txns_[t->app_id] = *t;
    } else if (auto* d = std::get_if<DomainMetadata>(&a)) {
      if (d->removed) domains_.erase(d->domain); else domains_[d->domain] = *d;
    }
  }
  return Status::OK();
}

Result<SnapshotPtr> Snapshot::FromActions(std::shared_ptr<storage::ObjectStore> store, int64_t version,
                                          int64_t timestamp_ms, std::vector<std::vector<Action>> commits,
                                          const SnapshotPtr& base) {
  auto snap = std::shared_ptr<Snapshot>(new Snapshot());
  if (base) *snap = *base;
  snap->store_ = std::move(store);
  snap->version_ = version;
  snap->timestamp_ms_ = timestamp_ms;
  // Files: replay adds/removes in order with one key index, so a later remove erases an earlier
  // add of the same (path, dv) and a re-add revives it.
  std::unordered_map<std::string, size_t> live;  // key -> index in files
  std::vector<AddFile> files = std::move(snap->files_);
  std::vector<bool> dead(files.size(), false);
  for (size_t i = 0; i < files.size(); ++i) live[FileKey(files[i].path, files[i].deletion_vector)] = i;
  std::unordered_map<std::string, RemoveFile> tomb;
  for (auto& r : snap->tombstones_) tomb[FileKey(r.path, r.deletion_vector)] = std::move(r);
  snap->tombstones_.clear();
  size_t total = files.size();
  for (const auto& actions : commits) total += actions.size();
  files.reserve(total);
  dead.reserve(total);
  live.reserve(total);
  for (auto& actions : commits) {
    std::vector<Action> rest;
    for (auto& a : actions) {
      if (auto* add = std::get_if<AddFile>(&a)) {
        std::string key = FileKey(add->path, add->deletion_vector);
        auto [it, inserted] = live.try_emplace(std::move(key), files.size());
        if (!inserted) {
          files[it->second] = std::move(*add);
          dead[it->second] = false;
        } else {
          files.push_back(std::move(*add));
          dead.push_back(false);
        }
        if (!tomb.empty()) tomb.erase(it->first);
      } else if (auto* rm = std::get_if<RemoveFile>(&a)) {
        std::string key = FileKey(rm->path, rm->deletion_vector);
        auto it = live.find(key);
        if (it != live.end()) {
          dead[it->second] = true;
          live.erase(it);
        }
        tomb[key] = std::move(*rm);
      } else {
        rest.push_back(std::move(a));
      }
    }
    ARROW_RETURN_NOT_OK(snap->Apply(rest));
  }
  snap->files_.clear();
  snap->files_.reserve(live.size());
  for (size_t i = 0; i < files.size(); ++i) {
    if (!dead[i]) snap->files_.push_back(std::move(files[i]));
  }
  snap->tombstones_.reserve(tomb.size());
  for (auto& [k, r] : tomb) snap->tombstones_.push_back(std::move(r));
  ARROW_RETURN_NOT_OK(snap->Finish());
  return SnapshotPtr(std::move(snap));
}

Status Snapshot::Finish() {
  std::string where = "'" + store_->root() + "' at version " + std::to_string(version_);
  if (!has_protocol_ && !has_metadata_) {
    return Error(ErrorCode::kCorruptLog, "table ", where, " has neither a protocol nor a metaData action");
  }
  if (!has_protocol_) return Error(ErrorCode::kCorruptLog, "table ", where, " has no protocol action");
  if (!has_metadata_) return Error(ErrorCode::kCorruptLog, "table ", where, " has no metaData action");
  STRATA_RETURN_NOT_OK_CTX(CheckReadSupport(protocol_), "cannot read table " + where);
  if (metadata_.schema_string.empty()) {
    return Error(ErrorCode::kCorruptLog, "table ", where, " has a metaData action without a schemaString");
  }
  auto schema = SchemaFromJson(metadata_.schema_string);
  if (!schema.ok()) return WithContext(schema.status(), "cannot read table " + where);
  schema_ = *schema;
  ARROW_ASSIGN_OR_RAISE(mapping_mode_, ParseColumnMappingMode(Property("delta.columnMapping.mode")));
  for (const auto& pc : metadata_.partition_columns) {
    if (schema_->GetFieldIndex(pc) < 0) {
      return Error(ErrorCode::kCorruptLog, "partition column '", pc, "' is not in the schema of ", where);
    }
  }
  return Status::OK();
}

Result<SnapshotPtr> Snapshot::Load(std::shared_ptr<storage::ObjectStore> store, std::optional<int64_t> version,
                                   bool with_files) {
  ARROW_ASSIGN_OR_RAISE(auto listing, ListLog(*store, /*with_metadata=*/false));
  ARROW_ASSIGN_OR_RAISE(auto seg, BuildLogSegment(listing, version, store->root()));
  // Only the newest file of the segment needs its mtime (the snapshot's timestamp).
  auto& newest = seg.commits.empty() ? seg.checkpoint[0] : seg.commits.back();
  if (newest.info.mtime_ms < 0) {
    ARROW_ASSIGN_OR_RAISE(auto head, store->Head(newest.info.path));
    if (!head) return Error(ErrorCode::kCorruptLog, "log file '", newest.info.path, "' vanished while loading");
    newest.info = *head;
  }
  std::vector<std::vector<Action>> commits;
  int64_t ts = 0;
  if (!seg.checkpoint.empty()) {
    auto cp = ReadCheckpoint(*store, seg.checkpoint, with_files);
    if (!cp.ok()) {
      return WithContext(cp.status(), "reading checkpoint " + std::to_string(seg.checkpoint_version) +
                                          " of '" + store->root() + "'");
    }
    commits.push_back(std::move(*cp));
    ts = seg.checkpoint[0].info.mtime_ms;
  }
  ARROW_ASSIGN_OR_RAISE(auto rest, ReadCommits(*store, seg.commits));
  if (!seg.commits.empty()) {
    ts = seg.commits.back().info.mtime_ms;
    if (auto ict = InCommitTimestamp(rest.back())) ts = *ict;
  }
  for (auto& c : rest) {
    if (!with_files) {
      c.erase(std::remove_if(c.begin(), c.end(), [](const Action& a) {
                return std::holds_alternative<AddFile>(a) || std::holds_alternative<RemoveFile>(a);
              }),
              c.end());
    }
    commits.push_back(std::move(c));
  }
  ARROW_ASSIGN_OR_RAISE(auto snap, FromActions(std::move(store), seg.version, ts, std::move(commits)));
  if (!with_files) std::const_pointer_cast<Snapshot>(snap)->has_files_ = false;
  return snap;
}

Result<SnapshotPtr> Snapshot::LoadAsOf(std::shared_ptr<storage::ObjectStore> store, int64_t timestamp_ms) {
  ARROW_ASSIGN_OR_RAISE(auto latest, Load(store));
  ARROW_ASSIGN_OR_RAISE(auto history, latest->History());
  // History is newest first; timestamps are made monotonic as Delta readers do.
  std::optional<int64_t> found;
  for (auto it = history.begin(); it != history.end(); ++it) {
    if (it->timestamp_ms <= timestamp_ms) {
      found = it->version;
      break;
    }
  }
  if (!found) {
    std::string earliest = history.empty() ? "none" : std::to_string(history.back().timestamp_ms);
    return Error(ErrorCode::kVersionNotFound, "no version of '", store->root(),
                 "' is at or before timestamp ", timestamp_ms, " ms (earliest commit is at ", earliest, " ms)");
  }
  if (*found == latest->version()) return latest;
  return Load(std::move(store), *found);
}

Result<std::vector<CommitSummary>> Snapshot::History(size_t limit) const {
  ARROW_ASSIGN_OR_RAISE(auto listing, ListLog(*store_));
  std::vector<LogFile> commits;
  for (const auto& c : listing.commits) {
    if (c.version <= version_) commits.push_back(c);
  }
  // Monotonic timestamps need every commit; the commitInfo needs reading anyway.
  ARROW_ASSIGN_OR_RAISE(auto parsed, ReadCommits(*store_, commits));
  std::vector<CommitSummary> out;
  out.reserve(commits.size());
  int64_t prev = INT64_MIN;
  for (size_t i = 0; i < commits.size(); ++i) {
    CommitSummary s;
    s.version = commits[i].version;
    s.timestamp_ms = commits[i].info.mtime_ms;
    s.commit_info = "{}";
    for (const auto& a : parsed[i]) {
      if (auto* ci = std::get_if<CommitInfo>(&a)) {
        s.commit_info = ci->json;
        if (ci->in_commit_timestamp) s.timestamp_ms = *ci->in_commit_timestamp;
      }
    }
    if (prev != INT64_MIN && s.timestamp_ms <= prev) s.timestamp_ms = prev + 1;
    prev = s.timestamp_ms;
    out.push_back(std::move(s));
  }
  std::reverse(out.begin(), out.end());
  if (limit && out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace strata::table
