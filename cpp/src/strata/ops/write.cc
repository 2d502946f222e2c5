#include "strata/ops/write.h"
#include "strata/ops/run_observer.h"
#include "strata/ops/validator.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include <arrow/array.h>
#include <arrow/compute/api.h>
#include <arrow/compute/row/grouper.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/io/interfaces.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <arrow/util/byte_size.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include "strata/common/memory_pool.h"
#include "strata/exec/scan.h"
#include "strata/ops/write_internal.h"
#include "strata/expr/expr.h"
#include "strata/table/json_util.h"
#include "strata/table/partition.h"
#include "strata/table/pruning.h"
#include "strata/table/snapshot.h"
#include "strata/table/stats.h"

namespace strata::ops {

namespace {
// Arrow's compute kernels live in libarrow_compute and must be registered once per process.
const bool kComputeReady = arrow::compute::Initialize().ok();
}  // namespace

using table::AddFile;
using table::ColumnMappingMode;
using table::Metadata;
using table::Protocol;
using table::RemoveFile;

namespace internal {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

int FindColumn(const arrow::Schema& s, const std::string& name) {
  int exact = s.GetFieldIndex(name);
  if (exact >= 0) return exact;
  for (int i = 0; i < s.num_fields(); ++i) {
    if (Lower(s.field(i)->name()) == Lower(name)) return i;
  }
  return -1;
}

}  // namespace internal

using internal::FindColumn;
using internal::Lower;

namespace {

// ---- conforming data to the table schema ---------------------------------------------------

Result<std::shared_ptr<arrow::Array>> Conform(const std::shared_ptr<arrow::Array>& arr,
                                              const std::shared_ptr<arrow::Field>& target, const std::string& path);

Result<std::shared_ptr<arrow::Array>> ConformStruct(const std::shared_ptr<arrow::StructArray>& st,
                                                    const arrow::StructType& target, const std::string& path) {
  arrow::ArrayVector children;
  arrow::FieldVector fields;
  arrow::Schema src(st->struct_type()->fields());
  for (const auto& tf : target.fields()) {
    int idx = FindColumn(src, tf->name());
    std::shared_ptr<arrow::Array> child;
    if (idx < 0) {
      ARROW_ASSIGN_OR_RAISE(child, arrow::MakeArrayOfNull(tf->type(), st->length()));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto raw, st->GetFlattenedField(idx));
      ARROW_ASSIGN_OR_RAISE(child, Conform(raw, tf, path + "." + tf->name()));
    }
    children.push_back(child);
    fields.push_back(tf);
  }
  std::shared_ptr<arrow::Buffer> validity;
  if (st->null_count() > 0) {
    ARROW_ASSIGN_OR_RAISE(validity, arrow::AllocateBitmap(st->length()));
    for (int64_t i = 0; i < st->length(); ++i) arrow::bit_util::SetBitTo(validity->mutable_data(), i, st->IsValid(i));
  }
  return arrow::StructArray::Make(children, fields, validity);
}

Result<std::shared_ptr<arrow::Array>> Conform(const std::shared_ptr<arrow::Array>& arr,
                                              const std::shared_ptr<arrow::Field>& target, const std::string& path) {
  const auto& tt = target->type();
  if (arr->type()->Equals(*tt)) return arr;
  if (tt->id() == arrow::Type::STRUCT && arr->type_id() == arrow::Type::STRUCT) {
    return ConformStruct(std::static_pointer_cast<arrow::StructArray>(arr), static_cast<const arrow::StructType&>(*tt), path);
  }
  auto casted = arrow::compute::Cast(*arr, tt, arrow::compute::CastOptions::Safe(tt));
  if (!casted.ok()) {
    return Error(ErrorCode::kSchemaMismatch, "column '", path, "' has type ", arr->type()->ToString(),
                 " in the data and cannot be stored as ", tt->ToString(), ": ", casted.status().message());
  }
  return *casted;
}

}  // namespace

namespace internal {

Result<std::shared_ptr<arrow::RecordBatch>> ConformBatch(const arrow::RecordBatch& batch,
                                                             const std::shared_ptr<arrow::Schema>& table_schema) {
  arrow::ArrayVector cols;
  arrow::FieldVector fields;
  for (const auto& tf : table_schema->fields()) {
    int idx = FindColumn(*batch.schema(), tf->name());
    std::shared_ptr<arrow::Array> col;
    if (idx < 0) {
      ARROW_ASSIGN_OR_RAISE(col, arrow::MakeArrayOfNull(tf->type(), batch.num_rows()));
    } else {
      ARROW_ASSIGN_OR_RAISE(col, Conform(batch.column(idx), tf, tf->name()));
    }
    if (!tf->nullable() && col->null_count() > 0) {
      int64_t row = 0;
      while (row < col->length() && col->IsValid(row)) ++row;
      return Error(ErrorCode::kSchemaMismatch, "column '", tf->name(), "' is NOT NULL but row ", row,
                   " of the data is null");
    }
    cols.push_back(col);
    fields.push_back(tf->WithMetadata(nullptr));
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), batch.num_rows(), cols);
}

}  // namespace internal

namespace {

// ---- constraints, invariants, generated columns ---------------------------------------------

using internal::Check;
using internal::CollectChecks;
using internal::ConformBatch;
using internal::ProtocolFor;
using internal::RunChecks;
using internal::ValidateConfiguration;
using internal::AssignColumnMapping;
using internal::KeepFieldMetadata;

}  // namespace

