/// \file
/// Data skipping: the view of one add file's partition values and statistics that the
/// expression pruner reads (PROTOCOL.md "Per-file Statistics"; bounds are made conservative:
/// timestamp maxima widened by 999 µs, since stats are truncated to milliseconds).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "strata/expr/expr.h"
#include "strata/table/actions.h"
#include "strata/table/schema.h"
#include "strata/table/stats.h"

namespace strata::table {

class Snapshot;

/// Statistics of one file as `expr::MayMatch` asks for them, by logical column path.
class AddFileStats : public expr::StatsProvider {
 public:
  AddFileStats(const AddFile& file, const Snapshot& snapshot);
  std::optional<int64_t> num_records() const override { return stats_.num_records; }
  std::optional<expr::ColumnStats> column(const std::string& path) const override;

 private:
  const AddFile& file_;
  const Snapshot& snapshot_;
  FileStats stats_;
};

/// False only when no row of `file` can satisfy `predicate`.
bool FileMayMatch(const expr::NodePtr& predicate, const AddFile& file, const Snapshot& snapshot);

}  // namespace strata::table
