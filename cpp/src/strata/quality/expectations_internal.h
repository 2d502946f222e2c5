/// \file
/// Internals of the expectation engine, shared by the kernel files and suite.cc: not a public
/// API. The shape (after DuckDB's operators): immutable `Accumulator`s whose per-thread state
/// lives in separate `AccState` objects, merged after the pass; `Expectation`s compiled from
/// their declarations and bound to a schema as `BoundExpectation`s that read the accumulators'
/// merged states.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/quality/expectation.h"
#include "strata/quality/report.h"
#include "strata/quality/suite.h"

namespace strata::quality::internal {

/// A slice of the input handed to one worker. Each worker sees its morsels in increasing
/// `index` order.
struct Morsel {
  const arrow::RecordBatch* batch = nullptr;  ///< columns normalized (see BindContext::schema)
  int64_t index = 0;
};

/// Per-thread state of an accumulator. `error` set by a failed Update stops further updates.
class AccState {
 public:
  virtual ~AccState() = default;
  Status error;
};

/// A computation over the stream. Const and thread-safe: all mutable data is in the state.
class Accumulator {
 public:
  virtual ~Accumulator() = default;
  virtual std::unique_ptr<AccState> NewState() const = 0;
  virtual Status Update(AccState* state, const Morsel& morsel) const = 0;
  /// Folds another worker's state into `into` (errors already merged by the caller).
  virtual void Merge(AccState* into, std::unique_ptr<AccState> from) const = 0;
  /// Final work after merging, using up to `threads` threads.
  virtual Status Finalize(AccState* state, int threads) const { return Status::OK(); }
};

/// Everything a Bind needs; one per validation (or per RowChecker).
struct BindContext {
  /// The schema morsels have: the data's schema with dictionary and view columns decoded.
  std::shared_ptr<arrow::Schema> schema;
  /// The data's full schema as declared (schema expectations look at it).
  std::shared_ptr<arrow::Schema> full_schema;
  ValidateOptions options;
  std::vector<std::shared_ptr<Accumulator>> accumulators;
  std::map<std::string, int> accumulator_keys;
  /// Accumulators looked up since the runner last cleared it (those an expectation reads).
  std::vector<int> uses;

  /// The index of the accumulator registered under `key`, creating it with `make` the first
  /// time (so expectations sharing a statistic share one pass).
  Result<int> AddAccumulator(const std::string& key, const std::function<Result<std::shared_ptr<Accumulator>>()>& make);
  /// The index of column `name` in `schema`; an error naming the available columns when absent.
  Result<int> Column(const std::string& name) const;
};

/// The merged states, in BindContext::accumulators order.
struct FinishContext {
  std::vector<AccState*> states;
  int64_t row_count = 0;
  int max_samples = 5;
  int64_t now_us = 0;
};

/// An expectation bound to one schema.
class BoundExpectation {
 public:
  virtual ~BoundExpectation() = default;
  /// Row-level expectations can say, per row of a single batch, whether it fails.
  virtual bool row_level() const { return false; }
  /// fail[i] = 1 for each failing row of `batch`, 0 otherwise; returns the number of rows looked
  /// at. REQUIRES: row_level(); `fail` holds batch.num_rows() bytes.
  virtual Result<int64_t> FailRows(const arrow::RecordBatch& batch, uint8_t* fail) const;
  /// Fills success, counts, observed value and samples from the merged states.
  virtual Status Finish(const FinishContext& ctx, ExpectationResult* out) const = 0;
};

/// A declaration checked and compiled (arguments parsed, regex/expression validated).
/// Immutable; bound anew for every validation.
class Expectation {
 public:
  virtual ~Expectation() = default;
  ExpectationSpec spec;
  ExpectationKind kind = ExpectationKind::kRow;
  int index = 0;                     ///< 1-based position in the suite
  std::string column;                ///< the single column, empty otherwise
  std::vector<std::string> columns;  ///< every data column read
  double mostly = 1.0;
  std::string display_name;

  virtual Result<std::unique_ptr<BoundExpectation>> Bind(BindContext* ctx) const = 0;
  /// "suite.yaml:12: expectation 3 (between on 'amount')": the prefix of every error about it.
  std::string Context() const;
};

/// Checks a declaration's keys and argument types and compiles it. `base_dir` resolves relative
/// table paths. Errors carry Context().
Result<std::shared_ptr<const Expectation>> Compile(const ExpectationSpec& spec, int index, const std::string& base_dir);

// ---- helpers shared by the kernels -------------------------------------------------------

/// Reads a declaration's arguments, recording which keys were used so that unknown keys can be
/// reported. Errors name the argument and, when known, its line.
class Args {
 public:
  Args(const ExpectationSpec& spec, std::string context);
  const Value* Get(std::string_view key);
  Result<std::string> RequiredString(std::string_view key);
  Result<std::optional<std::string>> OptionalString(std::string_view key);
  Result<std::optional<double>> OptionalNumber(std::string_view key);
  Result<double> RequiredNumber(std::string_view key);
  Result<std::optional<int64_t>> OptionalInt(std::string_view key);
  Result<bool> OptionalBool(std::string_view key, bool def);
  Result<std::vector<std::string>> StringList(std::string_view key, size_t min_size);
  /// A value that may be a number or a string (range bounds: numbers, or dates/timestamps as
  /// text for temporal columns); null when absent.
  Result<Value> OptionalBound(std::string_view key);
  Result<Value> RequiredList(std::string_view key);
  /// Every key was read: otherwise an error listing the unknown key and the allowed ones.
  Status Finish();
  Status Error(std::string_view key, const std::string& message) const;
  const std::string& context() const { return context_; }

