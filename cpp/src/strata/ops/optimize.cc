#include "strata/ops/optimize.h"

#include <algorithm>
#include <future>
#include <map>
#include <mutex>

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/compute/api.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/type.h>

#include "strata/exec/scan.h"
#include "strata/expr/expr.h"
#include "strata/ops/run_observer.h"
#include "strata/ops/write.h"
#include "strata/ops/write_internal.h"
#include "strata/table/partition.h"
#include "strata/table/pruning.h"
#include "strata/table/snapshot.h"

namespace strata::ops {

namespace {

using table::AddFile;

std::string PartitionKey(const AddFile& f) {
  std::string k;
  for (const auto& [c, v] : f.partition_values) k += c + "=" + (v ? "v" + *v : "null") + "/";
  return k;
}

/// Z-order values: each column's rows are ranked (dense rank over the sorted distinct values,
/// NULLs first), ranks are scaled to `bits` bits, and the bits of all columns are interleaved
/// (most significant first), so rows close on every column get close keys.
Result<std::vector<uint64_t>> ZValues(const std::shared_ptr<arrow::RecordBatch>& rows,
                                      const std::vector<std::string>& columns) {
  const int64_t n = rows->num_rows();
  const int dims = static_cast<int>(columns.size());
  const int bits = std::max(1, 64 / dims);
  std::vector<std::vector<uint64_t>> scaled;
  for (const auto& c : columns) {
    auto col = rows->GetColumnByName(c);
    arrow::compute::RankOptions ro(arrow::compute::SortOrder::Ascending, arrow::compute::NullPlacement::AtStart,
                                   arrow::compute::RankOptions::Dense);
    ARROW_ASSIGN_OR_RAISE(auto ranked, arrow::compute::CallFunction("rank", {col}, &ro));
    auto r = std::static_pointer_cast<arrow::UInt64Array>(ranked.make_array());
    uint64_t max_rank = 1;
    for (int64_t i = 0; i < n; ++i) max_rank = std::max<uint64_t>(max_rank, r->Value(i));
    const uint64_t top = bits >= 64 ? ~0ULL : ((1ULL << bits) - 1);
    std::vector<uint64_t> s(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      long double frac = max_rank > 1 ? static_cast<long double>(r->Value(i) - 1) / (max_rank - 1) : 0.0L;
      s[static_cast<size_t>(i)] = static_cast<uint64_t>(frac * static_cast<long double>(top));
    }
    scaled.push_back(std::move(s));
  }
  std::vector<uint64_t> z(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t v = 0;
    for (int b = bits - 1; b >= 0; --b) {
      for (int d = 0; d < dims; ++d) v = (v << 1) | ((scaled[d][static_cast<size_t>(i)] >> b) & 1ULL);
    }
    z[static_cast<size_t>(i)] = v;
  }
  return z;
}

struct Bin {
  std::vector<const AddFile*> files;
  int64_t bytes = 0;
};

}  // namespace

namespace {

Result<OptimizeResult> OptimizeRun(std::shared_ptr<storage::ObjectStore> store, const OptimizeOptions& options,
                                   RunTracker& run) {
  ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(store));
  run.SetTableProperties(snap->metadata().configuration);
  STRATA_RETURN_NOT_OK_CTX(table::CheckWriteSupport(snap->protocol(), snap->metadata()),
                           "cannot OPTIMIZE '" + store->root() + "'");
  int64_t target = options.target_file_size.value_or(
      std::atoll(snap->Property("delta.targetFileSize", std::to_string(128LL << 20)).c_str()));
  if (target <= 0) return Error(ErrorCode::kInvalidArgument, "target file size must be positive, not ", target);
  const auto& parts = snap->partition_columns();
  for (const auto& c : options.z_order) {
    if (snap->schema()->GetFieldIndex(c) < 0) {
      return Error(ErrorCode::kInvalidArgument, "OPTIMIZE: z_order column '", c, "' is not a column of the table");
    }
    if (std::find(parts.begin(), parts.end(), c) != parts.end()) {
      return Error(ErrorCode::kInvalidArgument, "OPTIMIZE: z_order column '", c,
                   "' is a partition column (every file holds one value of it already)");
    }
  }
  expr::NodePtr filter;
  if (!options.partition_filter.empty()) {
    ARROW_ASSIGN_OR_RAISE(filter, expr::Parse(options.partition_filter));
    for (const auto& c : expr::ReferencedColumns(filter)) {
      if (std::find(parts.begin(), parts.end(), c) == parts.end()) {
        return Error(ErrorCode::kInvalidArgument, "OPTIMIZE: the partition filter may reference partition columns "
                     "only; '", c, "' is not one");
      }
    }
    ARROW_RETURN_NOT_OK(expr::ToArrow(filter, *snap->schema()).status());
  }

