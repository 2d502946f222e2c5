/// \file
/// Data contracts and the quality gate that enforces them (write-audit-publish).
///
/// A contract declares what a table promises its readers: the schema (names, types,
/// nullability), semantic rules (an expectation list, as in a suite), who owns it, and its SLAs.
/// Attached to a table (stored as `_strata/contract.yaml` inside it, which Delta readers and
/// VACUUM ignore), it is enforced on every write path of ops/ through the pre-commit validator
/// interface (ops/validator.h): the rows a write is about to publish are checked before the
/// commit that publishes them.
///
///     name: transactions_silver
///     owner: payments-data
///     schema:
///       - {name: txn_id, type: int64, nullable: false}
///       - {name: amount, type: float64}
///     expectations:
///       - {type: between, column: amount, min: 0}
///     on_fail: quarantine            # or reject (the default)
///     sla: {freshness: {column: ts, max_age: 2h}, completeness: 0.99}
///
/// On failure: `reject` refuses the write (ErrorCode::kExpectationFailed, the table unchanged);
/// `quarantine` publishes the rows that pass the row-level rules and appends the failing ones,
/// with the reasons, to the quarantine table `_strata/quarantine` (written before the commit, so
/// nothing is lost if the commit then fails). Updates (UPDATE, MERGE) cannot quarantine — dropping
/// the new image of a row would lose it — so they are refused. Aggregate rules (row counts,
/// means, ...) are checked over the rows to publish and can only reject. Every gated write's
/// results are recorded in its commitInfo (`strataQuality`) and, with the version they checked,
/// in the results table `_strata/quality_results`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/quality/suite.h"
#include "strata/storage/object_store.h"

namespace strata::quality {

/// Where a table keeps its contract and the gate's tables (relative to the table root).
inline constexpr const char* kContractFile = "_strata/contract.yaml";
inline constexpr const char* kQuarantineTable = "_strata/quarantine";
inline constexpr const char* kResultsTable = "_strata/quality_results";

/// One column the contract declares.
struct ColumnContract {
  std::string name;
  /// int8..int64, uint8..uint64, float32/float64, bool, string, binary, date, timestamp,
  /// decimal (any precision), or any Arrow type name as printed (e.g. "list<item: int64>").
  std::string type;
  bool nullable = true;
  std::string origin;  ///< "contract.yaml:7"
};

enum class OnFail { kReject, kQuarantine };

class Contract {
 public:
  /// Parses a contract; errors (kInvalidArgument) name the source and line.
  static Result<Contract> FromYamlString(std::string_view yaml, const std::string& source = "<string>");
  static Result<Contract> FromYamlFile(const std::string& path);

  const std::string& name() const { return name_; }
  const std::string& owner() const { return owner_; }
  const std::string& description() const { return description_; }
  const std::vector<ColumnContract>& columns() const { return columns_; }
  OnFail on_fail() const { return on_fail_; }
  /// The semantic rules (empty suite when the contract has none).
  const Suite& rules() const { return *rules_; }
  /// The SLA as expectations over the whole table (freshness, completeness); empty when none.
  const Suite& sla() const { return *sla_; }
  /// The column the freshness SLA reads (sla.freshness.column); empty without one.
  const std::string& freshness_column() const { return freshness_column_; }
  /// The YAML text it was parsed from.
  const std::string& yaml() const { return yaml_; }

  /// Violations of the declared schema by `schema` (a missing column, another type, a nullable
  /// column declared NOT NULL); empty when it conforms. Extra columns are allowed.
  std::vector<std::string> SchemaViolations(const arrow::Schema& schema) const;

 private:
  std::string name_, owner_, description_, yaml_, freshness_column_;
  std::vector<ColumnContract> columns_;
  OnFail on_fail_ = OnFail::kReject;
  std::shared_ptr<Suite> rules_, sla_;
};

/// Attaches `yaml` as the contract of the table in `store` after checking that it parses and
/// that the table's current schema conforms; replaces an earlier contract.
Status AttachContract(const std::shared_ptr<storage::ObjectStore>& store, std::string_view yaml);
/// Removes the table's contract (no-op without one).
Status DetachContract(const std::shared_ptr<storage::ObjectStore>& store);
/// The table's contract, if it has one.
Result<std::optional<Contract>> LoadContract(const std::shared_ptr<storage::ObjectStore>& store);

/// Appends `rows` to the side table `rel` (kQuarantineTable, kResultsTable, ...) of the table in
/// `store`: the Delta table `<table>/<rel>`, created on first use, new columns merged into its
/// schema. A bookkeeping write, not a run: run observers (ops/run_observer.h) do not see it.
Status AppendToSideTable(const std::shared_ptr<storage::ObjectStore>& store, std::string_view rel,
                         std::shared_ptr<arrow::RecordBatch> rows);

/// Installs the gate: from now on every write (in this process) to a table with a contract is
/// checked against it. Idempotent.
void InstallContractGate();

/// Evaluates the contract's SLA over the table's latest version (empty report when no SLA).
Result<Report> CheckSla(const std::shared_ptr<storage::ObjectStore>& store);

}  // namespace strata::quality
