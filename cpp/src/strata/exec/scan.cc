#include "strata/exec/scan.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <thread>
#include <unordered_map>

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/io/interfaces.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/table.h>
#include <arrow/table_builder.h>
#include <arrow/type.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/statistics.h>
#include <roaring/roaring64map.hh>

#include "strata/common/memory_pool.h"
#include "strata/table/deletion_vector.h"
#include "strata/table/partition.h"
#include "strata/table/pruning.h"

namespace strata::exec {

namespace {
// Arrow's compute kernels live in libarrow_compute and must be registered once per process.
const bool kComputeReady = arrow::compute::Initialize().ok();
}  // namespace

namespace {

using table::AddFile;

/// Upper bound on rows per batch handed out by a scan.
constexpr int64_t kMaxBatchRows = 1 << 20;
using table::ColumnMappingMode;
using table::Snapshot;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool IsPartitionColumn(const Snapshot& snap, const std::string& name) {
  for (const auto& p : snap.partition_columns()) {
    if (Lower(p) == Lower(name)) return true;
  }
  return false;
}

Result<std::shared_ptr<arrow::Field>> FindLogical(const arrow::Schema& schema, const std::string& name) {
  auto f = schema.GetFieldByName(name);
  if (f) return f;
  for (const auto& c : schema.fields()) {
    if (Lower(c->name()) == Lower(name)) return c;
  }
  std::string names;
  for (const auto& c : schema.fields()) names += (names.empty() ? "" : ", ") + c->name();
  return Error(ErrorCode::kInvalidArgument, "unknown column '", name, "' (table columns: ", names, ")");
}

/// Rebuilds `arr` (read with physical names) with the logical field names and types of `target`,
/// recursing into structs and lists. Missing struct children become nulls.
Result<std::shared_ptr<arrow::Array>> ToLogical(const std::shared_ptr<arrow::Array>& arr,
                                                const arrow::Field& target, ColumnMappingMode mode);

Result<std::shared_ptr<arrow::Array>> StructToLogical(const std::shared_ptr<arrow::StructArray>& st,
                                                      const arrow::StructType& target, ColumnMappingMode mode) {
  arrow::ArrayVector children;
  arrow::FieldVector fields;
  const auto& src_type = *st->struct_type();
  for (const auto& tf : target.fields()) {
    std::string phys = table::PhysicalName(*tf, mode);
    int idx = src_type.GetFieldIndex(phys);
    if (idx < 0 && mode == ColumnMappingMode::kId) {
      auto id = table::FieldId(*tf);
      for (int i = 0; id && i < src_type.num_fields(); ++i) {
        auto md = src_type.field(i)->metadata();
        if (md && md->Get("PARQUET:field_id").ValueOr("") == std::to_string(*id)) idx = i;
      }
    }
    if (idx < 0) idx = src_type.GetFieldIndex(tf->name());
    std::shared_ptr<arrow::Array> child;
    if (idx < 0) {
      ARROW_ASSIGN_OR_RAISE(child, arrow::MakeArrayOfNull(tf->type(), st->length()));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto raw, st->GetFlattenedField(idx));
      ARROW_ASSIGN_OR_RAISE(child, ToLogical(raw, *tf, mode));
    }
    children.push_back(child);
    fields.push_back(tf->WithMetadata(nullptr));
  }
  std::shared_ptr<arrow::Buffer> validity;
  if (st->null_count() > 0) {
    ARROW_ASSIGN_OR_RAISE(validity, arrow::AllocateBitmap(st->length()));
    for (int64_t i = 0; i < st->length(); ++i) arrow::bit_util::SetBitTo(validity->mutable_data(), i, st->IsValid(i));
  }
  return arrow::StructArray::Make(children, fields, validity);
}

Result<std::shared_ptr<arrow::Array>> ToLogical(const std::shared_ptr<arrow::Array>& arr,
                                                const arrow::Field& target, ColumnMappingMode mode) {
  const auto& tt = target.type();
  if (tt->id() == arrow::Type::STRUCT && arr->type_id() == arrow::Type::STRUCT) {
    return StructToLogical(std::static_pointer_cast<arrow::StructArray>(arr),
                           static_cast<const arrow::StructType&>(*tt), mode);
  }
  if (arr->type()->Equals(*tt)) return arr;
  if (tt->id() == arrow::Type::LIST && arr->type_id() == arrow::Type::LIST) {
    auto list = std::static_pointer_cast<arrow::ListArray>(arr);
    auto vt = tt->field(0);
    if (vt->type()->id() == arrow::Type::STRUCT) {
      ARROW_ASSIGN_OR_RAISE(auto values, ToLogical(list->values(), *vt, mode));
      return std::make_shared<arrow::ListArray>(tt, list->length(), list->value_offsets(), values,
                                                list->null_bitmap(), list->null_count(), list->offset());
    }
  }
  // Type widening, INT96/ms timestamps, large strings, list field names: a cast.
  arrow::compute::CastOptions opts = arrow::compute::CastOptions::Safe(tt);
  auto casted = arrow::compute::Cast(*arr, tt, opts);
  if (!casted.ok()) {
    return Error(ErrorCode::kSchemaMismatch, "column '", target.name(), "' holds ", arr->type()->ToString(),
                 " in a data file, which cannot be read as ", tt->ToString(), ": ", casted.status().message());
  }
  return *casted;
}

/// Row-group statistics from the Parquet footer, as the expression pruner asks for them.
class RowGroupStats : public expr::StatsProvider {
 public:
  RowGroupStats(const parquet::RowGroupMetaData& rg, const std::unordered_map<std::string, std::pair<int, std::shared_ptr<arrow::DataType>>>& leaves)
      : rg_(rg), leaves_(leaves) {}
  std::optional<int64_t> num_records() const override { return rg_.num_rows(); }
  std::optional<expr::ColumnStats> column(const std::string& path) const override {
    auto it = leaves_.find(Lower(path));
    if (it == leaves_.end()) return std::nullopt;
    auto chunk = rg_.ColumnChunk(it->second.first);
    if (!chunk || !chunk->is_stats_set()) return std::nullopt;
    auto stats = chunk->statistics();
    if (!stats) return std::nullopt;
    expr::ColumnStats cs;
    if (stats->HasNullCount()) cs.null_count = stats->null_count();
    if (stats->HasMinMax()) {
      std::shared_ptr<arrow::Scalar> mn, mx;
      if (parquet::arrow::StatisticsAsScalars(*stats, &mn, &mx).ok() && mn && mx) {
        auto cmn = mn->CastTo(it->second.second);
        auto cmx = mx->CastTo(it->second.second);
        if (cmn.ok() && cmx.ok()) {
          cs.min = *cmn;
          cs.max = *cmx;
        }
      }
    }
    return cs;
  }

