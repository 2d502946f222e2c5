/// \file
/// Reading the change data feed (PROTOCOL.md "Change Data Files"): the rows each version in a
/// range inserted, deleted or updated, with `_change_type`, `_commit_version` and
/// `_commit_timestamp`. A commit with cdc actions is read through its change data files; a commit
/// without them (blind appends, whole-file deletes, other writers) has its changes derived from
/// its add and remove actions, deletion vectors included.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <arrow/type_fwd.h>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"

namespace strata::exec {

/// Changes of versions start..end (inclusive; end defaults to the latest). Errors: kVersionNotFound
/// for versions the log does not have, kInvalidArgument when the change data feed was off at a
/// version that changed data.
Result<std::shared_ptr<arrow::Table>> ReadChanges(std::shared_ptr<storage::ObjectStore> store, int64_t start_version,
                                                  std::optional<int64_t> end_version = std::nullopt);

}  // namespace strata::exec
