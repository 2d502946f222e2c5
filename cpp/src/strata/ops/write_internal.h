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
#include "strata/table/actions.h"

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

/// A file's statistics after some of its rows were marked deleted: the bounds stay valid for
/// the remaining rows but are no longer tight (PROTOCOL.md "Per-file Statistics": tightBounds).
std::optional<std::string> WidenStats(const std::optional<std::string>& stats);

/// Evaluates a predicate over a batch: true where it is TRUE (NULL counts as false).
Result<std::shared_ptr<arrow::BooleanArray>> EvaluatePredicate(const expr::NodePtr& predicate,
                                                               const std::shared_ptr<arrow::RecordBatch>& batch);

}  // namespace strata::ops::internal