  OptimizeResult result;
  std::map<std::string, std::vector<const AddFile*>> by_partition;
  for (const auto& f : snap->files()) {
    ++result.files_considered;
    if (filter && !table::FileMayMatch(filter, f, *snap)) {
      ++result.files_skipped;
      continue;
    }
    by_partition[PartitionKey(f)].push_back(&f);
  }
  std::vector<Bin> bins;
  const bool zorder = !options.z_order.empty();
  for (auto& [key, files] : by_partition) {
    if (zorder) {
      // The whole partition is rewritten in curve order (one file needs no company).
      if (files.size() < 2 && !files[0]->deletion_vector) {
        result.files_skipped += static_cast<int64_t>(files.size());
        continue;
      }
      Bin b;
      for (const auto* f : files) {
        b.files.push_back(f);
        b.bytes += f->size;
      }
      bins.push_back(std::move(b));
      continue;
    }
    // Bin-packing: files below the target (or with deleted rows to purge), largest first,
    // first-fit into bins of at most the target size.
    std::vector<const AddFile*> small;
    for (const auto* f : files) {
      if (f->size < target || f->deletion_vector) small.push_back(f);
      else ++result.files_skipped;
    }
    std::sort(small.begin(), small.end(), [](const AddFile* a, const AddFile* b) { return a->size > b->size; });
    std::vector<Bin> local;
    for (const auto* f : small) {
      Bin* fit = nullptr;
      for (auto& b : local) {
        if (b.bytes + f->size <= target) {
          fit = &b;
          break;
        }
      }
      if (!fit) {
        local.emplace_back();
        fit = &local.back();
      }
      fit->files.push_back(f);
      fit->bytes += f->size;
    }
    for (auto& b : local) {
      if (b.files.size() == 1 && !b.files[0]->deletion_vector) {  // nothing to gain
        ++result.files_skipped;
        continue;
      }
      bins.push_back(std::move(b));
    }
  }
  if (bins.empty()) return result;

  FileWriteSpec spec;
  spec.table_schema = snap->schema();
  spec.partition_columns = parts;
  spec.mapping = snap->column_mapping_mode();
  spec.compression = snap->Property("delta.parquet.compression.codec", "snappy");
  spec.target_file_size = target;