namespace internal {

Result<std::vector<Check>> CollectChecks(const arrow::Schema& schema,
                                             const std::map<std::string, std::string>& conf) {
  std::vector<Check> out;
  for (const auto& [k, v] : conf) {
    if (k.rfind("delta.constraints.", 0) == 0) {
      Check c{"CHECK constraint '" + k.substr(18) + "'", v, nullptr};
      auto node = expr::Parse(v);
      if (!node.ok()) return WithContext(node.status(), "table " + c.name);
      c.node = *node;
      out.push_back(std::move(c));
    }
  }
  for (const auto& f : schema.fields()) {
    if (!f->metadata()) continue;
    auto inv = f->metadata()->Get("delta.invariants");
    if (inv.ok()) {
      // Stored as a JSON string holding {"expression": {"expression": "<sql>"}}.
      table::internal::JsonDocument d1, d2;
      std::string raw = *inv;
      if (table::internal::ParseJson(&d1, raw) && d1.IsString()) raw = std::string(table::internal::View(d1));
      const table::internal::JsonValue* outer = nullptr;
      if (table::internal::ParseJson(&d2, raw)) outer = table::internal::Field(d2, "expression");
      auto sql_opt = outer ? table::internal::OptString(*outer, "expression") : std::nullopt;
      if (sql_opt) {
        std::string sql = *sql_opt;
        auto node = expr::Parse(sql);
        if (!node.ok()) return WithContext(node.status(), "invariant on column '" + f->name() + "'");
        out.push_back(Check{"invariant on column '" + f->name() + "'", std::string(sql), *node});
      }
    }
    auto gen = f->metadata()->Get("delta.generationExpression");
    if (gen.ok()) {
      table::internal::JsonDocument d;
      std::string text = *gen;
      if (table::internal::ParseJson(&d, text) && d.IsString()) text = std::string(table::internal::View(d));
      // PROTOCOL.md "Generated Columns": (<value> <=> <generation expression>) IS TRUE.
      std::string check = "`" + f->name() + "` <=> (" + text + ")";
      auto node = expr::Parse(check);
      if (!node.ok()) return WithContext(node.status(), "generation expression of column '" + f->name() + "'");
      out.push_back(Check{"generated column '" + f->name() + "'", text, *node});
    }
  }
  return out;
}

Status RunChecks(const std::vector<Check>& checks, const std::shared_ptr<arrow::RecordBatch>& batch_ptr) {
  const arrow::RecordBatch& batch = *batch_ptr;
  for (const auto& c : checks) {
    ARROW_ASSIGN_OR_RAISE(auto m, expr::Evaluate(c.node, batch_ptr));
    const auto& b = static_cast<const arrow::BooleanArray&>(*m);
    for (int64_t i = 0; i < b.length(); ++i) {
      if (b.IsNull(i) || !b.Value(i)) {
        ARROW_ASSIGN_OR_RAISE(auto row, batch.Slice(i, 1)->ToStructArray());
        ARROW_ASSIGN_OR_RAISE(auto scalar, row->GetScalar(0));
        return Error(ErrorCode::kExpectationFailed, c.name, " (", c.sql, ") is violated by row ", i, ": ",
                     scalar->ToString());
      }
    }
  }
  return Status::OK();
}

// ---- protocol and column mapping -------------------------------------------------------------

}  // namespace internal

namespace {

bool HasTypeChanges(const arrow::FieldVector& fields) {
  for (const auto& f : fields) {
    if (f->metadata() && f->metadata()->Contains("delta.typeChanges")) return true;
    if (HasTypeChanges(f->type()->fields())) return true;
  }
  return false;
}

bool HasNtz(const arrow::DataType& t) {
  if (t.id() == arrow::Type::TIMESTAMP) return static_cast<const arrow::TimestampType&>(t).timezone().empty();
  for (const auto& f : t.fields()) {
    if (HasNtz(*f->type())) return true;
  }
  return false;
}

const std::set<std::string>& KnownProperties() {
  static const std::set<std::string> k = {
      "delta.appendOnly", "delta.enableDeletionVectors", "delta.enableChangeDataFeed",
      "delta.columnMapping.mode", "delta.columnMapping.maxColumnId", "delta.checkpointInterval",
      "delta.logRetentionDuration", "delta.deletedFileRetentionDuration", "delta.dataSkippingNumIndexedCols",
      "delta.dataSkippingStatsColumns", "delta.enableInCommitTimestamps", "delta.checkpoint.writeStatsAsJson",
      "delta.checkpoint.writeStatsAsStruct", "delta.parquet.compression.codec", "delta.minReaderVersion",
      "delta.minWriterVersion", "delta.isolationLevel", "delta.targetFileSize", "delta.tuneFileSizesForRewrites",
      "delta.randomizeFilePrefixes", "delta.setTransactionRetentionDuration", "delta.checkpointPolicy",
      "delta.enableExpiredLogCleanup", "delta.autoOptimize.optimizeWrite", "delta.autoOptimize.autoCompact",
      "delta.enableTypeWidening", "delta.parquet.format.version"};
  return k;
}

}  // namespace

