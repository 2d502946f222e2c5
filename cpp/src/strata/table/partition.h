/// \file
/// Partition values (PROTOCOL.md "Partition Value Serialization") and Hive-style partition
/// directory names.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/table/actions.h"

namespace strata::table {

/// The serialized form of a partition value; nullopt for null.
Result<std::optional<std::string>> SerializePartitionValue(const arrow::Scalar& value);

/// A partition value as a scalar of the column's type (null scalar for nullopt). Accepts every
/// form the protocol allows (timestamps with a space or 'T', with or without 'Z'/micros).
Result<std::shared_ptr<arrow::Scalar>> ParsePartitionValue(const std::optional<std::string>& value,
                                                           const std::shared_ptr<arrow::DataType>& type);

/// A decimal given as text ("1.50", "-3", "1E+2") as a scalar of `type` (rescaled; error when it
/// does not fit the precision or would lose digits).
Result<std::shared_ptr<arrow::Scalar>> ParseDecimal(const std::string& text, const std::shared_ptr<arrow::DataType>& type);

/// Hive-style escaping of a path segment (as Spark's escapePathName).
std::string EscapeHivePathName(std::string_view s);

/// "a=1/b=__HIVE_DEFAULT_PARTITION__/" for the partition columns in order.
std::string HivePartitionDir(const std::vector<std::string>& columns, const PartitionValues& values);

}  // namespace strata::table
