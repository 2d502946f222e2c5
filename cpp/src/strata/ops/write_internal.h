// Internal to ops/: the write path's data checks, shared by WRITE, DELETE/UPDATE and MERGE.
#pragma once

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/expr/expr.h"
#include "strata/storage/object_store.h"
#include "strata/table/actions.h"
#include "strata/table/deletion_vector.h"

namespace strata::ops::internal {

/// Casts/reorders a batch to the table schema (missing nullable columns become nulls); errors
/// name the column and both types.
Result<std::shared_ptr<arrow::RecordBatch>> ConformBatch(const arrow::RecordBatch& batch,
                                                         const std::shared_ptr<arrow::Schema>& table_schema);

/// CHECK constraints, invariants and generated columns of a table.
struct Check {
  std::string name;
  std::string sql;
  expr::NodePtr node;
};
Result<std::vector<Check>> CollectChecks(const arrow::Schema& schema, const std::map<std::string, std::string>& conf);
/// kExpectationFailed naming the check and the first violating row.
Status RunChecks(const std::vector<Check>& checks, const std::shared_ptr<arrow::RecordBatch>& batch);

/// Checks `delta.*` table properties (known names, valid values, parsable constraints).
Status ValidateConfiguration(const std::map<std::string, std::string>& conf);

/// The protocol a table with this schema, configuration and checks needs (never lower than `base`).
table::Protocol ProtocolFor(const arrow::Schema& schema, const std::map<std::string, std::string>& conf,
                            const std::vector<Check>& checks, const table::Protocol* base);

/// Gives every field without one a physical name and id (PROTOCOL.md "Writer Requirements for
/// Column Mapping"), updating delta.columnMapping.maxColumnId in `conf`.
Result<std::shared_ptr<arrow::Schema>> AssignColumnMapping(const arrow::Schema& schema,
                                                           std::map<std::string, std::string>* conf);

/// Copies Delta column metadata (mapping, constraints, type changes) from the old schema into a
/// reconciled one.
std::shared_ptr<arrow::Schema> KeepFieldMetadata(const arrow::Schema& old_schema, const arrow::Schema& merged);

/// True when the protocol lists writer feature `feature`.
bool HasWriterFeature(const table::Protocol& protocol, const std::string& feature);

/// The add action that keeps `file` with `rows` (row indices) also marked deleted: its old
/// deletion vector united with `rows`, written as a new one; statistics marked not tight.
Result<table::AddFile> MarkRowsDeleted(const table::AddFile& file, const roaring::Roaring64Map& rows,
                                       storage::ObjectStore& store, int64_t now_ms);

/// ASCII lower case.
std::string Lower(std::string s);
/// Index of the field named `name` (exact match first, then case-insensitively), or -1.
int FindColumn(const arrow::Schema& schema, const std::string& name);

/// Evaluates a predicate over a batch: true where it is TRUE (NULL counts as false).
Result<std::shared_ptr<arrow::BooleanArray>> EvaluatePredicate(const expr::NodePtr& predicate,
                                                               const std::shared_ptr<arrow::RecordBatch>& batch);

}  // namespace strata::ops::internal