namespace internal {

Status ValidateConfiguration(const std::map<std::string, std::string>& conf) {
  for (const auto& [k, v] : conf) {
    if (k.rfind("delta.", 0) != 0) continue;  // user properties are free-form
    if (k.rfind("delta.constraints.", 0) == 0) {
      ARROW_RETURN_NOT_OK(WithContext(expr::Parse(v).status(), "table property " + k));
      continue;
    }
    if (!KnownProperties().count(k)) {
      return Error(ErrorCode::kInvalidArgument, "unknown table property '", k, "'");
    }
    bool boolean = k == "delta.appendOnly" || k == "delta.enableDeletionVectors" ||
                   k == "delta.enableChangeDataFeed" || k == "delta.enableInCommitTimestamps";
    if (boolean && v != "true" && v != "false") {
      return Error(ErrorCode::kInvalidArgument, "table property ", k, " must be true or false, not '", v, "'");
    }
    if (k == "delta.columnMapping.mode") ARROW_RETURN_NOT_OK(table::ParseColumnMappingMode(v).status());
    if (k == "delta.checkpointInterval" && std::atoll(v.c_str()) <= 0) {
      return Error(ErrorCode::kInvalidArgument, "delta.checkpointInterval must be a positive integer, not '", v, "'");
    }
  }
  return Status::OK();
}

Protocol ProtocolFor(const arrow::Schema& schema, const std::map<std::string, std::string>& conf,
                     const std::vector<Check>& checks, const Protocol* base) {
  auto on = [&](const char* k) {
    auto it = conf.find(k);
    return it != conf.end() && it->second == "true";
  };
  std::set<std::string> reader, writer;
  int legacy_writer = 2, legacy_reader = 1;
  bool needs_features = false;
  writer.insert("appendOnly");
  writer.insert("invariants");
  bool constraints = false, generated = false;
  for (const auto& c : checks) {
    constraints |= c.name.rfind("CHECK", 0) == 0;
    generated |= c.name.rfind("generated", 0) == 0;
  }
  if (constraints) {
    writer.insert("checkConstraints");
    legacy_writer = std::max(legacy_writer, 3);
  }
  if (generated) {
    writer.insert("generatedColumns");
    legacy_writer = std::max(legacy_writer, 4);
  }
  if (on("delta.enableChangeDataFeed")) {
    writer.insert("changeDataFeed");
    legacy_writer = std::max(legacy_writer, 4);
  }
  auto cm = conf.find("delta.columnMapping.mode");
  if (cm != conf.end() && cm->second != "none") {
    reader.insert("columnMapping");
    writer.insert("columnMapping");
    legacy_writer = std::max(legacy_writer, 5);
    legacy_reader = 2;
  }
  if (HasNtz(*arrow::struct_(schema.fields()))) {
    reader.insert("timestampNtz");
    writer.insert("timestampNtz");
    needs_features = true;
  }
  if (HasTypeChanges(schema.fields())) {
    reader.insert("typeWidening");
    writer.insert("typeWidening");
    needs_features = true;
  }
  if (on("delta.enableDeletionVectors")) {
    reader.insert("deletionVectors");
    writer.insert("deletionVectors");
    needs_features = true;
  }
  if (on("delta.enableInCommitTimestamps")) {
    writer.insert("inCommitTimestamp");
    needs_features = true;
  }
  if (base && base->min_writer_version == 7) needs_features = true;
  if (base && base->writer_features) writer.insert(base->writer_features->begin(), base->writer_features->end());
  if (base && base->reader_features) reader.insert(base->reader_features->begin(), base->reader_features->end());
  Protocol p;
  if (!needs_features) {
    p.min_reader_version = std::max(legacy_reader, base ? base->min_reader_version : 1);
    p.min_writer_version = std::max(legacy_writer, base ? base->min_writer_version : 2);
    return p;
  }
  p.min_writer_version = 7;
  p.writer_features = std::vector<std::string>(writer.begin(), writer.end());
  if (!reader.empty() || (base && base->min_reader_version == 3)) {
    p.min_reader_version = 3;
    p.reader_features = std::vector<std::string>(reader.begin(), reader.end());
  } else {
    p.min_reader_version = std::max(legacy_reader, base ? base->min_reader_version : 1);
  }
  return p;
}

/// Gives every field without one a physical name and id (PROTOCOL.md "Writer Requirements for
/// Column Mapping"), updating delta.columnMapping.maxColumnId.
Result<std::shared_ptr<arrow::Schema>> AssignColumnMapping(const arrow::Schema& schema,
                                                           std::map<std::string, std::string>* conf) {
  int64_t max_id = std::atoll((*conf)["delta.columnMapping.maxColumnId"].c_str());
  std::function<std::shared_ptr<arrow::Field>(const std::shared_ptr<arrow::Field>&)> assign;
  assign = [&](const std::shared_ptr<arrow::Field>& f) -> std::shared_ptr<arrow::Field> {
    auto type = f->type();
    if (type->id() == arrow::Type::STRUCT) {
      arrow::FieldVector children;
      for (const auto& c : type->fields()) children.push_back(assign(c));
      type = arrow::struct_(children);
    }
    auto md = f->metadata() ? f->metadata()->Copy() : std::make_shared<arrow::KeyValueMetadata>();
    if (!md->Contains(table::kFieldIdKey)) md->Append(table::kFieldIdKey, std::to_string(++max_id));
    if (!md->Contains(table::kPhysicalNameKey)) {
      md->Append(table::kPhysicalNameKey, "\"col-" + table::NewUuid() + "\"");
    }
    return arrow::field(f->name(), type, f->nullable(), md);
  };
  arrow::FieldVector fields;
  for (const auto& f : schema.fields()) fields.push_back(assign(f));
  (*conf)["delta.columnMapping.maxColumnId"] = std::to_string(max_id);
  return arrow::schema(fields);
}

/// Copies Delta column metadata (mapping, constraints) from the old schema into a reconciled one.
std::shared_ptr<arrow::Schema> KeepFieldMetadata(const arrow::Schema& old_schema, const arrow::Schema& merged) {
  std::function<std::shared_ptr<arrow::Field>(const std::shared_ptr<arrow::Field>&, const arrow::Field*)> keep;
  keep = [&](const std::shared_ptr<arrow::Field>& f, const arrow::Field* old) -> std::shared_ptr<arrow::Field> {
    if (!old) return f;
    auto type = f->type();
    if (type->id() == arrow::Type::STRUCT && old->type()->id() == arrow::Type::STRUCT) {
      arrow::FieldVector children;
      arrow::Schema old_children(old->type()->fields());
      for (const auto& c : type->fields()) {
        int idx = FindColumn(old_children, c->name());
        children.push_back(keep(c, idx >= 0 ? old_children.field(idx).get() : nullptr));
      }
      type = arrow::struct_(children);
    }
    auto md = old->metadata();
    bool primitive_change = f->type()->id() != arrow::Type::STRUCT && !f->type()->Equals(*old->type());
    if (primitive_change) {
      // PROTOCOL.md "Type Widening": the change is recorded in the field's delta.typeChanges.
      auto from = table::TypeToJson(*old->type());
      auto to = table::TypeToJson(*f->type());
      if (from.ok() && to.ok()) {
        std::string entry = "{\"fromType\":" + *from + ",\"toType\":" + *to + "}";
        std::string list = "[" + entry + "]";
        auto m = md ? md->Copy() : std::make_shared<arrow::KeyValueMetadata>();
        auto existing = m->Get("delta.typeChanges");
        if (existing.ok() && existing->size() > 2) {
          list = existing->substr(0, existing->size() - 1) + "," + entry + "]";
          (void)m->Delete("delta.typeChanges");
        }
        m->Append("delta.typeChanges", list);
        md = m;
      }
    }
    return arrow::field(f->name(), type, f->nullable(), md);
  };
  arrow::FieldVector fields;
  for (const auto& f : merged.fields()) {
    int idx = FindColumn(old_schema, f->name());
    fields.push_back(keep(f, idx >= 0 ? old_schema.field(idx).get() : nullptr));
  }
  return arrow::schema(fields);
}

}  // namespace internal