 private:
  const parquet::RowGroupMetaData& rg_;
  const std::unordered_map<std::string, std::pair<int, std::shared_ptr<arrow::DataType>>>& leaves_;
};

Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenDataFile(const Snapshot& snap, const AddFile& file,
                                                                 std::string* display) {
  std::string path = table::DecodePath(file.path);
  const auto& store = *snap.store();
  std::string fs_path;
  if (path.rfind("file://", 0) == 0) {
    fs_path = path.substr(7);
  } else if (path.find("://") != std::string::npos) {
    return Error(ErrorCode::kUnsupportedFeature, "data file '", path, "' is on another filesystem");
  } else if (!path.empty() && path[0] == '/') {
    fs_path = path;
  } else {
    fs_path = store.FsPath(path);
  }
  *display = fs_path;
  auto f = store.filesystem()->OpenInputFile(fs_path);
  if (!f.ok()) {
    return Error(ErrorCode::kCorruptLog, "data file '", fs_path, "' referenced by version ", snap.version(),
                 " cannot be opened: ", f.status().message());
  }
  return f;
}

Result<std::shared_ptr<arrow::Array>> PartitionArray(const Snapshot& snap, const AddFile& file,
                                                     const arrow::Field& field, int64_t length) {
  std::string phys = table::PhysicalName(field, snap.column_mapping_mode());
  std::optional<std::string> raw;
  auto it = file.partition_values.find(phys);
  if (it == file.partition_values.end()) it = file.partition_values.find(field.name());
  if (it == file.partition_values.end()) {
    for (auto i = file.partition_values.begin(); i != file.partition_values.end(); ++i) {
      if (Lower(i->first) == Lower(field.name())) it = i;
    }
  }
  if (it != file.partition_values.end()) raw = it->second;
  ARROW_ASSIGN_OR_RAISE(auto scalar, table::ParsePartitionValue(raw, field.type()));
  return arrow::MakeArrayFromScalar(*scalar, length);
}

}  // namespace