 private:
  const ExpectationSpec& spec_;
  std::string context_;
  std::vector<std::string> used_;
};

/// `status` with the expectation's context prepended, as kInvalidArgument.
Status ContextError(const std::string& context, const Status& status);

/// Maps [ordered, row-level] checks on fixed-width values; true for integer, floating point,
/// date, time, timestamp and duration columns.
bool IsNumericLike(const arrow::DataType& type);
bool IsStringLike(const arrow::DataType& type);
bool IsTemporal(const arrow::DataType& type);

/// A bound of a range, parsed against a column type: numbers stay numbers; for temporal
/// columns strings are parsed as dates/timestamps and become the column's physical integer
/// (long double holds every int64 exactly).
Result<std::optional<long double>> ParseBound(const Value& bound, const arrow::DataType& type, std::string_view what);
/// The physical integer of a temporal scalar (days, ms, us, ... as the type says).
int64_t TemporalPhysical(const arrow::Scalar& scalar);

/// Calls f(CType{}) with the physical C type of a numeric-like column (int32_t for date32,
/// int64_t for timestamps, ...).
template <typename F>
Status VisitPhysical(const arrow::DataType& t, F&& f) {
  switch (t.id()) {
    case arrow::Type::INT8: return f(int8_t{});
    case arrow::Type::INT16: return f(int16_t{});
    case arrow::Type::INT32: return f(int32_t{});
    case arrow::Type::INT64: return f(int64_t{});
    case arrow::Type::UINT8: return f(uint8_t{});
    case arrow::Type::UINT16: return f(uint16_t{});
    case arrow::Type::UINT32: return f(uint32_t{});
    case arrow::Type::UINT64: return f(uint64_t{});
    case arrow::Type::FLOAT: return f(float{});
    case arrow::Type::DOUBLE: return f(double{});
    case arrow::Type::DATE32:
    case arrow::Type::TIME32: return f(int32_t{});
    case arrow::Type::DATE64:
    case arrow::Type::TIMESTAMP:
    case arrow::Type::TIME64:
    case arrow::Type::DURATION: return f(int64_t{});
    default: return Status::Invalid("type ", t.ToString(), " is not numeric");
  }
}

/// Clears fail[i] on null rows of `array`; returns the number of non-null rows.
int64_t ApplyValidity(const arrow::Array& array, uint8_t* fail);
/// Number of set bytes in fail[0, n).
int64_t CountFails(const uint8_t* fail, int64_t n);

/// Text of an Arrow type as users write it in `value_type`/`schema_equals` (int64, string,
/// timestamp[us, tz=UTC], ...), and whether a declared type name matches an actual type
/// (`string` matches every string flavour, `timestamp` every timestamp, etc.).
bool TypeMatches(std::string_view declared, const arrow::DataType& actual);
std::string TypeName(const arrow::DataType& type);

/// Takes rows `rows` of the listed columns of `batch`: one column as is, several as a struct.
Result<std::shared_ptr<arrow::Array>> TakeRows(const arrow::RecordBatch& batch, const std::vector<int>& columns,
                                               const std::vector<int64_t>& rows);
/// An array of `type` from values cast to it (for in_set / most_common_value / exists_in sets).
Result<std::shared_ptr<arrow::Array>> ValuesToArray(const Value::List& values, const std::shared_ptr<arrow::DataType>& type,
                                                    std::string_view what);

// ---- kernels (expectations_*.cc) ---------------------------------------------------------

/// A stateless per-row predicate (most row-level expectations).
class RowKernel {
 public:
  virtual ~RowKernel() = default;
  /// fail[i] = 1 for failing rows among those looked at (fail arrives zeroed); returns how many
  /// rows were looked at.
  virtual Result<int64_t> Evaluate(const arrow::RecordBatch& batch, uint8_t* fail) const = 0;
};

/// Binds a row-level expectation built from a RowKernel: counts, `mostly`, samples of
/// `sample_columns` (one column as is, several as a struct).
Result<std::unique_ptr<BoundExpectation>> BindRowKernel(BindContext* ctx, const Expectation& e,
                                                        std::shared_ptr<const RowKernel> kernel,
                                                        std::vector<int> sample_columns);

/// Fills success/percent/observed for a row-level result from its counts.
void SetRowOutcome(int64_t element_count, int64_t unexpected_count, double mostly, ExpectationResult* out);

/// The compilers of each family, dispatched by Compile.
Result<std::shared_ptr<Expectation>> CompileRow(const ExpectationSpec& spec, Args* args, const std::string& base_dir);
Result<std::shared_ptr<Expectation>> CompileAggregate(const ExpectationSpec& spec, Args* args);
Result<std::shared_ptr<Expectation>> CompileHashed(const ExpectationSpec& spec, Args* args, const std::string& base_dir);

}  // namespace strata::quality::internal
