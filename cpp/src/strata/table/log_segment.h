/// \file
/// Finding what to replay: the `_delta_log` listing turned into a checkpoint plus the commits
/// after it, for a version. Plain data, so tests can build segments by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"

namespace strata::table {

inline constexpr const char* kLogDir = "_delta_log";

/// The 20-digit commit file name of a version: `_delta_log/00000000000000000042.json`.
std::string CommitPath(int64_t version);

enum class LogFileKind { kCommit, kClassicCheckpoint, kMultiPartCheckpoint, kV2Checkpoint, kOther };

/// One parsed `_delta_log` file name.
struct LogFile {
  LogFileKind kind = LogFileKind::kOther;
  int64_t version = -1;
  int32_t part = 0, parts = 0;  ///< multi-part checkpoints
  storage::ObjectInfo info;
};

/// Parses a `_delta_log` entry name (without directory); kOther for anything else
/// (`_last_checkpoint`, `.crc`, compaction files, temporary files).
LogFile ParseLogFileName(const storage::ObjectInfo& info);

struct LogSegment {
  int64_t version = -1;                 ///< the version this segment reconstructs
  int64_t checkpoint_version = -1;      ///< -1: replay from version 0
  std::vector<LogFile> checkpoint;      ///< all parts of the checkpoint (sorted by part)
  std::vector<LogFile> commits;         ///< checkpoint_version+1 .. version, contiguous
};

/// All commits (versions and file info) and complete checkpoints found in the log, sorted.
struct LogListing {
  std::vector<LogFile> commits;
  std::vector<std::vector<LogFile>> checkpoints;  ///< each complete checkpoint's parts
  /// Multi-part checkpoints with parts missing: "version N (parts present/expected)".
  std::vector<std::string> incomplete_checkpoints;
  int64_t latest_version() const { return commits.empty() ? -1 : commits.back().version; }
};

/// Lists the log. Without `with_metadata` sizes and mtimes may be -1 (cheaper on local disk).
Result<LogListing> ListLog(storage::ObjectStore& store, bool with_metadata = true);

/// The segment for `version` (latest when nullopt). Errors: kNotATable when there is no log,
/// kVersionNotFound for a version outside the log, kCorruptLog for gaps in the versions.
Result<LogSegment> BuildLogSegment(const LogListing& listing, std::optional<int64_t> version,
                                   const std::string& table_root);

}  // namespace strata::table
