/// \file
/// The table schema: Delta's JSON schema (PROTOCOL.md "Schema Serialization Format") to and from
/// Arrow, column mapping (physical names and field ids), and the rules for enforcing a write's
/// schema and merging it into the table's (schema evolution, type widening).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"

namespace strata::table {

/// Arrow field metadata keys strata uses to carry Delta column metadata.
/// Every Delta column metadata entry is kept under its own key with its raw JSON value.
inline constexpr const char* kPhysicalNameKey = "delta.columnMapping.physicalName";
inline constexpr const char* kFieldIdKey = "delta.columnMapping.id";

enum class ColumnMappingMode { kNone, kName, kId };
Result<ColumnMappingMode> ParseColumnMappingMode(const std::string& value);

/// Delta schema JSON → Arrow schema with logical names. Field metadata holds each Delta column
/// metadata value as JSON text. Unsupported types (variant, interval) are kUnsupportedFeature
/// errors naming the column.
Result<std::shared_ptr<arrow::Schema>> SchemaFromJson(const std::string& schema_json);

/// Arrow schema → Delta schema JSON. Types Delta cannot hold are kSchemaMismatch errors naming
/// the column (unsigned ints are widened to the next signed type; large/view strings map to
/// string; timestamps with a time zone are `timestamp`, without one `timestamp_ntz`).
Result<std::string> SchemaToJson(const arrow::Schema& schema);

/// One Delta type as JSON (`"long"`, `"decimal(10,2)"`, or an object for nested types).
Result<std::string> TypeToJson(const arrow::DataType& type);

/// The Arrow type strata uses for a Delta table column of the same logical type as `t`
/// (e.g. any timestamp unit → microseconds; large_utf8 → utf8; uint32 → int64).
Result<std::shared_ptr<arrow::DataType>> NormalizeType(const std::shared_ptr<arrow::DataType>& t);

/// The physical (Parquet) name of a field: its mapped physical name when column mapping is on.
std::string PhysicalName(const arrow::Field& field, ColumnMappingMode mode);
/// The field id of a column under column mapping, if it has one.
std::optional<int32_t> FieldId(const arrow::Field& field);

/// True when a value of type `from` may be stored in a column of type `to` without loss
/// (Delta type widening: byte→short→int→long, float→double, date→timestamp_ntz, int→double,
/// decimal precision increase).
bool CanWiden(const arrow::DataType& from, const arrow::DataType& to);

enum class SchemaMode { kStrict, kMerge, kOverwrite };

/// Checks that data with schema `data` can be written to a table with schema `table`.
/// kStrict: every data column must exist in the table with a type that fits (same or safely
/// castable); missing nullable columns are filled with nulls; errors (kSchemaMismatch) name the
/// column and both types. kMerge: also adds new columns (and nested struct fields) and widens
/// types where the protocol allows; returns the merged table schema.
/// Returns the schema the table will have after the write.
Result<std::shared_ptr<arrow::Schema>> ReconcileSchema(const arrow::Schema& table,
                                                       const arrow::Schema& data, SchemaMode mode);

}  // namespace strata::table
