/// \file
/// Checkpoints (PROTOCOL.md "Checkpoints", "Checkpoint Schema"): reading classic, multi-part and
/// V2 (with sidecars) into actions, and writing classic single-file checkpoints plus
/// `_last_checkpoint`.
#pragma once

#include <vector>

#include "strata/common/status.h"
#include "strata/storage/object_store.h"
#include "strata/table/actions.h"
#include "strata/table/log_segment.h"

namespace strata::table {

class Snapshot;

/// Every action of a checkpoint (all parts; sidecars followed for V2). Only the action kinds a
/// snapshot needs are returned: protocol, metaData, add, remove, txn, domainMetadata.
/// Without `with_files`, add/remove rows (and sidecars, which hold only those) are not read.
Result<std::vector<Action>> ReadCheckpoint(storage::ObjectStore& store, const std::vector<LogFile>& parts,
                                           bool with_files = true);

/// Writes `<version>.checkpoint.parquet` for the snapshot, then `_last_checkpoint`. Tombstones
/// younger than the table's `delta.deletedFileRetentionDuration` are kept.
Status WriteCheckpoint(const Snapshot& snapshot);

}  // namespace strata::table
