/// \file
/// Expectation suites: parsed from YAML (or built in code), validated over a stream of Arrow
/// record batches or a strata table at a version, and turned into per-row failure masks for
/// quality gates.
///
/// A suite file:
///
///     name: transactions_silver
///     expectations:
///       - {type: not_null, column: txn_id}
///       - {type: between, column: amount, min: 0, max: 10000, mostly: 0.99}
///
/// Validation is one streaming pass: batches are cut into morsels that worker threads feed into
/// per-thread states (counts, moments, hash partitions, ...), merged at the end. Every
/// expectation of the suite shares that pass; statistics asked for by several expectations on
/// one column (mean and stdev, distinct count and uniqueness) are computed once.
///
/// Suites are immutable and may be used from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/quality/expectation.h"
#include "strata/quality/report.h"
#include "strata/storage/object_store.h"
#include "strata/table/snapshot.h"

namespace strata::quality {

namespace internal {
struct SuiteImpl;
class BoundSuite;
}  // namespace internal

struct ValidateOptions {
  /// Failing values kept per expectation (unexpected_samples).
  int max_samples = 5;
  /// Worker threads; 0 means one per core.
  int threads = 0;
  /// Rows per unit of work handed to a worker.
  int64_t morsel_rows = 64 * 1024;
  /// "Now" for `freshness`, in microseconds since the Unix epoch; unset means the clock.
  std::optional<int64_t> now_us;
};

/// Per-row outcome of the row-level expectations of a suite over one batch.
struct RowFailures {
  /// True where the row fails at least one row-level expectation (never null).
  std::shared_ptr<arrow::BooleanArray> failed;
  /// On failing rows: the names of the failed expectations joined by "; "
  /// (e.g. "not_null(txn_id); between(amount)"); null on passing rows.
  std::shared_ptr<arrow::StringArray> reasons;
  int64_t num_failed = 0;
};

/// A suite bound to one schema, for checking batch after batch (quality gates). Built by
/// Suite::MakeRowChecker; thread-safe.
class RowChecker {
 public:
  ~RowChecker();
  /// Evaluates every row-level expectation on `batch` (which must have the bound schema).
  /// Row-level expectations that depend on other rows look only at this batch: `unique` and
  /// `compound_unique` flag values repeated within the batch, `increasing`/`decreasing` compare
  /// with the previous row of the batch. A row failing an expectation with `mostly` < 1 is still
  /// reported: whether to reject it is the caller's policy.
  Result<RowFailures> Check(const std::shared_ptr<arrow::RecordBatch>& batch) const;
  /// Names of the row-level expectations checked per row.
  const std::vector<std::string>& row_expectations() const;
  /// Names of the expectations that are not row-level (aggregates, schema checks): Check
  /// ignores them.
  const std::vector<std::string>& skipped_expectations() const;

 private:
  friend class Suite;
  RowChecker() = default;
  std::shared_ptr<internal::BoundSuite> bound_;
  std::vector<std::string> row_names_, skipped_names_;
};

/// Parses YAML text into a Value tree with the line of every node (plain scalars typed as
/// YAML 1.2 core: null, true/false, integers, floats; quoted scalars stay strings). Syntax
/// errors and duplicate keys are kInvalidArgument naming `source` and the line.
Result<Value> ParseYaml(std::string_view yaml, const std::string& source);

/// The declarations of an `expectations:` list (each a map with `type`), with their origin
/// (`source:line`). Errors name `source` and the line.
Result<std::vector<ExpectationSpec>> ParseExpectationList(const Value& list, const std::string& source);

class Suite {
 public:
  /// Parses a suite file. Errors (kInvalidArgument) name the file and line, and the
  /// expectation: unknown type, unknown key, missing or mistyped argument, bad regex or
  /// expression. Relative `table:` paths (exists_in) are resolved against the file's directory.
  static Result<Suite> FromYamlFile(const std::string& path);
  /// Parses suite YAML text; `source` names it in error messages.
  static Result<Suite> FromYamlString(std::string_view yaml, const std::string& source = "<string>");
  /// Builds a suite from an already parsed document ({name, expectations: [...]}, as
  /// ParseYaml gives); `source` names it in errors, `base_dir` resolves relative table paths.
  /// Data contracts embed the same shape.
  static Result<Suite> FromValue(const Value& document, const std::string& source, std::string base_dir = "");
  /// Builds a suite from declarations (checked as a YAML suite is). `base_dir` resolves
  /// relative `table:` paths (empty: the working directory).
  static Result<Suite> Make(std::string name, std::vector<ExpectationSpec> expectations,
                            std::string base_dir = "");

  const std::string& name() const;
  const std::vector<ExpectationSpec>& expectations() const;
  /// The data columns the expectations read, in first-use order.
  std::vector<std::string> RequiredColumns() const;

  /// Validates a stream of batches. A column named by an expectation but absent from the data is
  /// an error (kInvalidArgument naming the expectation and where it was declared), as is a column
  /// of a type the expectation cannot check. Errors while evaluating one expectation (e.g.
  /// overflow in an expression) fail that expectation only (ExpectationResult::error).
  Result<Report> Validate(std::shared_ptr<arrow::RecordBatchReader> data, const ValidateOptions& options = {}) const;
  /// Validates an in-memory table.
  Result<Report> Validate(const std::shared_ptr<arrow::Table>& data, const ValidateOptions& options = {}) const;
  /// Validates a snapshot, reading only the columns the suite needs.
  Result<Report> ValidateSnapshot(table::SnapshotPtr snapshot, const ValidateOptions& options = {}) const;
  /// Validates the table in `store` at `version` (latest when unset).
  Result<Report> ValidateTable(std::shared_ptr<storage::ObjectStore> store, std::optional<int64_t> version = std::nullopt,
                               const ValidateOptions& options = {}) const;

  /// Binds the row-level expectations to `schema` (resolving columns, loading exists_in
  /// reference tables once) for repeated per-batch checks.
  Result<std::shared_ptr<RowChecker>> MakeRowChecker(const std::shared_ptr<arrow::Schema>& schema,
                                                     const ValidateOptions& options = {}) const;
  /// One-shot MakeRowChecker(batch schema) + Check(batch).
  Result<RowFailures> FailingRows(const std::shared_ptr<arrow::RecordBatch>& batch) const;

 private:
  explicit Suite(std::shared_ptr<const internal::SuiteImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const internal::SuiteImpl> impl_;
};

}  // namespace strata::quality
