#include "strata/table/log_segment.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

namespace strata::table {

namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

std::string BaseName(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

}  // namespace

std::string CommitPath(int64_t version) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s/%020lld.json", kLogDir, static_cast<long long>(version));
  return buf;
}

LogFile ParseLogFileName(const storage::ObjectInfo& info) {
  LogFile f;
  f.info = info;
  std::string name = BaseName(info.path);
  if (name.size() < 21 || !AllDigits(std::string_view(name).substr(0, 20)) || name[20] != '.') return f;
  int64_t version = std::stoll(name.substr(0, 20));
  std::string rest = name.substr(21);
  if (rest == "json") {
    f.kind = LogFileKind::kCommit;
  } else if (rest == "checkpoint.parquet") {
    f.kind = LogFileKind::kClassicCheckpoint;
  } else if (rest.rfind("checkpoint.", 0) == 0) {
    std::string mid = rest.substr(11);
    // multi-part: PART(10 digits).PARTS(10 digits).parquet ; V2: UUID.json|parquet
    if (mid.size() == 10 + 1 + 10 + 8 && AllDigits(mid.substr(0, 10)) && mid[10] == '.' &&
        AllDigits(mid.substr(11, 10)) && mid.substr(21) == ".parquet") {
      f.kind = LogFileKind::kMultiPartCheckpoint;
      f.part = std::stoi(mid.substr(0, 10));
      f.parts = std::stoi(mid.substr(11, 10));
    } else if ((mid.size() > 5 && mid.substr(mid.size() - 5) == ".json") ||
               (mid.size() > 8 && mid.substr(mid.size() - 8) == ".parquet")) {
      f.kind = LogFileKind::kV2Checkpoint;
    }
  }
  if (f.kind != LogFileKind::kOther) f.version = version;
  return f;
}

Result<LogListing> ListLog(storage::ObjectStore& store, bool with_metadata) {
  ARROW_ASSIGN_OR_RAISE(auto entries, with_metadata ? store.List(kLogDir) : store.ListNames(kLogDir));
  LogListing out;
  std::map<std::pair<int64_t, int32_t>, std::vector<LogFile>> multipart;  // (version, parts)
  for (const auto& e : entries) {
    LogFile f = ParseLogFileName(e);
    switch (f.kind) {
      case LogFileKind::kCommit: out.commits.push_back(std::move(f)); break;
      case LogFileKind::kClassicCheckpoint:
      case LogFileKind::kV2Checkpoint: out.checkpoints.push_back({std::move(f)}); break;
      case LogFileKind::kMultiPartCheckpoint: multipart[{f.version, f.parts}].push_back(std::move(f)); break;
      default: break;
    }
  }
  for (auto& [key, parts] : multipart) {
    std::sort(parts.begin(), parts.end(), [](const LogFile& a, const LogFile& b) { return a.part < b.part; });
    bool complete = static_cast<int32_t>(parts.size()) == key.second;
    for (int32_t i = 0; complete && i < key.second; ++i) complete = parts[i].part == i + 1;
    if (complete) {
      out.checkpoints.push_back(std::move(parts));
    } else {
      // Ignored for replay (a writer may still be writing it); named if nothing else works.
      out.incomplete_checkpoints.push_back("checkpoint " + std::to_string(key.first) + " has " +
                                           std::to_string(parts.size()) + " of " + std::to_string(key.second) +
                                           " parts");
    }
  }
  std::sort(out.commits.begin(), out.commits.end(),
            [](const LogFile& a, const LogFile& b) { return a.version < b.version; });
  // Prefer, for one version, a classic/multi-part checkpoint over a V2 one (either is valid).
  std::sort(out.checkpoints.begin(), out.checkpoints.end(), [](const auto& a, const auto& b) {
    if (a[0].version != b[0].version) return a[0].version < b[0].version;
    return (a[0].kind == LogFileKind::kV2Checkpoint) > (b[0].kind == LogFileKind::kV2Checkpoint);
  });
  return out;
}

Result<LogSegment> BuildLogSegment(const LogListing& listing, std::optional<int64_t> version,
                                   const std::string& table_root) {
  if (listing.commits.empty() && listing.checkpoints.empty() && !listing.incomplete_checkpoints.empty()) {
    return Error(ErrorCode::kCorruptLog, "the log of '", table_root, "' has no commits and its only ",
                 listing.incomplete_checkpoints.front(), " (a part is missing)");
  }
  if (listing.commits.empty() && listing.checkpoints.empty()) {
    return Error(ErrorCode::kNotATable, "'", table_root, "' is not a Delta table (no ",
                 kLogDir, "/ with commits)");
  }
  int64_t latest = listing.latest_version();
  if (!listing.checkpoints.empty()) latest = std::max(latest, listing.checkpoints.back()[0].version);
  int64_t target = version.value_or(latest);
  if (target < 0 || target > latest) {
    return Error(ErrorCode::kVersionNotFound, "version ", target, " of '", table_root,
                 "' does not exist (latest is ", latest, ")");
  }
  LogSegment seg;
  seg.version = target;
  for (auto it = listing.checkpoints.rbegin(); it != listing.checkpoints.rend(); ++it) {
    if ((*it)[0].version <= target) {
      seg.checkpoint = *it;
      seg.checkpoint_version = (*it)[0].version;
      break;
    }
  }
  int64_t expect = seg.checkpoint_version + 1;
  for (const auto& c : listing.commits) {
    if (c.version < expect) continue;
    if (c.version > target) break;
    if (c.version != expect && seg.checkpoint_version < 0 && expect == 0 &&
        !listing.incomplete_checkpoints.empty()) {
      return Error(ErrorCode::kCorruptLog, "version ", target, " of '", table_root, "' cannot be read: ",
                   listing.incomplete_checkpoints.back(), " (a part is missing) and the log starts at version ",
                   c.version);
    }
    if (c.version != expect && seg.checkpoint_version < 0 && expect == 0) {
      return Error(ErrorCode::kVersionNotFound, "version ", target, " of '", table_root,
                   "' cannot be reconstructed: the log starts at version ", c.version,
                   " and no checkpoint covers earlier versions");
    }
    if (c.version != expect) {
      return Error(ErrorCode::kCorruptLog, "the log of '", table_root, "' has a gap: version ", expect,
                   " is missing before ", c.version);
    }
    seg.commits.push_back(c);
    ++expect;
  }
  if (expect != target + 1) {
    if (seg.checkpoint_version < 0 && expect == 0) {
      return Error(ErrorCode::kVersionNotFound, "version ", target, " of '", table_root,
                   "' cannot be reconstructed: commit 0 is gone and no checkpoint covers it");
    }
    return Error(ErrorCode::kCorruptLog, "the log of '", table_root, "' is missing version ", expect);
  }
  return seg;
}

}  // namespace strata::table