  // Compacts one bin: its rows (deletion vectors applied), in Z-order when asked, as new files.
  auto compact = [&](const Bin& bin) -> Result<std::vector<AddFile>> {
    // Small files cost more to open than to read: several are read at once.
    constexpr size_t kReadsInFlight = 8;
    // Without Z-order, rows stream from the read files into the writer (memory: a few files'
    // rows and the open row groups); Z-order sorts the whole bin, so it collects the rows first.
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    DataFileWriter writer(*store, spec);
    for (size_t start = 0; start < bin.files.size(); start += kReadsInFlight) {
      std::vector<std::future<Result<std::vector<std::shared_ptr<arrow::RecordBatch>>>>> reads;
      for (size_t i = start; i < std::min(bin.files.size(), start + kReadsInFlight); ++i) {
        reads.push_back(std::async(std::launch::async, [&, i]() -> Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> {
          ARROW_ASSIGN_OR_RAISE(auto rows, exec::ReadFile(*snap, *bin.files[i], {}));
          std::vector<std::shared_ptr<arrow::RecordBatch>> out;
          for (auto& b : rows) {
            ARROW_ASSIGN_OR_RAISE(auto c, internal::ConformBatch(*b, snap->schema()));
            out.push_back(std::move(c));
          }
          return out;
        }));
      }
      Status first;
      for (auto& r : reads) {  // every future is waited for, even after an error
        auto got = r.get();
        if (!got.ok()) {
          if (first.ok()) first = got.status();
          continue;
        }
        for (auto& b : *got) {
          if (zorder) {
            batches.push_back(std::move(b));
          } else if (first.ok()) {
            first = writer.Write(b);
          }
        }
      }
      ARROW_RETURN_NOT_OK(first);
    }
    if (!zorder) return writer.Finish();
    if (zorder && !batches.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches(batches));
      ARROW_ASSIGN_OR_RAISE(auto all, table->CombineChunksToBatch());
      ARROW_ASSIGN_OR_RAISE(auto z, ZValues(all, options.z_order));
      std::vector<int64_t> order(z.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return z[static_cast<size_t>(a)] < z[static_cast<size_t>(b)];
      });
      ARROW_ASSIGN_OR_RAISE(auto buf, arrow::AllocateBuffer(static_cast<int64_t>(order.size() * sizeof(int64_t))));
      std::memcpy(buf->mutable_data(), order.data(), order.size() * sizeof(int64_t));
      auto idx = std::make_shared<arrow::Int64Array>(static_cast<int64_t>(order.size()), std::move(buf));
      ARROW_ASSIGN_OR_RAISE(auto sorted, arrow::compute::Take(all, idx));
      batches = {sorted.record_batch()};
    }
    return WriteDataFiles(*store, spec, batches);
  };

  std::vector<std::vector<AddFile>> outputs(bins.size());
  {
    // Bins are independent: a small pool works through them (each file read and write is
    // itself multi-threaded by Arrow/Parquet, so a couple of bins at once fill the cores).
    std::atomic<size_t> next{0};
    std::mutex mu;
    Status first_error;
    auto worker = [&]() {
      while (true) {
        size_t i = next.fetch_add(1);
        if (i >= bins.size()) return;
        auto r = compact(bins[i]);
        std::lock_guard<std::mutex> lock(mu);
        if (!r.ok()) {
          if (first_error.ok()) first_error = r.status();
          next = bins.size();
          return;
        }
        outputs[i] = std::move(*r);
      }
    };
    int threads = std::clamp<int>(options.parallelism, 1, static_cast<int>(bins.size()));
    std::vector<std::future<void>> futs;
    for (int t = 0; t < threads; ++t) futs.push_back(std::async(std::launch::async, worker));
    for (auto& f : futs) f.get();
    ARROW_RETURN_NOT_OK(first_error);
  }

  table::Commit commit;
  commit.read_snapshot = snap;
  commit.operation = "OPTIMIZE";
  commit.read_scope = table::Commit::ReadScope::kNothing;  // rows are unchanged: appends never conflict
  int64_t now = table::NowMs();
  std::set<std::string> partitions;
  for (size_t i = 0; i < bins.size(); ++i) {
    for (const auto* f : bins[i].files) {
      auto rm = table::RemoveFor(*f, now);
      rm.data_change = false;
      commit.actions.push_back(std::move(rm));
      commit.read_files.insert(table::FileKey(f->path, f->deletion_vector));
      result.bytes_removed += f->size;
      ++result.files_removed;
      partitions.insert(PartitionKey(*f));
    }
    for (auto& a : outputs[i]) {
      a.data_change = false;
      result.bytes_added += a.size;
      ++result.files_added;
      commit.actions.push_back(std::move(a));
    }
  }
  result.partitions_optimized = static_cast<int64_t>(partitions.size());
  commit.operation_parameters["predicate"] = options.partition_filter.empty() ? "[]" : options.partition_filter;
  std::string z = "[";
  for (const auto& c : options.z_order) z += (z.size() > 1 ? ",\"" : "\"") + c + "\"";
  commit.operation_parameters["zOrderBy"] = z + "]";
  commit.operation_parameters["targetFileSize"] = std::to_string(target);
  auto& m = commit.operation_metrics;
  m["numAddedFiles"] = std::to_string(result.files_added);
  m["numRemovedFiles"] = std::to_string(result.files_removed);
  m["numAddedBytes"] = std::to_string(result.bytes_added);
  m["numRemovedBytes"] = std::to_string(result.bytes_removed);
  m["numPartitionsOptimized"] = std::to_string(result.partitions_optimized);
  m["numFilesSkipped"] = std::to_string(result.files_skipped);
  ARROW_ASSIGN_OR_RAISE(result.version, table::CommitToTable(store, std::move(commit), options.commit));
  return result;
}

}  // namespace

// OPTIMIZE changes no rows: its run reports no rows in or out.
Result<OptimizeResult> OptimizeTable(std::shared_ptr<storage::ObjectStore> store, const OptimizeOptions& options) {
  RunTracker run(store, "OPTIMIZE");
  auto result = OptimizeRun(std::move(store), options, run);
  if (result.ok()) run.event().version = result->version;
  run.Finish(result.status());
  return result;
}

}  // namespace strata::ops
