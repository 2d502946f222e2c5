/// \file
/// The Delta log's actions (PROTOCOL.md "Actions") as plain values, with their JSON form.
/// Knows nothing of storage, snapshots or Arrow data.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "strata/common/status.h"
#include "strata/table/deletion_vector.h"

namespace strata::table {

using StringMap = std::map<std::string, std::string>;
/// Partition column → serialized value; nullopt is SQL NULL (PROTOCOL.md "Partition Value
/// Serialization": an empty string also means null and is normalized to nullopt).
using PartitionValues = std::map<std::string, std::optional<std::string>>;

struct Protocol {
  int32_t min_reader_version = 1;
  int32_t min_writer_version = 2;
  std::optional<std::vector<std::string>> reader_features;  ///< only with reader version 3
  std::optional<std::vector<std::string>> writer_features;  ///< only with writer version 7
  bool operator==(const Protocol&) const = default;
};

struct Metadata {
  std::string id;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::string format_provider = "parquet";
  StringMap format_options;
  std::string schema_string;
  std::vector<std::string> partition_columns;
  StringMap configuration;
  std::optional<int64_t> created_time;
};

struct AddFile {
  std::string path;  ///< as in the log: a URI reference, percent-encoded
  PartitionValues partition_values;
  int64_t size = 0;
  int64_t modification_time = 0;
  bool data_change = true;
  std::optional<std::string> stats;  ///< JSON text
  std::optional<StringMap> tags;
  std::optional<DeletionVectorDescriptor> deletion_vector;
  std::optional<int64_t> base_row_id;
  std::optional<int64_t> default_row_commit_version;
  std::optional<std::string> clustering_provider;
};

struct RemoveFile {
  std::string path;
  std::optional<int64_t> deletion_timestamp;
  bool data_change = true;
  std::optional<bool> extended_file_metadata;
  std::optional<PartitionValues> partition_values;
  std::optional<int64_t> size;
  std::optional<std::string> stats;
  std::optional<StringMap> tags;
  std::optional<DeletionVectorDescriptor> deletion_vector;
  std::optional<int64_t> base_row_id;
  std::optional<int64_t> default_row_commit_version;
};

/// Columns of change data files and of change data feed reads.
inline constexpr const char* kChangeTypeColumn = "_change_type";
inline constexpr const char* kCommitVersionColumn = "_commit_version";
inline constexpr const char* kCommitTimestampColumn = "_commit_timestamp";

struct AddCdcFile {
  std::string path;
  PartitionValues partition_values;
  int64_t size = 0;
  bool data_change = false;
  std::optional<StringMap> tags;
};

struct Txn {
  std::string app_id;
  int64_t version = 0;
  std::optional<int64_t> last_updated;
};

struct DomainMetadata {
  std::string domain;
  std::string configuration;
  bool removed = false;
};

/// commitInfo is free-form: kept as raw JSON, with the few fields strata reads pulled out.
struct CommitInfo {
  std::string json;  ///< the whole object
  std::optional<int64_t> timestamp;
  std::optional<int64_t> in_commit_timestamp;
  std::optional<std::string> operation;
};

struct CheckpointMetadata {
  int64_t version = 0;
};

struct Sidecar {
  std::string path;  ///< relative to _delta_log/_sidecars/
  int64_t size_in_bytes = 0;
  int64_t modification_time = 0;
};

using Action = std::variant<Protocol, Metadata, AddFile, RemoveFile, AddCdcFile, Txn,
                            DomainMetadata, CommitInfo, CheckpointMetadata, Sidecar>;

/// The remove action that takes `file` out of the table (extended metadata carried over, as
/// readers of the change data feed and VACUUM use it).
RemoveFile RemoveFor(const AddFile& file, int64_t deletion_timestamp_ms);

/// Parses one newline-delimited JSON commit (or V2 checkpoint JSON). Unknown action kinds are
/// skipped (the protocol lets writers add them); malformed lines are kCorruptLog errors that name
/// `what` (the file) and the line number.
Result<std::vector<Action>> ParseActions(std::string_view ndjson, std::string_view what);

/// One action as a single JSON line (no trailing newline).
std::string SerializeAction(const Action& action);

/// The commit file body: one action per line.
std::string SerializeActions(const std::vector<Action>& actions);

/// PROTOCOL.md: add/remove paths are URIs. Decode gives the relative or absolute file path.
std::string DecodePath(std::string_view uri_path);
/// Percent-encodes the characters a URI path must not contain (keeps '/' and unreserved ones).
std::string EncodePath(std::string_view file_path);

}  // namespace strata::table
