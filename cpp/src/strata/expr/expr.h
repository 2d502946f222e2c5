/// \file
/// SQL boolean and scalar expressions (filters, predicates, constraints): parsed once into an
/// AST, then bound to a schema as an Arrow compute expression, or evaluated against per-file
/// statistics to decide whether a file can hold matching rows. Knows nothing of Delta or tables.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/compute/expression.h>
#include <arrow/type_fwd.h>

#include "strata/common/status.h"

namespace strata::expr {

struct Node;
using NodePtr = std::shared_ptr<const Node>;

/// Parses a SQL expression (`id > 10 AND country IN ('FR','DE')`, `ts >= TIMESTAMP '2026-01-01'`,
/// `name IS NULL`, `name LIKE 'a%'`, arithmetic, CAST, ...). Errors (kInvalidArgument) name the
/// offending token and its position.
Result<NodePtr> Parse(std::string_view sql);

/// Canonical SQL text of the expression (round-trips through Parse).
std::string ToString(const NodePtr& node);

/// Every column the expression references, as dotted paths (`a`, `s.b`), in first-use order.
std::vector<std::string> ReferencedColumns(const NodePtr& node);

// ---- inspecting and rewriting trees (MERGE plans its join from the ON condition) -----------

/// The terms of a top-level AND chain (`a AND (b AND c)` gives a, b, c); the node itself
/// otherwise.
std::vector<NodePtr> Conjuncts(const NodePtr& node);

/// The AND of `terms`, or null when there are none.
NodePtr AndOf(const std::vector<NodePtr>& terms);

/// When `node` is `a = b`: its two operands.
std::optional<std::pair<NodePtr, NodePtr>> EqualityOperands(const NodePtr& node);

/// When `node` is a column reference: its path (`t.id` gives {"t", "id"}).
std::optional<std::vector<std::string>> ColumnPath(const NodePtr& node);

/// A copy of `node` with every column reference's path replaced by `rename(path)`; the first
/// error `rename` returns is returned.
using ColumnRenamer = std::function<Result<std::vector<std::string>>(const std::vector<std::string>&)>;
Result<NodePtr> RenameColumns(const NodePtr& node, const ColumnRenamer& rename);

/// The expression as an Arrow expression over `schema`: columns are resolved (exact name first,
/// then case-insensitively), literals are cast to the type of the column they meet (strings to
/// dates/timestamps, ints to the column's width, ...). Errors name unknown columns and type
/// mismatches. The result is unbound; callers bind it to the schema they evaluate on.
/// Semantics are Spark SQL's ANSI mode: Kleene logic, `/` on integers divides as DOUBLE, and
/// arithmetic overflow or division by zero fails the evaluation instead of yielding NULL.
Result<arrow::compute::Expression> ToArrow(const NodePtr& node, const arrow::Schema& schema);

/// Evaluates the expression over every row of `batch` (ToArrow, bind, execute): one value per
/// row, a constant result broadcast to the batch length.
Result<std::shared_ptr<arrow::Array>> Evaluate(const NodePtr& node, const std::shared_ptr<arrow::RecordBatch>& batch);

/// Per-file statistics for one column, as the pruner sees them. Any field may be absent
/// (absent means unknown, never "empty").
struct ColumnStats {
  std::shared_ptr<arrow::Scalar> min;   ///< lower bound of the non-null values (inclusive)
  std::shared_ptr<arrow::Scalar> max;   ///< upper bound of the non-null values (inclusive)
  std::optional<int64_t> null_count;
};

/// What the pruner may ask about one file.
class StatsProvider {
 public:
  virtual ~StatsProvider() = default;
  /// Number of rows in the file, if known.
  virtual std::optional<int64_t> num_records() const = 0;
  /// Statistics for a column (dotted path as written in the expression, resolved the same way
  /// as ToArrow does against `schema`); nullopt when nothing is known about it. MayMatch passes
  /// the schema's spelling: `S.B` and `t.s.b` (alias qualifier) both arrive as `s.b`; a part
  /// containing `.` or a backquote arrives backquoted.
  virtual std::optional<ColumnStats> column(const std::string& path) const = 0;
};

/// False only when no row of a file with these statistics can satisfy `predicate` (evaluated
/// with SQL three-valued logic: a row passes only when the predicate is TRUE). Conservative:
/// anything it cannot reason about (functions, arithmetic on columns, LIKE with a leading
/// wildcard, missing stats) answers true. `schema` is the table's logical schema.
bool MayMatch(const NodePtr& predicate, const arrow::Schema& schema, const StatsProvider& stats);

}  // namespace strata::expr