Result<ScanPlan> PlanScan(const Snapshot& snapshot, const ScanOptions& options) {
  ScanPlan plan;
  arrow::FieldVector out_fields;
  if (options.columns.empty()) {
    for (const auto& f : snapshot.schema()->fields()) out_fields.push_back(f->WithMetadata(nullptr));
  } else {
    for (const auto& c : options.columns) {
      ARROW_ASSIGN_OR_RAISE(auto f, FindLogical(*snapshot.schema(), c));
      out_fields.push_back(f->WithMetadata(nullptr));
    }
  }
  if (options.with_row_ids) {
    out_fields.push_back(arrow::field(kRowIndexColumn, arrow::int64(), false));
  }
  plan.output_schema = arrow::schema(out_fields);
  if (options.filter) {
    // Validate the filter against the schema before any file is touched.
    ARROW_RETURN_NOT_OK(expr::ToArrow(options.filter, *snapshot.schema()).status());
  }
  plan.files_total = static_cast<int64_t>(snapshot.files().size());
  for (const auto& f : snapshot.files()) {
    if (options.filter && !table::FileMayMatch(options.filter, f, snapshot)) {
      ++plan.files_pruned;
      continue;
    }
    plan.files.push_back(&f);
  }
  return plan;
}

Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> ReadFile(const Snapshot& snap, const AddFile& file,
                                                                  const ScanOptions& options) {
  const auto mode = snap.column_mapping_mode();
  // Columns to materialize: requested ones plus whatever the filter references.
  std::vector<std::shared_ptr<arrow::Field>> out_fields;
  if (options.columns.empty()) {
    for (const auto& f : snap.schema()->fields()) out_fields.push_back(f);
  } else {
    for (const auto& c : options.columns) {
      ARROW_ASSIGN_OR_RAISE(auto f, FindLogical(*snap.schema(), c));
      out_fields.push_back(f);
    }
  }
  std::vector<std::shared_ptr<arrow::Field>> read_fields = out_fields;
  if (options.filter) {
    for (const auto& path : expr::ReferencedColumns(options.filter)) {
      std::string top = path.substr(0, path.find('.'));
      auto f = FindLogical(*snap.schema(), top);
      if (!f.ok()) continue;
      bool have = false;
      for (const auto& r : read_fields) have |= r->name() == (*f)->name();
      if (!have) read_fields.push_back(*f);
    }
  }

  std::string display;
  ARROW_ASSIGN_OR_RAISE(auto input, OpenDataFile(snap, file, &display));
  parquet::ArrowReaderProperties props;
  props.set_use_threads(true);
  props.set_pre_buffer(true);
  props.set_batch_size(kMaxBatchRows);
  props.set_coerce_int96_timestamp_unit(arrow::TimeUnit::MICRO);
  const parquet::ReaderProperties reader_props(DataMemoryPool());
  parquet::arrow::FileReaderBuilder builder;
  auto open_st = builder.Open(input, reader_props);
  if (!open_st.ok()) {
    return Error(ErrorCode::kCorruptLog, "data file '", display, "' is not readable Parquet: ", open_st.message());
  }
  builder.properties(props)->memory_pool(DataMemoryPool());
  ARROW_ASSIGN_OR_RAISE(auto reader, builder.Build());
  const auto& manifest = reader->manifest();

  // Map each logical column to the file's top-level field.
  std::vector<int> leaves;
  std::vector<std::string> file_names(read_fields.size());
  std::unordered_map<std::string, std::pair<int, std::shared_ptr<arrow::DataType>>> stat_leaves;
  for (size_t i = 0; i < read_fields.size(); ++i) {
    const auto& lf = read_fields[i];
    if (IsPartitionColumn(snap, lf->name())) continue;
    std::string phys = table::PhysicalName(*lf, mode);
    auto id = table::FieldId(*lf);
    const parquet::arrow::SchemaField* found = nullptr;
    for (const auto& sf : manifest.schema_fields) {
      if (mode == ColumnMappingMode::kId && id) {
        auto md = sf.field->metadata();
        if (md && md->Get("PARQUET:field_id").ValueOr("") == std::to_string(*id)) found = &sf;
      } else if (sf.field->name() == phys) {
        found = &sf;
      }
    }
    if (!found) {
      for (const auto& sf : manifest.schema_fields) {
        if (Lower(sf.field->name()) == Lower(phys)) found = &sf;
      }
    }
    if (!found) continue;  // column added after this file was written: nulls
    file_names[i] = found->field->name();
    std::vector<const parquet::arrow::SchemaField*> stack = {found};
    while (!stack.empty()) {
      auto* sf = stack.back();
      stack.pop_back();
      if (sf->is_leaf()) {
        leaves.push_back(sf->column_index);
      } else {
        for (const auto& c : sf->children) stack.push_back(&c);
      }
    }
    if (found->is_leaf()) stat_leaves[Lower(lf->name())] = {found->column_index, lf->type()};
  }
  std::sort(leaves.begin(), leaves.end());

  auto metadata = reader->parquet_reader()->metadata();
  std::vector<int> row_groups;
  std::vector<int64_t> rg_start;
  int64_t start = 0;
  for (int rg = 0; rg < metadata->num_row_groups(); ++rg) {
    auto rgmd = metadata->RowGroup(rg);
    bool keep = true;
    if (options.filter) {
      RowGroupStats stats(*rgmd, stat_leaves);
      keep = expr::MayMatch(options.filter, *snap.schema(), stats);
    }
    if (keep) {
      row_groups.push_back(rg);
      rg_start.push_back(start);
    }
    start += rgmd->num_rows();
  }

  std::shared_ptr<roaring::Roaring64Map> deleted;
  if (file.deletion_vector) {
    auto dv = table::LoadDeletionVector(*file.deletion_vector, *snap.store());
    if (!dv.ok()) return WithContext(dv.status(), "deletion vector of '" + display + "'");
    deleted = *dv;
  }
  std::vector<uint64_t> deleted_rows;  // sorted
  if (deleted) {
    deleted_rows.resize(deleted->cardinality());
    deleted->toUint64Array(deleted_rows.data());
  }

  std::optional<arrow::compute::Expression> bound_filter;
  arrow::FieldVector logical_read;
  for (const auto& f : read_fields) logical_read.push_back(f->WithMetadata(nullptr));
  auto read_schema = arrow::schema(logical_read);
  if (options.filter) {
    ARROW_ASSIGN_OR_RAISE(auto e, expr::ToArrow(options.filter, *read_schema));
    ARROW_ASSIGN_OR_RAISE(e, e.Bind(*read_schema));
    bound_filter = e;
  }

  // Row group by row group: row indexes in the physical file are exact (deletion vectors, row
  // ids). Batches are as large as a row group (up to kMaxBatchRows).
  auto read_group = [&](parquet::arrow::FileReader* rg_reader, size_t g,
                        std::vector<std::shared_ptr<arrow::RecordBatch>>* out) -> Status {
    std::shared_ptr<arrow::RecordBatchReader> rb_reader;
    auto rr = rg_reader->GetRecordBatchReader({row_groups[g]}, leaves);
    if (!rr.ok()) {
      return Error(ErrorCode::kCorruptLog, "cannot read data file '", display, "': ", rr.status().message());
    }
    rb_reader = std::move(*rr);
    int64_t row = rg_start[g];
    while (true) {
      std::shared_ptr<arrow::RecordBatch> batch;
      auto st = rb_reader->ReadNext(&batch);
      if (!st.ok()) return Error(ErrorCode::kCorruptLog, "cannot read data file '", display, "': ", st.message());
      if (!batch) break;
      int64_t n = batch->num_rows();
      arrow::ArrayVector cols;
      for (size_t i = 0; i < read_fields.size(); ++i) {
        const auto& lf = read_fields[i];
        if (IsPartitionColumn(snap, lf->name())) {
          ARROW_ASSIGN_OR_RAISE(auto a, PartitionArray(snap, file, *lf, n));
          cols.push_back(a);
          continue;
        }
        auto col = file_names[i].empty() ? nullptr : batch->GetColumnByName(file_names[i]);
        if (!col) {
          ARROW_ASSIGN_OR_RAISE(auto a, arrow::MakeArrayOfNull(lf->type(), n));
          cols.push_back(a);
          continue;
        }
        ARROW_ASSIGN_OR_RAISE(auto a, ToLogical(col, *lf, mode));
        cols.push_back(a);
      }
      std::shared_ptr<arrow::RecordBatch> logical = arrow::RecordBatch::Make(read_schema, n, cols);
      std::shared_ptr<arrow::Int64Array> row_index;
      if (options.with_row_ids || deleted) {
        arrow::Int64Builder b;
        ARROW_RETURN_NOT_OK(b.Reserve(n));
        for (int64_t i = 0; i < n; ++i) b.UnsafeAppend(row + i);
        ARROW_RETURN_NOT_OK(b.Finish(&row_index));
      }
      // Deletion vector and filter, combined into one selection.
      std::shared_ptr<arrow::Array> keep;
      if (deleted) {
        // Every row but the deleted ones in [row, row + n), found by binary search in the sorted
        // deleted rows rather than one bitmap lookup per row.
        auto lo = std::lower_bound(deleted_rows.begin(), deleted_rows.end(), static_cast<uint64_t>(row));
        auto hi = std::lower_bound(lo, deleted_rows.end(), static_cast<uint64_t>(row + n));
        if (lo != hi) {
          ARROW_ASSIGN_OR_RAISE(auto bits, arrow::AllocateBitmap(n));
          arrow::bit_util::SetBitsTo(bits->mutable_data(), 0, n, true);
          for (auto it = lo; it != hi; ++it) {
            arrow::bit_util::ClearBit(bits->mutable_data(), static_cast<int64_t>(*it) - row);
          }
          keep = std::make_shared<arrow::BooleanArray>(n, std::move(bits));
        }
      }
      if (bound_filter) {
        ARROW_ASSIGN_OR_RAISE(auto mask, arrow::compute::ExecuteScalarExpression(*bound_filter, *read_schema, logical));
        std::shared_ptr<arrow::Array> m;
        if (mask.is_scalar()) {
          ARROW_ASSIGN_OR_RAISE(m, arrow::MakeArrayFromScalar(*mask.scalar(), n));
        } else {
          m = mask.make_array();
        }
        if (keep) {
          ARROW_ASSIGN_OR_RAISE(auto both, arrow::compute::And(keep, m));
          keep = both.make_array();
        } else {
          keep = m;
        }
      }
      arrow::ArrayVector final_cols;
      for (const auto& f : out_fields) final_cols.push_back(logical->GetColumnByName(f->name()));
      arrow::FieldVector final_fields;
      for (const auto& f : out_fields) final_fields.push_back(f->WithMetadata(nullptr));
      if (options.with_row_ids) {
        final_cols.push_back(row_index);
        final_fields.push_back(arrow::field(kRowIndexColumn, arrow::int64(), false));
      }
      auto result = arrow::RecordBatch::Make(arrow::schema(final_fields), n, final_cols);
      if (keep) {
        ARROW_ASSIGN_OR_RAISE(auto filtered, arrow::compute::Filter(result, keep));
        result = filtered.record_batch();
      }
      if (result->num_rows() > 0) out->push_back(result);
      row += n;
    }
    return Status::OK();
  };

  std::vector<std::vector<std::shared_ptr<arrow::RecordBatch>>> per_group(row_groups.size());
  const int wanted = options.row_group_parallelism > 0 ? options.row_group_parallelism
                                                      : static_cast<int>(std::thread::hardware_concurrency());
  const int workers = static_cast<int>(std::min<size_t>(row_groups.size(), static_cast<size_t>(std::max(1, wanted))));
  if (workers <= 1) {
    for (size_t g = 0; g < row_groups.size(); ++g) ARROW_RETURN_NOT_OK(read_group(reader.get(), g, &per_group[g]));
  } else {
    // Each worker has its own Parquet reader over the same file and footer (Parquet readers are
    // not shared between threads; positional reads of one file are), and takes the next group.
    std::atomic<size_t> next{0};
    std::vector<Status> errors(static_cast<size_t>(workers));
    auto work = [&](int w) {
      std::unique_ptr<parquet::arrow::FileReader> own;
      parquet::arrow::FileReader* r = reader.get();
      if (w > 0) {
        parquet::arrow::FileReaderBuilder b;
        Status st = b.Open(input, reader_props, metadata);
        if (st.ok()) {
          auto built = b.properties(props)->memory_pool(DataMemoryPool())->Build();
          if (built.ok()) own = std::move(*built); else st = built.status();
        }
        if (!st.ok()) {
          errors[static_cast<size_t>(w)] = Error(ErrorCode::kCorruptLog, "cannot read data file '", display, "': ", st.message());
          return;
        }
        r = own.get();
      }
      for (size_t g = next++; g < row_groups.size(); g = next++) {
        Status st = read_group(r, g, &per_group[g]);
        if (!st.ok()) {
          errors[static_cast<size_t>(w)] = st;
          next = row_groups.size();
          return;
        }
      }
    };
    std::vector<std::thread> threads;
    for (int w = 1; w < workers; ++w) threads.emplace_back(work, w);
    work(0);
    for (auto& t : threads) t.join();
    for (const auto& st : errors) ARROW_RETURN_NOT_OK(st);
  }
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  for (auto& batches : per_group) {
    for (auto& batch : batches) out.push_back(std::move(batch));
  }
  return out;
}