namespace {

// ---- data files -------------------------------------------------------------------------------

/// The physical Arrow field for a logical one: physical names, field ids, recursively.
std::shared_ptr<arrow::Field> PhysicalField(const std::shared_ptr<arrow::Field>& f, ColumnMappingMode mode) {
  auto type = f->type();
  if (type->id() == arrow::Type::STRUCT) {
    arrow::FieldVector children;
    for (const auto& c : type->fields()) children.push_back(PhysicalField(c, mode));
    type = arrow::struct_(children);
  }
  std::shared_ptr<arrow::KeyValueMetadata> md;
  if (mode != ColumnMappingMode::kNone) {
    if (auto id = table::FieldId(*f)) md = arrow::key_value_metadata({"PARQUET:field_id"}, {std::to_string(*id)});
  }
  return arrow::field(table::PhysicalName(*f, mode), type, f->nullable(), md);
}

parquet::Compression::type CodecFor(const std::string& name) {
  std::string n = Lower(name);
  if (n == "zstd") return parquet::Compression::ZSTD;
  if (n == "gzip") return parquet::Compression::GZIP;
  if (n == "lz4_raw" || n == "lz4") return parquet::Compression::LZ4;
  if (n == "uncompressed" || n == "none") return parquet::Compression::UNCOMPRESSED;
  return parquet::Compression::SNAPPY;
}

std::string CodecSuffix(parquet::Compression::type c) {
  switch (c) {
    case parquet::Compression::ZSTD: return ".zstd";
    case parquet::Compression::GZIP: return ".gz";
    case parquet::Compression::LZ4: return ".lz4";
    case parquet::Compression::UNCOMPRESSED: return "";
    default: return ".snappy";
  }
}

class FileSink {
 public:
  Status Open(storage::ObjectStore& store, const FileWriteSpec& spec, const std::shared_ptr<arrow::Schema>& physical,
              const std::string& dir, int index, int64_t row_group_rows, const std::vector<std::string>& plain) {
    auto codec = CodecFor(spec.compression);
    rel_path_ = spec.dir_prefix + dir + spec.file_prefix + std::string(5 - std::min<size_t>(5, std::to_string(index).size()), '0') +
                std::to_string(index) + "-" + table::NewUuid() + "-c000" + CodecSuffix(codec) + ".parquet";
    std::string full = store.FsPath(rel_path_);
    ARROW_RETURN_NOT_OK(store.filesystem()->CreateDir(full.substr(0, full.rfind('/')), /*recursive=*/true));
    ARROW_ASSIGN_OR_RAISE(out_, store.filesystem()->OpenOutputStream(full));
    parquet::WriterProperties::Builder builder;
    builder.compression(codec)->max_row_group_length(row_group_rows)->memory_pool(DataMemoryPool());
    for (const auto& c : plain) builder.disable_dictionary(c);
    auto props = builder.build();
    auto arrow_props = parquet::ArrowWriterProperties::Builder()
                           .set_use_threads(true)
                           ->store_schema()
                           ->build();
    ARROW_ASSIGN_OR_RAISE(writer_, parquet::arrow::FileWriter::Open(*physical, DataMemoryPool(), out_,
                                                                    props, arrow_props));
    physical_ = physical;
    return Status::OK();
  }
  /// Appends rows. The Parquet writer buffers them and flushes a row group (encoding columns in
  /// parallel) each time `row_group_rows` (the file's max_row_group_length) is reached.
  Status Write(const std::shared_ptr<arrow::RecordBatch>& b) {
    rows_ += b->num_rows();
    return writer_->WriteRecordBatch(*b);
  }
  Result<int64_t> Tell() { return out_->Tell(); }
  int64_t rows() const { return rows_; }
  Result<AddFile> Close(const table::PartitionValues& pv, int num_indexed_cols) {
    ARROW_RETURN_NOT_OK(writer_->Close());
    ARROW_ASSIGN_OR_RAISE(int64_t size, out_->Tell());
    ARROW_RETURN_NOT_OK(out_->Close());
    AddFile a;
    a.path = table::EncodePath(rel_path_);
    a.partition_values = pv;
    a.size = size;
    a.modification_time = table::NowMs();
    a.data_change = true;
    // Statistics come from the footer the Parquet writer just produced: no second pass.
    ARROW_ASSIGN_OR_RAISE(auto stats, table::StatsJsonFromParquet(*writer_->metadata(), num_indexed_cols));
    a.stats = std::move(stats);
    return a;
  }

