/// \file
/// Per-file statistics (PROTOCOL.md "Per-file Statistics"): parsing the `stats` JSON of add
/// actions for data skipping, and computing it for files we write.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"

namespace parquet {
class FileMetaData;
}

namespace strata::table {

/// Parsed statistics of one file. Leaf values are kept as JSON text, keyed by the dotted
/// physical column path, and converted to typed values only when a filter asks.
struct FileStats {
  std::optional<int64_t> num_records;
  bool tight_bounds = true;
  std::map<std::string, std::string> min_values;
  std::map<std::string, std::string> max_values;
  std::map<std::string, int64_t> null_count;
};

/// Absent or unparsable stats give an empty FileStats (unknown, never "empty file").
Result<FileStats> ParseFileStats(const std::optional<std::string>& json);

/// A JSON stats value (number or string text) as a scalar of `type`; null when it cannot be
/// represented (the caller then treats the bound as unknown).
std::shared_ptr<arrow::Scalar> StatValueToScalar(const std::string& json_value,
                                                 const std::shared_ptr<arrow::DataType>& type);

/// Maximum length (in UTF-8 code points) of string bounds we write; longer minimums are
/// truncated, longer maximums are omitted (a truncated maximum would not bound the values).
inline constexpr int kStringStatsPrefix = 32;

/// The stats JSON for a file holding `data`, whose column names are the physical names.
/// Statistics cover the first `num_indexed_cols` leaf columns (-1: all).
Result<std::string> ComputeStatsJson(const arrow::Table& data, int num_indexed_cols = 32);

/// The same statistics taken from a written Parquet file's footer (the writer already computed
/// min/max/null counts per row group), without another pass over the data.
Result<std::string> StatsJsonFromParquet(const parquet::FileMetaData& metadata, int num_indexed_cols = 32);

}  // namespace strata::table