namespace {

/// Reads planned files with bounded concurrency and hands batches out in file order.
class SnapshotReader : public arrow::RecordBatchReader {
 public:
  SnapshotReader(table::SnapshotPtr snap, ScanOptions options, ScanPlan plan)
      : snap_(std::move(snap)), options_(std::move(options)), plan_(std::move(plan)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return plan_.output_schema; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    while (true) {
      if (pos_ < current_.size()) {
        *out = current_[pos_++];
        return Status::OK();
      }
      Fill();
      if (pending_.empty()) {
        *out = nullptr;
        return Status::OK();
      }
      auto result = pending_.front().get();
      pending_.pop_front();
      if (!result.ok()) {
        Drain();
        return result.status();
      }
      current_ = std::move(*result);
      pos_ = 0;
    }
  }

  arrow::Status Close() override {
    Drain();
    return Status::OK();
  }
  ~SnapshotReader() override { Drain(); }

 private:
  void Fill() {
    int window = std::max(1, options_.file_parallelism);
    while (static_cast<int>(pending_.size()) < window && next_file_ < plan_.files.size()) {
      const AddFile* f = plan_.files[next_file_++];
      pending_.push_back(std::async(std::launch::async, [this, f] { return ReadFile(*snap_, *f, options_); }));
    }
  }
  void Drain() {
    for (auto& p : pending_) p.wait();
    pending_.clear();
    next_file_ = plan_.files.size();
  }

  table::SnapshotPtr snap_;
  ScanOptions options_;
  ScanPlan plan_;
  size_t next_file_ = 0;
  std::deque<std::future<Result<std::vector<std::shared_ptr<arrow::RecordBatch>>>>> pending_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> current_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::shared_ptr<arrow::RecordBatchReader>> Scan(table::SnapshotPtr snapshot, ScanOptions options) {
  ARROW_ASSIGN_OR_RAISE(auto plan, PlanScan(*snapshot, options));
  return std::make_shared<SnapshotReader>(std::move(snapshot), std::move(options), std::move(plan));
}

Result<std::shared_ptr<arrow::Table>> ScanToTable(table::SnapshotPtr snapshot, ScanOptions options) {
  ARROW_ASSIGN_OR_RAISE(auto reader, Scan(std::move(snapshot), std::move(options)));
  return reader->ToTable();
}

}  // namespace strata::exec