 private:
  std::string rel_path_;
  std::shared_ptr<arrow::io::OutputStream> out_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  std::shared_ptr<arrow::Schema> physical_;
  int64_t rows_ = 0;
};

/// Top-level columns whose values are mostly distinct in a sample of `batch`: the Parquet writer
/// would build a dictionary for each of their pages only to abandon it (its fallback to plain
/// encoding happens once the dictionary outgrows its limit), which costs more than the encoding
/// itself; they are written plain from the start. Columns with repeats keep dictionaries.
std::vector<std::string> MostlyDistinctColumns(const arrow::RecordBatch& batch) {
  constexpr int64_t kSample = 16384;
  std::vector<std::string> out;
  auto sample = batch.Slice(0, std::min<int64_t>(kSample, batch.num_rows()));
  for (int i = 0; i < sample->num_columns(); ++i) {
    const auto& col = sample->column(i);
    auto id = col->type_id();
    bool primitive = arrow::is_integer(id) || arrow::is_floating(id) || arrow::is_base_binary_like(id) ||
                     id == arrow::Type::TIMESTAMP || arrow::is_decimal(id);
    int64_t values = col->length() - col->null_count();
    if (!primitive || values < 1024) continue;
    auto distinct = arrow::compute::CallFunction("count_distinct", {col});
    if (!distinct.ok()) continue;
    int64_t n = std::static_pointer_cast<arrow::Int64Scalar>(distinct->scalar())->value;
    if (n * 2 > values) out.push_back(sample->schema()->field(i)->name());
  }
  return out;
}

/// Splits a batch by partition values: (values, rows) per distinct key.
Result<std::vector<std::pair<table::PartitionValues, std::shared_ptr<arrow::RecordBatch>>>> SplitByPartition(
    const std::shared_ptr<arrow::RecordBatch>& batch, const FileWriteSpec& spec) {
  std::vector<std::pair<table::PartitionValues, std::shared_ptr<arrow::RecordBatch>>> out;
  if (spec.partition_columns.empty()) {
    out.emplace_back(table::PartitionValues{}, batch);
    return out;
  }
  std::vector<arrow::TypeHolder> key_types;
  std::vector<arrow::compute::ExecValue> key_values;
  arrow::ArrayVector keys;
  for (const auto& pc : spec.partition_columns) {
    auto col = batch->GetColumnByName(pc);
    if (!col) return Error(ErrorCode::kSchemaMismatch, "partition column '", pc, "' is missing from the data");
    keys.push_back(col);
    key_types.emplace_back(col->type());
  }
  ARROW_ASSIGN_OR_RAISE(auto grouper, arrow::compute::Grouper::Make(key_types));
  arrow::compute::ExecBatch eb(std::vector<arrow::Datum>(keys.begin(), keys.end()), batch->num_rows());
  ARROW_ASSIGN_OR_RAISE(auto ids, grouper->Consume(arrow::compute::ExecSpan(eb)));
  ARROW_ASSIGN_OR_RAISE(auto groupings, arrow::compute::Grouper::MakeGroupings(
                                            *ids.array_as<arrow::UInt32Array>(), grouper->num_groups()));
  for (uint32_t g = 0; g < grouper->num_groups(); ++g) {
    auto indices = groupings->value_slice(g);
    ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(batch, indices));
    auto part = taken.record_batch();
    table::PartitionValues pv;
    for (size_t k = 0; k < spec.partition_columns.size(); ++k) {
      const auto& pc = spec.partition_columns[k];
      ARROW_ASSIGN_OR_RAISE(auto scalar, part->GetColumnByName(pc)->GetScalar(0));
      ARROW_ASSIGN_OR_RAISE(auto s, table::SerializePartitionValue(*scalar));
      int fi = spec.table_schema->GetFieldIndex(pc);
      pv[table::PhysicalName(*spec.table_schema->field(fi), spec.mapping)] = s;
    }
    out.emplace_back(std::move(pv), part);
  }
  return out;
}

}  // namespace

namespace internal {

Result<std::shared_ptr<arrow::BooleanArray>> EvaluatePredicate(const expr::NodePtr& predicate,
                                                               const std::shared_ptr<arrow::RecordBatch>& batch) {
  if (!predicate) {
    ARROW_ASSIGN_OR_RAISE(auto all, arrow::MakeArrayFromScalar(arrow::BooleanScalar(true), batch->num_rows()));
    return std::static_pointer_cast<arrow::BooleanArray>(all);
  }
  ARROW_ASSIGN_OR_RAISE(auto m, expr::Evaluate(predicate, batch));
  ARROW_ASSIGN_OR_RAISE(auto filled, arrow::compute::CallFunction("coalesce", {m, arrow::Datum(false)}));
  return std::static_pointer_cast<arrow::BooleanArray>(filled.make_array());
}

}  // namespace internal

