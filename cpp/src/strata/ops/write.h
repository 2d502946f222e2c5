/// \file
/// The write operation: create, append, overwrite and overwrite-where of a table from a stream
/// of Arrow batches. Enforces the schema (or evolves it), the table's constraints, invariants and
/// generated columns, partitions rows Hive-style, writes Parquet files with statistics and
/// commits them through the table committer. Knows nothing of features, quality or Kafka; the
/// table's pre-commit validator (validator.h, installed by higher layers) sees the rows first.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"
#include "strata/table/commit.h"
#include "strata/table/schema.h"

namespace strata::ops {

enum class WriteMode { kAppend, kOverwrite, kErrorIfExists, kIgnore };
Result<WriteMode> ParseWriteMode(const std::string& mode);
Result<table::SchemaMode> ParseSchemaMode(const std::string& mode);

struct WriteOptions {
  WriteMode mode = WriteMode::kAppend;
  std::vector<std::string> partition_by;
  table::SchemaMode schema_mode = table::SchemaMode::kStrict;
  /// Overwrite only the rows matching this SQL predicate; every written row must match it.
  std::string replace_where;
  /// Table properties set when the table is created (or changed by an overwrite).
  std::map<std::string, std::string> configuration;
  std::optional<std::string> name, description;
  /// Files roll over at about this many bytes (compressed Parquet).
  int64_t target_file_size = 128LL << 20;
  /// Rows per Parquet row group.
  int64_t row_group_rows = 1 << 20;
  /// Parquet codec when the table has no delta.parquet.compression.codec ("snappy", "zstd", ...).
  std::string compression = "snappy";
  /// Set application transaction (exactly-once writers): txn action with this app id/version.
  std::optional<std::pair<std::string, int64_t>> txn;
  table::CommitOptions commit;
};

struct WriteResult {
  int64_t version = -1;   ///< -1 when nothing was committed (mode "ignore" on an existing table)
  int64_t files_added = 0;
  int64_t files_removed = 0;
  int64_t rows_written = 0;
  int64_t rows_quarantined = 0;  ///< rows the table's validator kept out (quarantine)
  int64_t bytes_written = 0;
};

Result<WriteResult> WriteTable(std::shared_ptr<storage::ObjectStore> store,
                               std::shared_ptr<arrow::RecordBatchReader> data, const WriteOptions& options);

/// Files written but not yet committed, with their add actions (used by operations that rewrite
/// data: replace_where, DELETE/UPDATE/MERGE).
struct FileWriteSpec {
  std::shared_ptr<arrow::Schema> table_schema;     ///< logical schema of the table
  std::vector<std::string> partition_columns;
  table::ColumnMappingMode mapping = table::ColumnMappingMode::kNone;
  std::string compression = "snappy";
  int64_t target_file_size = 128LL << 20;
  int64_t row_group_rows = 1 << 20;
  int num_indexed_cols = 32;
  /// Files go to <dir_prefix><partition dirs>/<file_prefix>NNNNN-<uuid>.parquet.
  std::string dir_prefix;
  std::string file_prefix = "part-";
};

/// Writes a stream of batches (in `spec.table_schema`) as data files, partitioned, rolling over
/// at the target size; memory holds the Parquet writers' open row groups, not the data.
/// Not thread-safe. Files are not referenced by the table until their add actions are committed.
class DataFileWriter {
 public:
  DataFileWriter(storage::ObjectStore& store, const FileWriteSpec& spec);
  ~DataFileWriter();
  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch);
  /// Closes the open files and returns the add actions of every file written.
  Result<std::vector<table::AddFile>> Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Writes batches (already in `spec.table_schema`) as data files and returns their add actions.
Result<std::vector<table::AddFile>> WriteDataFiles(storage::ObjectStore& store, const FileWriteSpec& spec,
                                                   const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches);

}  // namespace strata::ops
