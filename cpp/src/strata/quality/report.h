/// \file
/// The outcome of validating data against a suite: one ExpectationResult per expectation and
/// the Report that gathers them, serializable to JSON and printable as a text table.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/quality/expectation.h"

namespace strata::quality {

/// The result of one expectation.
///
/// Counting rules (the same for every row-level expectation):
/// - `element_count` is the number of rows the expectation looked at: the non-null rows of its
///   column (rows where every involved column is non-null for multi-column ones, rows where the
///   expression is not NULL for `expression`); `not_null` looks at every row.
/// - `unexpected_count` is how many of those failed; nulls are never unexpected except for
///   `not_null`. For `unique`, every row whose value occurs more than once is unexpected.
/// - `unexpected_percent` = 100 * unexpected_count / element_count (so it is over non-null
///   rows), 0 when element_count is 0.
/// - success = the passing fraction (element_count - unexpected_count) / element_count is at
///   least `mostly` (default 1.0); with no element to look at a row-level expectation succeeds.
/// Aggregate and schema expectations have no element or unexpected counts; their
/// `observed_value` is the statistic (null when it is undefined, e.g. the mean of no values, in
/// which case they fail).
struct ExpectationResult {
  std::string type;
  /// The single column the expectation is about; empty for table-level and multi-column ones.
  std::string column;
  /// Every data column it reads (for multi-column expectations: all of them).
  std::vector<std::string> columns;
  /// The declaration's arguments (column, min, max, mostly, ...), as written.
  Value kwargs;
  /// Where the expectation was declared ("suite.yaml:12"), empty for suites built in code.
  std::string origin;
  /// Short display name: the `name` argument, or `type(column)`.
  std::string name;

  bool success = false;
  std::optional<int64_t> element_count;
  std::optional<int64_t> unexpected_count;
  std::optional<double> unexpected_percent;
  /// Row-level: the fraction of looked-at rows that passed (null when none); aggregates: the
  /// statistic (mean, row count, list of quantiles, ...).
  Value observed_value;
  /// A few failing values, first in data order where the expectation is order-based (a
  /// StructArray of the involved columns for multi-column and expression expectations); null
  /// when there are none.
  std::shared_ptr<arrow::Array> unexpected_samples;
  /// Set when the expectation could not be evaluated (e.g. arithmetic overflow in an
  /// expression); the expectation then fails.
  std::string error;
};

/// The outcome of validating one data set against a suite.
struct Report {
  std::string suite_name;
  /// True when every expectation succeeded.
  bool success = true;
  int64_t row_count = 0;
  std::vector<ExpectationResult> results;
  /// The validated table and version, when a table was validated.
  std::string table_path;
  std::optional<int64_t> table_version;
  double elapsed_seconds = 0;

  int64_t num_failed() const;
  /// The report as one JSON object:
  /// {"suite", "success", "row_count", "statistics": {"evaluated", "successful", "unsuccessful"},
  ///  "table": {"path", "version"} (when a table was validated), "elapsed_seconds",
  ///  "results": [{"type", "name", "column", "columns", "kwargs", "origin", "success",
  ///  "element_count", "unexpected_count", "unexpected_percent", "observed_value",
  ///  "unexpected_samples", "error"}]}. Samples are JSON values (timestamps as ISO-8601 text).
  std::string ToJson() const;
  /// A human-readable summary: one line per expectation with its status and numbers.
  std::string ToString() const;
};

/// An Arrow scalar as a Value: numbers, strings and booleans as themselves, temporal values as
/// ISO-8601 text, decimals as doubles, anything else as its text.
Value ScalarToValue(const arrow::Scalar& scalar);

/// Every element of `array` as a Value (a struct element becomes a map).
std::vector<Value> ArrayToValues(const arrow::Array& array);

}  // namespace strata::quality