struct DataFileWriter::Impl {
  struct Open {
    std::unique_ptr<FileSink> sink;
    table::PartitionValues pv;
    std::string dir;
  };
  storage::ObjectStore* store;
  FileWriteSpec spec;
  std::vector<int> data_cols;
  std::shared_ptr<arrow::Schema> physical;
  std::unordered_map<std::string, Open> open;
  std::vector<AddFile> adds;
  double est_bytes_per_row = -1;
  int file_index = 0;
  std::optional<std::vector<std::string>> plain;  // decided from the first rows

  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) {
    ARROW_ASSIGN_OR_RAISE(auto parts, SplitByPartition(batch, spec));
    for (auto& [pv, part] : parts) {
      std::vector<std::string> phys_partition_cols;
      for (const auto& pc : spec.partition_columns) {
        phys_partition_cols.push_back(
            table::PhysicalName(*spec.table_schema->field(spec.table_schema->GetFieldIndex(pc)), spec.mapping));
      }
      std::string dir = table::HivePartitionDir(phys_partition_cols, pv);
      auto& slot = open[dir];
      arrow::ArrayVector cols;
      for (int i : data_cols) cols.push_back(part->column(i));
      auto phys_batch = arrow::RecordBatch::Make(physical, part->num_rows(), cols);
      // Row groups are sized so that a file holds about four of them at the target size
      // (compressed bytes per row are guessed from the data, then learned from what is
      // flushed); files roll over at row-group boundaries.
      if (est_bytes_per_row <= 0 && phys_batch->num_rows() > 0) {
        est_bytes_per_row = std::max(1.0, static_cast<double>(arrow::util::TotalBufferSize(*phys_batch)) /
                                              static_cast<double>(phys_batch->num_rows()) / 4.0);
      }
      auto rg_rows_now = [&] {
        return std::clamp<int64_t>(
            static_cast<int64_t>(static_cast<double>(spec.target_file_size) / 4.0 / est_bytes_per_row), 1024,
            spec.row_group_rows);
      };
      if (!plain) plain = MostlyDistinctColumns(*phys_batch);
      if (!slot.sink) {
        slot.sink = std::make_unique<FileSink>();
        slot.pv = pv;
        slot.dir = dir;
        ARROW_RETURN_NOT_OK(slot.sink->Open(*store, spec, physical, dir, file_index++, rg_rows_now(), *plain));
      }
      int64_t rg_rows = rg_rows_now();
      for (int64_t off = 0; off < phys_batch->num_rows(); off += rg_rows) {
        ARROW_RETURN_NOT_OK(slot.sink->Write(phys_batch->Slice(off, rg_rows)));
        ARROW_ASSIGN_OR_RAISE(int64_t pos, slot.sink->Tell());
        if (pos >= spec.target_file_size) {
          int64_t file_rows = slot.sink->rows();
          ARROW_ASSIGN_OR_RAISE(auto add, slot.sink->Close(slot.pv, spec.num_indexed_cols));
          est_bytes_per_row = std::max(1.0, static_cast<double>(add.size) / static_cast<double>(file_rows));
          adds.push_back(std::move(add));
          slot.sink = std::make_unique<FileSink>();
          ARROW_RETURN_NOT_OK(slot.sink->Open(*store, spec, physical, dir, file_index++, rg_rows_now(), *plain));
        }
      }
    }
    return Status::OK();
  }

  Result<std::vector<AddFile>> Finish() {
    for (auto& [dir, slot] : open) {
      if (slot.sink && slot.sink->rows() > 0) {
        ARROW_ASSIGN_OR_RAISE(auto add, slot.sink->Close(slot.pv, spec.num_indexed_cols));
        adds.push_back(std::move(add));
      } else if (slot.sink) {
        // An empty trailing file after a rollover: close it and do not reference it.
        (void)slot.sink->Close(slot.pv, spec.num_indexed_cols);
      }
      slot.sink.reset();
    }
    open.clear();
    return std::move(adds);
  }
};

DataFileWriter::DataFileWriter(storage::ObjectStore& store, const FileWriteSpec& spec) : impl_(new Impl) {
  impl_->store = &store;
  impl_->spec = spec;
  // Physical schema: data columns only (partition values live in the log), physical names.
  arrow::FieldVector physical_fields;
  for (int i = 0; i < spec.table_schema->num_fields(); ++i) {
    const auto& f = spec.table_schema->field(i);
    if (std::find(spec.partition_columns.begin(), spec.partition_columns.end(), f->name()) !=
        spec.partition_columns.end()) {
      continue;
    }
    impl_->data_cols.push_back(i);
    physical_fields.push_back(PhysicalField(f, spec.mapping));
  }
  impl_->physical = arrow::schema(physical_fields);
}

DataFileWriter::~DataFileWriter() = default;

Status DataFileWriter::Write(const std::shared_ptr<arrow::RecordBatch>& batch) { return impl_->Write(batch); }

Result<std::vector<AddFile>> DataFileWriter::Finish() { return impl_->Finish(); }

Result<std::vector<AddFile>> WriteDataFiles(storage::ObjectStore& store, const FileWriteSpec& spec,
                                            const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches) {
  DataFileWriter writer(store, spec);
  for (const auto& b : batches) ARROW_RETURN_NOT_OK(writer.Write(b));
  return writer.Finish();
}

Result<WriteMode> ParseWriteMode(const std::string& mode) {
  if (mode == "append") return WriteMode::kAppend;
  if (mode == "overwrite") return WriteMode::kOverwrite;
  if (mode == "error" || mode == "errorifexists") return WriteMode::kErrorIfExists;
  if (mode == "ignore") return WriteMode::kIgnore;
  return Error(ErrorCode::kInvalidArgument, "unknown write mode '", mode,
               "' (expected append, overwrite, error or ignore)");
}

Result<table::SchemaMode> ParseSchemaMode(const std::string& mode) {
  if (mode.empty() || mode == "strict") return table::SchemaMode::kStrict;
  if (mode == "merge") return table::SchemaMode::kMerge;
  if (mode == "overwrite") return table::SchemaMode::kOverwrite;
  return Error(ErrorCode::kInvalidArgument, "unknown schema_mode '", mode, "' (expected merge or overwrite)");
}

