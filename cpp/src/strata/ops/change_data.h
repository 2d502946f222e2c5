// Internal to ops/: the change data feed (PROTOCOL.md "Add CDC File", "Change Data Files").
// With delta.enableChangeDataFeed=true, DELETE, UPDATE and MERGE record the rows they change
// (delete, update_preimage, update_postimage, insert) in _change_data/ files committed as cdc
// actions beside the data files. A commit with cdc actions is read through them alone, so an
// operation records every change it makes, inserts included.
#pragma once

#include <memory>
#include <vector>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/ops/write.h"
#include "strata/table/actions.h"
#include "strata/table/snapshot.h"

namespace strata::ops::internal {

enum class ChangeType { kInsert, kDelete, kUpdatePreimage, kUpdatePostimage };
const char* ChangeTypeName(ChangeType t);

/// Collects an operation's changed rows and writes them as change data files.
class ChangeData {
 public:
  explicit ChangeData(const table::Snapshot& snapshot);
  bool enabled() const { return enabled_; }
  /// `rows` are in the table's logical schema (any column order; metadata ignored).
  void Add(std::shared_ptr<arrow::RecordBatch> rows, ChangeType type);
  /// Writes the collected rows (partitioned like the table) and returns their cdc actions.
  Result<std::vector<table::AddCdcFile>> Write(storage::ObjectStore& store, const FileWriteSpec& spec) const;

 private:
  bool enabled_ = false;
  std::vector<std::pair<std::shared_ptr<arrow::RecordBatch>, ChangeType>> rows_;
};

}  // namespace strata::ops::internal
