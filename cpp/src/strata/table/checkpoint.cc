#include "strata/table/checkpoint.h"

#include <chrono>
#include <cstdio>
#include <set>

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/io/memory.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include "strata/common/json_writer.h"
#include "strata/common/memory_pool.h"
#include "strata/table/json_util.h"
#include "strata/table/snapshot.h"

namespace strata::table {

namespace {

// Checkpoint rows are converted through JSON so that one parser (ParseActions) understands
// both commits and checkpoints; the Arrow side of the bridge is generic over nested types.

Status AppendValueJson(JsonWriter& w, const arrow::Array& arr, int64_t i);

Status AppendStructJson(JsonWriter& w, const arrow::StructArray& st, int64_t i) {
  w.BeginObject();
  const auto& type = *st.struct_type();
  for (int f = 0; f < type.num_fields(); ++f) {
    const auto& child = *st.field(f);
    if (child.IsNull(i)) continue;
    w.Key(type.field(f)->name());
    ARROW_RETURN_NOT_OK(AppendValueJson(w, child, i));
  }
  w.EndObject();
  return Status::OK();
}

Status AppendValueJson(JsonWriter& w, const arrow::Array& arr, int64_t i) {
  if (arr.IsNull(i)) {
    w.Null();
    return Status::OK();
  }
  using arrow::Type;
  switch (arr.type_id()) {
    case Type::STRUCT: return AppendStructJson(w, static_cast<const arrow::StructArray&>(arr), i);
    case Type::MAP: {
      const auto& m = static_cast<const arrow::MapArray&>(arr);
      w.BeginObject();
      auto keys = m.keys();
      auto items = m.items();
      for (int64_t j = m.value_offset(i); j < m.value_offset(i) + m.value_length(i); ++j) {
        if (keys->IsNull(j)) continue;
        w.Key(static_cast<const arrow::StringArray&>(*keys).GetView(j));
        ARROW_RETURN_NOT_OK(AppendValueJson(w, *items, j));
      }
      w.EndObject();
      return Status::OK();
    }
    case Type::LIST: {
      const auto& l = static_cast<const arrow::ListArray&>(arr);
      w.BeginArray();
      for (int64_t j = l.value_offset(i); j < l.value_offset(i) + l.value_length(i); ++j) {
        ARROW_RETURN_NOT_OK(AppendValueJson(w, *l.values(), j));
      }
      w.EndArray();
      return Status::OK();
    }
    case Type::STRING: w.String(static_cast<const arrow::StringArray&>(arr).GetView(i)); return Status::OK();
    case Type::LARGE_STRING: w.String(static_cast<const arrow::LargeStringArray&>(arr).GetView(i)); return Status::OK();
    case Type::INT64: w.Int(static_cast<const arrow::Int64Array&>(arr).Value(i)); return Status::OK();
    case Type::INT32: w.Int(static_cast<const arrow::Int32Array&>(arr).Value(i)); return Status::OK();
    case Type::INT16: w.Int(static_cast<const arrow::Int16Array&>(arr).Value(i)); return Status::OK();
    case Type::INT8: w.Int(static_cast<const arrow::Int8Array&>(arr).Value(i)); return Status::OK();
    case Type::BOOL: w.Bool(static_cast<const arrow::BooleanArray&>(arr).Value(i)); return Status::OK();
    case Type::DOUBLE: w.Double(static_cast<const arrow::DoubleArray&>(arr).Value(i)); return Status::OK();
    case Type::FLOAT: w.Double(static_cast<const arrow::FloatArray&>(arr).Value(i)); return Status::OK();
    default:
      // Typed columns we do not use (stats_parsed, ...) are skipped by the caller; anything else
      // inside an action we read is written as null.
      w.Null();
      return Status::OK();
  }
}

// add and remove rows are the bulk of a checkpoint: they are converted directly from the
// typed Arrow arrays (the JSON bridge above serves the few other rows).

const arrow::Array* Child(const arrow::StructArray& st, const char* name) {
  int i = st.struct_type()->GetFieldIndex(name);
  return i < 0 ? nullptr : st.field(i).get();
}

std::optional<std::string> StrAt(const arrow::Array* a, int64_t i) {
  if (a == nullptr || a->IsNull(i)) return std::nullopt;
  if (a->type_id() == arrow::Type::STRING) return static_cast<const arrow::StringArray*>(a)->GetString(i);
  if (a->type_id() == arrow::Type::LARGE_STRING) return static_cast<const arrow::LargeStringArray*>(a)->GetString(i);
  return std::nullopt;
}

std::optional<int64_t> IntAt(const arrow::Array* a, int64_t i) {
  if (a == nullptr || a->IsNull(i)) return std::nullopt;
  switch (a->type_id()) {
    case arrow::Type::INT64: return static_cast<const arrow::Int64Array*>(a)->Value(i);
    case arrow::Type::INT32: return static_cast<const arrow::Int32Array*>(a)->Value(i);
    default: return std::nullopt;
  }
}

std::optional<bool> BoolAt(const arrow::Array* a, int64_t i) {
  if (a == nullptr || a->IsNull(i) || a->type_id() != arrow::Type::BOOL) return std::nullopt;
  return static_cast<const arrow::BooleanArray*>(a)->Value(i);
}

template <typename Fn>
bool ForEachMapEntry(const arrow::Array* a, int64_t i, Fn&& fn) {
  if (a == nullptr || a->IsNull(i) || a->type_id() != arrow::Type::MAP) return false;
  const auto* m = static_cast<const arrow::MapArray*>(a);
  const auto* keys = m->keys().get();
  const auto* items = m->items().get();
  for (int64_t j = m->value_offset(i); j < m->value_offset(i + 1); ++j) {
    auto k = StrAt(keys, j);
    if (k) fn(*k, StrAt(items, j));
  }
  return true;
}

struct FileColumns {
  const arrow::StructArray* st = nullptr;
  const arrow::Array *path, *pv, *size, *mtime, *data_change, *stats, *tags, *dv, *base_row_id, *drcv,
      *clustering, *deletion_ts, *extended;
  const arrow::Array *dv_type = nullptr, *dv_path = nullptr, *dv_offset = nullptr, *dv_size = nullptr,
                     *dv_card = nullptr;
  explicit FileColumns(const arrow::StructArray& s) : st(&s) {
    path = Child(s, "path");
    pv = Child(s, "partitionValues");
    size = Child(s, "size");
    mtime = Child(s, "modificationTime");
    data_change = Child(s, "dataChange");
    stats = Child(s, "stats");
    tags = Child(s, "tags");
    dv = Child(s, "deletionVector");
    base_row_id = Child(s, "baseRowId");
    drcv = Child(s, "defaultRowCommitVersion");
    clustering = Child(s, "clusteringProvider");
    deletion_ts = Child(s, "deletionTimestamp");
    extended = Child(s, "extendedFileMetadata");
    if (dv && dv->type_id() == arrow::Type::STRUCT) {
      const auto& d = static_cast<const arrow::StructArray&>(*dv);
      dv_type = Child(d, "storageType");
      dv_path = Child(d, "pathOrInlineDv");
      dv_offset = Child(d, "offset");
      dv_size = Child(d, "sizeInBytes");
      dv_card = Child(d, "cardinality");
    }
  }
  PartitionValues Partition(int64_t i) const {
    PartitionValues out;
    ForEachMapEntry(pv, i, [&](const std::string& k, std::optional<std::string> v) {
      if (v && v->empty()) v.reset();
      out.emplace(k, std::move(v));
    });
    return out;
  }
  std::optional<StringMap> Tags(int64_t i) const {
    StringMap out;
    bool present = ForEachMapEntry(tags, i, [&](const std::string& k, std::optional<std::string> v) {
      if (v) out.emplace(k, std::move(*v));
    });
    if (!present) return std::nullopt;
    return out;
  }
  Result<std::optional<DeletionVectorDescriptor>> Dv(int64_t i) const {
    if (dv == nullptr || dv->IsNull(i)) return std::nullopt;
    DeletionVectorDescriptor d;
    auto t = StrAt(dv_type, i);
    auto p = StrAt(dv_path, i);
    auto sz = IntAt(dv_size, i);
    auto card = IntAt(dv_card, i);
    if (!t || !p || !sz || !card) return Status::Invalid("incomplete deletionVector in row ", i);
    d.storage_type = *t;
    d.path_or_inline_dv = *p;
    if (auto off = IntAt(dv_offset, i)) d.offset = static_cast<int32_t>(*off);
    d.size_in_bytes = static_cast<int32_t>(*sz);
    d.cardinality = *card;
    return d;
  }
};

Status AppendAdds(const arrow::StructArray& st, std::vector<Action>* out) {
  FileColumns c(st);
  out->reserve(out->size() + static_cast<size_t>(st.length() - st.null_count()));
  for (int64_t i = 0; i < st.length(); ++i) {
    if (st.IsNull(i)) continue;
    AddFile a;
    auto path = StrAt(c.path, i);
    auto size = IntAt(c.size, i);
    if (!path || !size) return Status::Invalid("add row ", i, " lacks path or size");
    a.path = std::move(*path);
    a.partition_values = c.Partition(i);
    a.size = *size;
    a.modification_time = IntAt(c.mtime, i).value_or(0);
    a.data_change = BoolAt(c.data_change, i).value_or(false);
    a.stats = StrAt(c.stats, i);
    a.tags = c.Tags(i);
    ARROW_ASSIGN_OR_RAISE(a.deletion_vector, c.Dv(i));
    a.base_row_id = IntAt(c.base_row_id, i);
    a.default_row_commit_version = IntAt(c.drcv, i);
    a.clustering_provider = StrAt(c.clustering, i);
    out->push_back(std::move(a));
  }
  return Status::OK();
}

Status AppendRemoves(const arrow::StructArray& st, std::vector<Action>* out) {
  FileColumns c(st);
  for (int64_t i = 0; i < st.length(); ++i) {
    if (st.IsNull(i)) continue;
    RemoveFile r;
    auto path = StrAt(c.path, i);
    if (!path) return Status::Invalid("remove row ", i, " lacks a path");
    r.path = std::move(*path);
    r.deletion_timestamp = IntAt(c.deletion_ts, i);
    r.data_change = BoolAt(c.data_change, i).value_or(false);
    r.extended_file_metadata = BoolAt(c.extended, i);
    if (c.pv && !c.pv->IsNull(i)) r.partition_values = c.Partition(i);
    r.size = IntAt(c.size, i);
    r.tags = c.Tags(i);
    ARROW_ASSIGN_OR_RAISE(r.deletion_vector, c.Dv(i));
    r.base_row_id = IntAt(c.base_row_id, i);
    r.default_row_commit_version = IntAt(c.drcv, i);
    out->push_back(std::move(r));
  }
  return Status::OK();
}

const std::set<std::string>& ActionColumns() {
  static const std::set<std::string> k = {"add", "remove", "metaData", "protocol", "txn",
                                          "domainMetadata", "sidecar", "checkpointMetadata"};
  return k;
}

void CollectLeaves(const parquet::arrow::SchemaField& f, std::vector<int>* out) {
  if (f.is_leaf()) {
    out->push_back(f.column_index);
    return;
  }
  for (const auto& c : f.children) CollectLeaves(c, out);
}

Result<std::vector<Action>> ReadParquetActions(storage::ObjectStore& store, const std::string& path,
                                               bool with_files = true) {
  auto buf = store.Read(path);
  if (!buf.ok()) return WithContext(buf.status(), "cannot read checkpoint file '" + path + "'");
  auto input = std::make_shared<arrow::io::BufferReader>(*buf);
  auto reader_r = parquet::arrow::OpenFile(input, DataMemoryPool());
  if (!reader_r.ok()) {
    return Error(ErrorCode::kCorruptLog, "checkpoint file '", path, "' is not valid Parquet: ",
                 reader_r.status().message());
  }
  auto reader = std::move(*reader_r);
  std::vector<int> leaves;
  for (const auto& f : reader->manifest().schema_fields) {
    if (!ActionColumns().count(f.field->name())) continue;
    bool file_action = f.field->name() == "add" || f.field->name() == "remove" || f.field->name() == "sidecar";
    if (!with_files && file_action) continue;
    // Parsed copies of stats/partition values are skipped: the JSON strings say the same.
    if (f.field->name() == "add" || f.field->name() == "remove") {
      for (const auto& c : f.children) {
        if (c.field->name() == "stats_parsed" || c.field->name() == "partitionValues_parsed") continue;
        CollectLeaves(c, &leaves);
      }
      continue;
    }
    CollectLeaves(f, &leaves);
  }
  auto table_r = reader->ReadTable(leaves);
  if (!table_r.ok()) {
    return Error(ErrorCode::kCorruptLog, "cannot decode checkpoint file '", path, "': ", table_r.status().message());
  }
  ARROW_ASSIGN_OR_RAISE(auto batch, (*table_r)->CombineChunksToBatch());
  std::vector<Action> files;
  std::vector<bool> typed(batch->num_columns(), false);
  for (int c = 0; c < batch->num_columns(); ++c) {
    const auto& name = batch->schema()->field(c)->name();
    if (batch->column(c)->type_id() != arrow::Type::STRUCT) continue;
    const auto& st = static_cast<const arrow::StructArray&>(*batch->column(c));
    Status st_ok;
    if (name == "add") {
      st_ok = AppendAdds(st, &files);
      typed[c] = true;
    } else if (name == "remove") {
      st_ok = AppendRemoves(st, &files);
      typed[c] = true;
    }
    if (!st_ok.ok()) return Error(ErrorCode::kCorruptLog, "checkpoint file '", path, "': ", st_ok.message());
  }
  std::string ndjson;
  for (int64_t row = 0; row < batch->num_rows(); ++row) {
    for (int c = 0; c < batch->num_columns(); ++c) {
      const auto& col = *batch->column(c);
      if (typed[c] || col.IsNull(row)) continue;
      JsonWriter w;
      w.BeginObject().Key(batch->schema()->field(c)->name());
      ARROW_RETURN_NOT_OK(AppendValueJson(w, col, row));
      w.EndObject();
      ndjson += w.str();
      ndjson.push_back('\n');
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto rest, ParseActions(ndjson, path));
  rest.reserve(rest.size() + files.size());
  for (auto& a : files) rest.push_back(std::move(a));
  return rest;
}

// ---- writing -------------------------------------------------------------------------------

using internal::JsonValue;
using internal::View;

Status AppendJsonToBuilder(arrow::ArrayBuilder* b, const JsonValue* e) {
  if (e == nullptr || e->IsNull()) return b->AppendNull();
  using arrow::Type;
  switch (b->type()->id()) {
    case Type::STRUCT: {
      auto* sb = static_cast<arrow::StructBuilder*>(b);
      if (!e->IsObject()) return b->AppendNull();
      ARROW_RETURN_NOT_OK(sb->Append());
      auto type = b->type();  // returned by value: keep it alive
      for (int f = 0; f < type->num_fields(); ++f) {
        ARROW_RETURN_NOT_OK(AppendJsonToBuilder(sb->field_builder(f), internal::Field(*e, type->field(f)->name())));
      }
      return Status::OK();
    }
    case Type::MAP: {
      auto* mb = static_cast<arrow::MapBuilder*>(b);
      if (!e->IsObject()) return b->AppendNull();
      ARROW_RETURN_NOT_OK(mb->Append());
      for (const auto& kv : e->GetObject()) {
        ARROW_RETURN_NOT_OK(static_cast<arrow::StringBuilder*>(mb->key_builder())->Append(View(kv.name)));
        ARROW_RETURN_NOT_OK(AppendJsonToBuilder(mb->item_builder(), &kv.value));
      }
      return Status::OK();
    }
    case Type::LIST: {
      auto* lb = static_cast<arrow::ListBuilder*>(b);
      if (!e->IsArray()) return b->AppendNull();
      ARROW_RETURN_NOT_OK(lb->Append());
      for (const auto& item : e->GetArray()) ARROW_RETURN_NOT_OK(AppendJsonToBuilder(lb->value_builder(), &item));
      return Status::OK();
    }
    case Type::STRING: {
      if (e->IsString()) return static_cast<arrow::StringBuilder*>(b)->Append(View(*e));
      return static_cast<arrow::StringBuilder*>(b)->Append(internal::Minify(*e));
    }
    case Type::INT64: {
      auto v = internal::AsInt(*e);
      if (!v) return b->AppendNull();
      return static_cast<arrow::Int64Builder*>(b)->Append(*v);
    }
    case Type::INT32: {
      auto v = internal::AsInt(*e);
      if (!v) return b->AppendNull();
      return static_cast<arrow::Int32Builder*>(b)->Append(static_cast<int32_t>(*v));
    }
    case Type::BOOL: {
      if (!e->IsBool()) return b->AppendNull();
      return static_cast<arrow::BooleanBuilder*>(b)->Append(e->GetBool());
    }
    default:
      return Status::NotImplemented("checkpoint column type ", b->type()->ToString());
  }
}

std::shared_ptr<arrow::Schema> CheckpointSchema() {
  using namespace arrow;
  auto smap = [] { return map(utf8(), field("value", utf8(), true)); };
  auto dv = struct_({field("storageType", utf8()), field("pathOrInlineDv", utf8()), field("offset", int32()),
                     field("sizeInBytes", int32()), field("cardinality", int64())});
  return schema({
      field("txn", struct_({field("appId", utf8()), field("version", int64()), field("lastUpdated", int64())})),
      field("add", struct_({field("path", utf8()), field("partitionValues", smap()), field("size", int64()),
                            field("modificationTime", int64()), field("dataChange", boolean()),
                            field("stats", utf8()), field("tags", smap()), field("deletionVector", dv),
                            field("baseRowId", int64()), field("defaultRowCommitVersion", int64()),
                            field("clusteringProvider", utf8())})),
      field("remove", struct_({field("path", utf8()), field("deletionTimestamp", int64()),
                               field("dataChange", boolean()), field("extendedFileMetadata", boolean()),
                               field("partitionValues", smap()), field("size", int64()),
                               field("tags", smap()), field("deletionVector", dv), field("baseRowId", int64()),
                               field("defaultRowCommitVersion", int64())})),
      field("metaData", struct_({field("id", utf8()), field("name", utf8()), field("description", utf8()),
                                 field("format", struct_({field("provider", utf8()), field("options", smap())})),
                                 field("schemaString", utf8()), field("partitionColumns", list(utf8())),
                                 field("configuration", smap()), field("createdTime", int64())})),
      field("protocol", struct_({field("minReaderVersion", int32()), field("minWriterVersion", int32()),
                                 field("readerFeatures", list(utf8())), field("writerFeatures", list(utf8()))})),
      field("domainMetadata", struct_({field("domain", utf8()), field("configuration", utf8()),
                                       field("removed", boolean())})),
  });
}


}  // namespace

Result<std::vector<Action>> ReadCheckpoint(storage::ObjectStore& store, const std::vector<LogFile>& parts,
                                           bool with_files) {
  std::vector<Action> out;
  for (const auto& part : parts) {
    std::vector<Action> actions;
    const std::string& path = part.info.path;
    if (path.size() > 5 && path.substr(path.size() - 5) == ".json") {
      ARROW_ASSIGN_OR_RAISE(auto buf, store.Read(path));
      ARROW_ASSIGN_OR_RAISE(actions, ParseActions(std::string_view(reinterpret_cast<const char*>(buf->data()),
                                                                   buf->size()), path));
    } else {
      ARROW_ASSIGN_OR_RAISE(actions, ReadParquetActions(store, path, with_files));
    }
    for (auto& a : actions) {
      if (!with_files && (std::holds_alternative<AddFile>(a) || std::holds_alternative<RemoveFile>(a))) continue;
      if (auto* sc = std::get_if<Sidecar>(&a)) {
        if (!with_files) continue;
        std::string sidecar_path = std::string(kLogDir) + "/_sidecars/" + DecodePath(sc->path);
        auto side = ReadParquetActions(store, sidecar_path);
        if (!side.ok()) return WithContext(side.status(), "reading sidecar of " + path);
        for (auto& s : *side) out.push_back(std::move(s));
      } else {
        out.push_back(std::move(a));
      }
    }
  }
  return out;
}

Status WriteCheckpoint(const Snapshot& snapshot) {
  STRATA_RETURN_NOT_OK_CTX(CheckWriteSupport(snapshot.protocol(), snapshot.metadata()),
                           "cannot write a checkpoint of '" + snapshot.store()->root() + "'");
  for (const auto& f : snapshot.protocol().writer_features.value_or(std::vector<std::string>{})) {
    if (f == "v2Checkpoint") {
      return Error(ErrorCode::kUnsupportedFeature, "table '", snapshot.store()->root(),
                   "' needs V2 checkpoints (feature v2Checkpoint), which strata does not write yet");
    }
  }
  auto schema = CheckpointSchema();
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders;
  for (const auto& f : schema->fields()) {
    std::unique_ptr<arrow::ArrayBuilder> b;
    ARROW_RETURN_NOT_OK(arrow::MakeBuilder(arrow::default_memory_pool(), f->type(), &b));
    builders.push_back(std::move(b));
  }
  internal::JsonDocument doc;
  auto append = [&](const Action& action, int column) -> Status {
    std::string json = SerializeAction(action);
    if (!internal::ParseJson(&doc, json) || !doc.IsObject() || doc.MemberCount() != 1) {
      return Status::Invalid("bad action JSON");
    }
    const JsonValue& inner = doc.MemberBegin()->value;
    for (int c = 0; c < static_cast<int>(builders.size()); ++c) {
      if (c == column) {
        ARROW_RETURN_NOT_OK(AppendJsonToBuilder(builders[c].get(), &inner));
      } else {
        ARROW_RETURN_NOT_OK(builders[c]->AppendNull());
      }
    }
    return Status::OK();
  };
  ARROW_RETURN_NOT_OK(append(snapshot.protocol(), 4));
  ARROW_RETURN_NOT_OK(append(snapshot.metadata(), 3));
  for (const auto& [id, t] : snapshot.txns()) ARROW_RETURN_NOT_OK(append(t, 0));
  for (const auto& [d, dm] : snapshot.domain_metadata()) ARROW_RETURN_NOT_OK(append(dm, 5));
  for (const auto& f : snapshot.files()) {
    AddFile a = f;
    a.data_change = false;
    ARROW_RETURN_NOT_OK(append(a, 1));
  }
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  int64_t retention = ParseIntervalMs(snapshot.Property("delta.deletedFileRetentionDuration"), 7LL * 86400000);
  for (const auto& r : snapshot.tombstones()) {
    if (r.deletion_timestamp.value_or(now) < now - retention) continue;
    RemoveFile rm = r;
    rm.data_change = false;
    rm.stats.reset();
    ARROW_RETURN_NOT_OK(append(rm, 2));
  }
  arrow::ArrayVector arrays;
  for (auto& b : builders) {
    std::shared_ptr<arrow::Array> arr;
    ARROW_RETURN_NOT_OK(b->Finish(&arr));
    arrays.push_back(arr);
  }
  auto table = arrow::Table::Make(schema, arrays);
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
  auto props = parquet::WriterProperties::Builder()
                   .compression(parquet::Compression::SNAPPY)
                   ->memory_pool(DataMemoryPool())
                   ->build();
  ARROW_RETURN_NOT_OK(parquet::arrow::WriteTable(*table, DataMemoryPool(), sink,
                                                 /*chunk_size=*/1 << 20, props));
  ARROW_ASSIGN_OR_RAISE(auto buf, sink->Finish());
  char name[96];
  std::snprintf(name, sizeof(name), "%s/%020lld.checkpoint.parquet", kLogDir,
                static_cast<long long>(snapshot.version()));
  auto& store = *snapshot.store();
  // Written whole then renamed: a reader never sees a partial checkpoint file.
  ARROW_RETURN_NOT_OK(store.Write(name, std::string_view(reinterpret_cast<const char*>(buf->data()), buf->size())));
  JsonWriter last;
  last.BeginObject().Key("version").Int(snapshot.version()).Key("size").Int(table->num_rows());
  last.Key("sizeInBytes").Int(buf->size()).Key("numOfAddFiles").Int(static_cast<int64_t>(snapshot.files().size()));
  last.EndObject();
  return store.Write(std::string(kLogDir) + "/_last_checkpoint", last.str());
}

}  // namespace strata::table
