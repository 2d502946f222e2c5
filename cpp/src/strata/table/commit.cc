#include "strata/table/commit.h"

#include <chrono>
#include <random>
#include <thread>

#include <arrow/buffer.h>

#include "strata/common/json_writer.h"
#include "strata/table/checkpoint.h"
#include "strata/table/log_segment.h"
#include "strata/table/pruning.h"

namespace strata::table {

namespace {

constexpr const char* kEngineInfo = "strata/0.1.0";

std::string BuildCommitInfo(const Commit& c, int64_t now, std::optional<int64_t> ict, bool serializable) {
  JsonWriter w;
  w.BeginObject();
  if (ict) w.Key("inCommitTimestamp").Int(*ict);
  w.Key("timestamp").Int(now);
  w.Key("operation").String(c.operation);
  w.Key("operationParameters").BeginObject();
  for (const auto& [k, v] : c.operation_parameters) w.Key(k).String(v);
  w.EndObject();
  if (c.read_snapshot) w.Key("readVersion").Int(c.read_snapshot->version());
  w.Key("isolationLevel").String(serializable ? "Serializable" : "WriteSerializable");
  w.Key("isBlindAppend").Bool(c.blind_append);
  w.Key("operationMetrics").BeginObject();
  for (const auto& [k, v] : c.operation_metrics) w.Key(k).String(v);
  w.EndObject();
  for (const auto& [k, v] : c.extra_commit_info) w.Key(k).Raw(v);
  w.Key("engineInfo").String(kEngineInfo);
  w.Key("txnId").String(NewUuid());
  w.EndObject();
  return w.Release();
}

/// Checks one winning commit against ours; returns a kCommitConflict error naming the cause.
Status CheckConflict(const Commit& ours, const std::vector<Action>& winning, int64_t version) {
  bool winning_blind_append = false;
  for (const auto& a : winning) {
    if (auto* ci = std::get_if<CommitInfo>(&a)) {
      winning_blind_append = ci->json.find("\"isBlindAppend\":true") != std::string::npos;
    }
  }
  bool ours_changes_metadata = false;
  std::set<std::string> our_app_ids, our_removed, our_domains;
  for (const auto& a : ours.actions) {
    if (std::holds_alternative<Metadata>(a) || std::holds_alternative<Protocol>(a)) ours_changes_metadata = true;
    if (auto* t = std::get_if<Txn>(&a)) our_app_ids.insert(t->app_id);
    if (auto* r = std::get_if<RemoveFile>(&a)) our_removed.insert(FileKey(r->path, r->deletion_vector));
    if (auto* d = std::get_if<DomainMetadata>(&a)) our_domains.insert(d->domain);
  }
  auto conflict = [&](const std::string& why) {
    return Error(ErrorCode::kCommitConflict, "concurrent commit ", version, " conflicts with this ",
                 ours.operation, ": ", why);
  };
  for (const auto& a : winning) {
    if (std::holds_alternative<Protocol>(a)) return conflict("it changed the table protocol");
    if (std::holds_alternative<Metadata>(a)) return conflict("it changed the table metadata (schema or properties)");
    if (auto* t = std::get_if<Txn>(&a); t && our_app_ids.count(t->app_id)) {
      return conflict("it committed for the same application id '" + t->app_id + "'");
    }
    if (auto* d = std::get_if<DomainMetadata>(&a); d && our_domains.count(d->domain)) {
      return conflict("it changed domain metadata '" + d->domain + "'");
    }
    if (auto* r = std::get_if<RemoveFile>(&a)) {
      std::string key = FileKey(r->path, r->deletion_vector);
      if (r->data_change && (ours.read_scope == Commit::ReadScope::kAll || ours.read_files.count(key))) {
        return conflict("it removed file '" + DecodePath(r->path) + "' that this operation read");
      }
      if (our_removed.count(key)) {
        return conflict("it also removed file '" + DecodePath(r->path) + "'");
      }
    }
    if (auto* add = std::get_if<AddFile>(&a)) {
      if (!add->data_change || ours.read_scope == Commit::ReadScope::kNothing) continue;
      // WriteSerializable: blind appends by others do not invalidate our read unless we change
      // the metadata.
      if (winning_blind_append && !ours_changes_metadata) continue;
      bool matters = ours.read_scope == Commit::ReadScope::kAll ||
                     (ours.read_snapshot && FileMayMatch(ours.read_predicate, *add, *ours.read_snapshot));
      if (matters) {
        return conflict("it added file '" + DecodePath(add->path) + "' that matches what this operation read");
      }
    }
  }
  return Status::OK();
}

Result<std::vector<Action>> ReadVersion(storage::ObjectStore& store, int64_t v) {
  ARROW_ASSIGN_OR_RAISE(auto buf, store.Read(CommitPath(v)));
  return ParseActions(std::string_view(reinterpret_cast<const char*>(buf->data()), buf->size()), CommitPath(v));
}

}  // namespace

std::string NewUuid() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  uint64_t a = rng(), b = rng();
  a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xFFFF), static_cast<unsigned>(a & 0xFFFF),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
  return buf;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<int64_t> CommitToTable(std::shared_ptr<storage::ObjectStore> store, Commit commit,
                              const CommitOptions& options) {
  int64_t version = commit.read_snapshot ? commit.read_snapshot->version() + 1 : 0;
  bool ict_enabled = commit.read_snapshot && commit.read_snapshot->in_commit_timestamps();
  for (const auto& a : commit.actions) {
    if (auto* m = std::get_if<Metadata>(&a)) {
      auto it = m->configuration.find("delta.enableInCommitTimestamps");
      ict_enabled = it != m->configuration.end() && it->second == "true";
    }
  }
  int64_t prev_ts = commit.read_snapshot ? commit.read_snapshot->timestamp_ms() : 0;
  std::mt19937 rng(std::random_device{}());
  if (options.before_commit) options.before_commit();
  for (int attempt = 0; attempt < options.max_attempts; ++attempt) {
    int64_t now = NowMs();
    std::optional<int64_t> ict;
    if (ict_enabled) ict = std::max(now, prev_ts + 1);
    std::string body;
    JsonWriter ci;
    ci.BeginObject().Key("commitInfo").Raw(BuildCommitInfo(commit, now, ict, false)).EndObject();
    body = ci.str() + "\n";  // commitInfo first: required with in-commit timestamps
    body += SerializeActions(commit.actions);
    ARROW_ASSIGN_OR_RAISE(bool created, store->PutIfAbsent(CommitPath(version), body));
    if (created) {
      int64_t interval = options.checkpoint_interval.value_or(100);
      if (!options.checkpoint_interval && commit.read_snapshot) {
        auto p = commit.read_snapshot->Property("delta.checkpointInterval");
        if (!p.empty()) interval = std::atoll(p.c_str());
      }
      if (interval > 0 && version > 0 && version % interval == 0) {
        // Post-commit work: a failed checkpoint leaves a valid table, so it is not an error.
        // Without concurrent commits, the new state is the read snapshot plus our actions.
        Result<SnapshotPtr> snap = Status::Invalid("unset");
        if (commit.read_snapshot && commit.read_snapshot->has_files() &&
            version == commit.read_snapshot->version() + 1) {
          snap = Snapshot::FromActions(store, version, ict.value_or(now), {commit.actions}, commit.read_snapshot);
        } else {
          snap = Snapshot::Load(store, version);
        }
        if (snap.ok()) {
          bool v2 = false;
          for (const auto& f : (*snap)->protocol().writer_features.value_or(std::vector<std::string>{})) {
            v2 |= f == "v2Checkpoint";
          }
          if (!v2) (void)WriteCheckpoint(**snap);
        }
      }
      return version;
    }
    // Someone else took `version`: check every commit we have not seen.
    if (!commit.read_snapshot) {
      return Error(ErrorCode::kCommitConflict, "table '", store->root(),
                   "' was created concurrently by another writer");
    }
    ARROW_ASSIGN_OR_RAISE(auto listing, ListLog(*store, /*with_metadata=*/false));
    int64_t latest = listing.latest_version();
    for (int64_t v = version; v <= latest; ++v) {
      auto winning = ReadVersion(*store, v);
      if (!winning.ok()) return WithContext(winning.status(), "checking concurrent commit " + std::to_string(v));
      ARROW_RETURN_NOT_OK(CheckConflict(commit, *winning, v));
      for (const auto& a : *winning) {
        if (auto* c = std::get_if<CommitInfo>(&a); c && c->in_commit_timestamp) prev_ts = *c->in_commit_timestamp;
      }
    }
    version = std::max(latest + 1, version + 1);
    // Short randomized backoff so that many writers do not retry in lockstep.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (200 * std::min(attempt + 1, 20))));
  }
  return Error(ErrorCode::kCommitConflict, "gave up committing to '", store->root(), "' after ",
               options.max_attempts, " attempts under contention");
}

}  // namespace strata::table
