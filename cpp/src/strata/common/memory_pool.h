/// \file
/// The Arrow memory pool for bulk data: the buffers Parquet decoding and encoding fill.
#pragma once

#include <arrow/type_fwd.h>

namespace strata {

/// The pool that Parquet readers and writers allocate from: jemalloc when the Arrow build has it
/// (the pyarrow wheels do), else Arrow's default pool. STRATA_MEMORY_POOL=jemalloc|mimalloc|system|
/// default overrides the choice (an unknown or unavailable name falls back to the default pool).
///
/// Why not Arrow's default (mimalloc in the pyarrow wheel): mimalloc hands freed 4 MiB spans back to
/// the kernel after its purge delay and faults them in again as fresh transparent huge pages, which
/// the kernel zeroes. A copy-on-write MERGE of 10M rows, which decodes and re-encodes every row, spent
/// more kernel time (≈ 5 s) than it spent working (≈ 4 s) doing so on a 2-core VM; with jemalloc, 1.4 s.
arrow::MemoryPool* DataMemoryPool();

}  // namespace strata
