/// \file
/// Pre-commit validation (write-audit-publish): the one interface through which every write path
/// of ops/ (append, overwrite, MERGE, UPDATE) — and the writers built on them later (stream
/// ingest, pipeline steps) — lets a higher layer look at the rows it is about to publish before
/// the commit that publishes them. ops/ calls it and knows nothing of what is checked; quality/
/// implements it (data contracts) and installs the provider that finds a table's validator.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"
#include "strata/table/snapshot.h"

namespace strata::ops {

/// Rows an operation is about to publish, in the table's logical schema.
struct PendingRows {
  /// WRITE, MERGE, UPDATE, ...
  std::string operation;
  /// The rows new to the table: appended rows, and the new images of updated rows.
  std::vector<std::shared_ptr<arrow::RecordBatch>> rows;
  /// True when the operation may publish a subset of the rows (appends); false when dropping a
  /// row would lose data (the new image of an updated row replaces the old one), so a failing
  /// row must refuse the whole operation.
  bool may_quarantine = true;
};

/// A validator's decision on pending rows.
struct Verdict {
  /// The rows to publish: all of them, or those that passed (quarantine).
  std::vector<std::shared_ptr<arrow::RecordBatch>> publish;
  /// Rows kept out of the table (already handled by the validator after the commit).
  int64_t quarantined_rows = 0;
  /// JSON object recorded in the commit's commitInfo as "strataQuality" (empty: nothing).
  std::string commit_info_json;
  /// Run after the commit succeeded, with its version: records results, writes the quarantine.
  /// Not run when the commit fails.
  std::function<Status(int64_t version)> after_commit;
};

/// Checks pending rows. Thread-compatible: one operation uses one validator at a time.
class PreCommitValidator {
 public:
  virtual ~PreCommitValidator() = default;
  /// Returns the verdict, or an error (ErrorCode::kExpectationFailed) when the operation must not
  /// commit: the table then stays as it was.
  virtual Result<Verdict> Validate(PendingRows pending) = 0;
};

/// Finds the validator attached to a table, or null when it has none.
using ValidatorProvider = std::function<Result<std::shared_ptr<PreCommitValidator>>(
    const std::shared_ptr<storage::ObjectStore>& store, const table::Snapshot& snapshot)>;

/// Installs the provider every write path consults (quality/ does, once per process).
void SetValidatorProvider(ValidatorProvider provider);

/// The validator for a table (null when none, or when no provider is installed).
Result<std::shared_ptr<PreCommitValidator>> ValidatorFor(const std::shared_ptr<storage::ObjectStore>& store,
                                                         const table::Snapshot& snapshot);

/// Runs the table's validator, if any, over `pending`: returns the verdict (publish = the
/// pending rows when there is no validator).
Result<Verdict> ValidatePending(const std::shared_ptr<storage::ObjectStore>& store, const table::Snapshot* snapshot,
                                PendingRows pending);

}  // namespace strata::ops