namespace {

Result<WriteResult> WriteTableRun(std::shared_ptr<storage::ObjectStore> store,
                                  std::shared_ptr<arrow::RecordBatchReader> data, const WriteOptions& options,
                                  RunTracker& run) {
  WriteResult result;
  // An append needs the table's protocol and metadata, not its file list.
  bool overwrite_mode = options.mode == WriteMode::kOverwrite;
  auto loaded = table::Snapshot::Load(store, std::nullopt, /*with_files=*/overwrite_mode);
  table::SnapshotPtr snap;
  if (loaded.ok()) {
    snap = *loaded;
  } else if (!HasCode(loaded.status(), ErrorCode::kNotATable)) {
    return loaded.status();
  }
  if (snap && options.mode == WriteMode::kErrorIfExists) {
    return Error(ErrorCode::kInvalidArgument, "table '", store->root(), "' already exists (mode=error)");
  }
  if (snap && options.mode == WriteMode::kIgnore) return result;
  bool overwrite = options.mode == WriteMode::kOverwrite;
  if (options.schema_mode == table::SchemaMode::kOverwrite && !overwrite) {
    return Error(ErrorCode::kInvalidArgument, "schema_mode=\"overwrite\" needs mode=\"overwrite\"");
  }
  if (!options.replace_where.empty() && !overwrite) {
    return Error(ErrorCode::kInvalidArgument, "replace_where needs mode=\"overwrite\"");
  }

  auto data_schema = data->schema();
  std::vector<table::Action> actions;
  std::map<std::string, std::string> conf = options.configuration;
  ARROW_RETURN_NOT_OK(ValidateConfiguration(conf));
  std::shared_ptr<arrow::Schema> table_schema;
  std::vector<std::string> partition_columns;
  Metadata metadata;
  bool metadata_changed = false;
  if (!snap || (overwrite && options.schema_mode == table::SchemaMode::kOverwrite)) {
    // New table, or an overwrite that replaces the schema.
    ARROW_ASSIGN_OR_RAISE(table_schema, table::ReconcileSchema(arrow::Schema({}), *data_schema,
                                                               table::SchemaMode::kOverwrite));
    for (const auto& pc : options.partition_by) {
      int idx = FindColumn(*table_schema, pc);
      if (idx < 0) return Error(ErrorCode::kSchemaMismatch, "partition column '", pc, "' is not in the data");
      partition_columns.push_back(table_schema->field(idx)->name());
      auto t = table_schema->field(idx)->type()->id();
      if (t == arrow::Type::STRUCT || t == arrow::Type::LIST || t == arrow::Type::MAP) {
        return Error(ErrorCode::kSchemaMismatch, "cannot partition by nested column '", pc, "'");
      }
    }
    if (snap) {
      metadata = snap->metadata();
      for (const auto& [k, v] : conf) metadata.configuration[k] = v;
    } else {
      metadata.id = table::NewUuid();
      metadata.created_time = table::NowMs();
      metadata.configuration = conf;
    }
    if (options.name) metadata.name = options.name;
    if (options.description) metadata.description = options.description;
    metadata.partition_columns = partition_columns;
    auto cm = metadata.configuration.find("delta.columnMapping.mode");
    if (cm != metadata.configuration.end() && cm->second != "none") {
      ARROW_ASSIGN_OR_RAISE(table_schema, AssignColumnMapping(*table_schema, &metadata.configuration));
    }
    metadata_changed = true;
  } else {
    STRATA_RETURN_NOT_OK_CTX(table::CheckWriteSupport(snap->protocol(), snap->metadata()),
                             "cannot write to '" + store->root() + "'");
    if (overwrite && snap->Property("delta.appendOnly") == "true") {
      return Error(ErrorCode::kInvalidArgument, "table '", store->root(),
                   "' is append-only (delta.appendOnly=true): overwrite is not allowed");
    }
    metadata = snap->metadata();
    partition_columns = metadata.partition_columns;
    if (!options.partition_by.empty()) {
      bool same = options.partition_by.size() == partition_columns.size();
      for (size_t i = 0; same && i < partition_columns.size(); ++i) {
        same = Lower(options.partition_by[i]) == Lower(partition_columns[i]);
      }
      if (!same) {
        std::string have;
        for (const auto& p : partition_columns) have += (have.empty() ? "" : ", ") + p;
        return Error(ErrorCode::kSchemaMismatch, "table '", store->root(), "' is partitioned by [", have,
                     "]; a write cannot change that (overwrite with schema_mode=\"overwrite\" to replace it)");
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto merged, table::ReconcileSchema(*snap->schema(), *data_schema, options.schema_mode));
    merged = KeepFieldMetadata(*snap->schema(), *merged);
    for (const auto& [k, v] : conf) {
      if (metadata.configuration[k] != v) metadata_changed = true;
      metadata.configuration[k] = v;
    }
    if (!merged->Equals(*snap->schema(), /*check_metadata=*/true)) {
      metadata_changed = true;
      if (snap->column_mapping_mode() != ColumnMappingMode::kNone) {
        ARROW_ASSIGN_OR_RAISE(merged, AssignColumnMapping(*merged, &metadata.configuration));
      }
    }
    table_schema = merged;
  }
  if (metadata_changed) {
    ARROW_ASSIGN_OR_RAISE(metadata.schema_string, table::SchemaToJson(*table_schema));
  }
  ARROW_ASSIGN_OR_RAISE(auto checks, CollectChecks(*table_schema, metadata.configuration));
  Protocol protocol = ProtocolFor(*table_schema, metadata.configuration, checks, snap ? &snap->protocol() : nullptr);
  if (!snap || !(protocol == snap->protocol())) {
    ARROW_RETURN_NOT_OK(table::CheckWriteSupport(protocol, metadata));
    actions.push_back(protocol);
  }
  if (metadata_changed) actions.push_back(metadata);

  expr::NodePtr replace_pred;
  if (!options.replace_where.empty()) {
    ARROW_ASSIGN_OR_RAISE(replace_pred, expr::Parse(options.replace_where));
    ARROW_RETURN_NOT_OK(expr::ToArrow(replace_pred, *table_schema).status());
  }

  // Read, conform and check all input before anything is written.
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  arrow::FieldVector plain;
  for (const auto& f : table_schema->fields()) plain.push_back(f->WithMetadata(nullptr));
  auto plain_schema = arrow::schema(plain);
  std::optional<arrow::compute::Expression> replace_bound;
  if (replace_pred) {
    ARROW_ASSIGN_OR_RAISE(auto e, expr::ToArrow(replace_pred, *plain_schema));
    ARROW_ASSIGN_OR_RAISE(e, e.Bind(*plain_schema));
    replace_bound = e;
  }
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(data->ReadNext(&batch));
    if (!batch) break;
    if (batch->num_rows() == 0) continue;
    run.event().rows_in += batch->num_rows();
    ARROW_ASSIGN_OR_RAISE(auto conformed, ConformBatch(*batch, table_schema));
    ARROW_RETURN_NOT_OK(RunChecks(checks, conformed));
    if (replace_bound) {
      ARROW_ASSIGN_OR_RAISE(auto mask, arrow::compute::ExecuteScalarExpression(*replace_bound, *plain_schema, conformed));
      ARROW_ASSIGN_OR_RAISE(auto all, arrow::compute::All(mask));
      auto& s = static_cast<const arrow::BooleanScalar&>(*all.scalar());
      if (!s.is_valid || !s.value) {
        return Error(ErrorCode::kInvalidArgument, "the data has rows that do not match replace_where '",
                     options.replace_where, "'");
      }
    }
    batches.push_back(std::move(conformed));
  }
  run.SetTableProperties(metadata.configuration);
  // Write-audit-publish: the table's validator sees every row before anything is written.
  ARROW_ASSIGN_OR_RAISE(auto verdict, ValidatePending(store, snap.get(), {"WRITE", std::move(batches), true}));
  batches = std::move(verdict.publish);
  for (const auto& b : batches) result.rows_written += b->num_rows();
  result.rows_quarantined = verdict.quarantined_rows;
  if (run.active()) run.Published(store, *plain_schema, batches);

  FileWriteSpec spec;
  spec.table_schema = table_schema;
  spec.partition_columns = partition_columns;
  ARROW_ASSIGN_OR_RAISE(spec.mapping, table::ParseColumnMappingMode(
                                          metadata.configuration.count("delta.columnMapping.mode")
                                              ? metadata.configuration.at("delta.columnMapping.mode")
                                              : ""));
  auto codec = metadata.configuration.find("delta.parquet.compression.codec");
  spec.compression = codec != metadata.configuration.end() ? codec->second : options.compression;
  spec.target_file_size = options.target_file_size;
  spec.row_group_rows = options.row_group_rows;
  auto nidx = metadata.configuration.find("delta.dataSkippingNumIndexedCols");
  if (nidx != metadata.configuration.end()) spec.num_indexed_cols = std::atoi(nidx->second.c_str());

  table::Commit commit;
  commit.read_snapshot = snap;
  commit.operation = snap ? "WRITE" : "CREATE TABLE";
  int64_t now = table::NowMs();
  // Overwrite: remove what is replaced, rewriting files that are only partly replaced.
  if (snap && overwrite) {
    commit.read_scope = replace_pred ? table::Commit::ReadScope::kPredicate : table::Commit::ReadScope::kAll;
    commit.read_predicate = replace_pred;
    for (const auto& f : snap->files()) {
      if (replace_pred && !table::FileMayMatch(replace_pred, f, *snap)) continue;
      commit.read_files.insert(table::FileKey(f.path, f.deletion_vector));
      if (replace_pred) {
        exec::ScanOptions keep_opts;
        std::string keep_sql = "NOT ((" + expr::ToString(replace_pred) + ") <=> TRUE)";
        ARROW_ASSIGN_OR_RAISE(keep_opts.filter, expr::Parse(keep_sql));
        ARROW_ASSIGN_OR_RAISE(auto kept, exec::ReadFile(*snap, f, keep_opts));
        if (!kept.empty()) {
          std::vector<std::shared_ptr<arrow::RecordBatch>> kept_conformed;
          for (const auto& b : kept) {
            ARROW_ASSIGN_OR_RAISE(auto c, ConformBatch(*b, table_schema));
            kept_conformed.push_back(c);
          }
          ARROW_ASSIGN_OR_RAISE(auto rewritten, WriteDataFiles(*store, spec, kept_conformed));
          for (auto& a : rewritten) actions.push_back(std::move(a));
        }
      }
      actions.push_back(table::RemoveFor(f, now));
      ++result.files_removed;
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto adds, WriteDataFiles(*store, spec, batches));
  for (auto& a : adds) {
    result.bytes_written += a.size;
    ++result.files_added;
    actions.push_back(std::move(a));
  }
  if (options.txn) {
    // Delta's idempotent writers: a transaction version at or below the table's is already applied.
    if (snap) {
      auto it = snap->txns().find(options.txn->first);
      if (it != snap->txns().end() && it->second.version >= options.txn->second) {
        return Error(ErrorCode::kCommitConflict, "transaction ", options.txn->first, " version ",
                     options.txn->second, " is already in the table (it holds version ", it->second.version, ")");
      }
    }
    actions.push_back(table::Txn{options.txn->first, options.txn->second, now});
  }
  commit.actions = std::move(actions);
  commit.blind_append = snap && !overwrite && !metadata_changed;
  std::string mode_name = overwrite ? "Overwrite" : "Append";
  commit.operation_parameters["mode"] = mode_name;
  std::string pby = "[";
  for (const auto& p : partition_columns) pby += (pby.size() > 1 ? "," : "") + ("\"" + p + "\"");
  commit.operation_parameters["partitionBy"] = pby + "]";
  if (!options.replace_where.empty()) commit.operation_parameters["predicate"] = options.replace_where;
  commit.operation_metrics["numFiles"] = std::to_string(result.files_added);
  commit.operation_metrics["numOutputRows"] = std::to_string(result.rows_written);
  commit.operation_metrics["numOutputBytes"] = std::to_string(result.bytes_written);
  commit.operation_metrics["numRemovedFiles"] = std::to_string(result.files_removed);
  if (!verdict.commit_info_json.empty()) commit.extra_commit_info["strataQuality"] = verdict.commit_info_json;
  ARROW_ASSIGN_OR_RAISE(result.version, table::CommitToTable(store, std::move(commit), options.commit));
  run.event().version = result.version;
  if (verdict.after_commit) ARROW_RETURN_NOT_OK(verdict.after_commit(result.version));
  return result;
}

}  // namespace

Result<WriteResult> WriteTable(std::shared_ptr<storage::ObjectStore> store,
                               std::shared_ptr<arrow::RecordBatchReader> data, const WriteOptions& options) {
  RunTracker run(store, "WRITE");
  auto result = WriteTableRun(store, std::move(data), options, run);
  if (result.ok()) {
    run.event().rows_out = result->rows_written;
    run.event().rows_rejected = result->rows_quarantined;
  }
  run.Finish(result.status());
  return result;
}

}  // namespace strata::ops
