#include "strata/exec/changes.h"

#include <map>
#include <set>

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <roaring/roaring64map.hh>

#include "strata/exec/scan.h"
#include "strata/table/deletion_vector.h"
#include "strata/table/log_segment.h"
#include "strata/table/schema.h"
#include "strata/table/snapshot.h"

namespace strata::exec {

namespace {

using table::AddFile;

struct VersionChanges {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;  // data columns + _change_type
};

std::shared_ptr<arrow::Field> ChangeTypeField() { return arrow::field(table::kChangeTypeColumn, arrow::utf8()); }

Result<std::shared_ptr<arrow::RecordBatch>> WithChangeType(const std::shared_ptr<arrow::RecordBatch>& b,
                                                           const char* type) {
  ARROW_ASSIGN_OR_RAISE(auto col, arrow::MakeArrayFromScalar(arrow::StringScalar(type), b->num_rows()));
  return b->AddColumn(b->num_columns(), ChangeTypeField(), col);
}

AddFile AsAdd(const table::RemoveFile& r) {
  AddFile a;
  a.path = r.path;
  a.partition_values = r.partition_values.value_or(table::PartitionValues{});
  a.size = r.size.value_or(0);
  a.deletion_vector = r.deletion_vector;
  return a;
}

/// Rows of `file` (as read under `with_dv`) whose row index is or is not in `bitmap`.
Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> RowsWhere(const table::Snapshot& snap, const AddFile& file,
                                                                   const roaring::Roaring64Map& bitmap, bool in) {
  ScanOptions so;
  so.with_row_ids = true;
  ARROW_ASSIGN_OR_RAISE(auto batches, ReadFile(snap, file, so));
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  for (const auto& b : batches) {
    auto idx = std::static_pointer_cast<arrow::Int64Array>(b->GetColumnByName(kRowIndexColumn));
    arrow::BooleanBuilder keep;
    for (int64_t i = 0; i < idx->length(); ++i) {
      ARROW_RETURN_NOT_OK(keep.Append(bitmap.contains(static_cast<uint64_t>(idx->Value(i))) == in));
    }
    ARROW_ASSIGN_OR_RAISE(auto mask, keep.Finish());
    std::shared_ptr<arrow::RecordBatch> data = b;
    ARROW_ASSIGN_OR_RAISE(data, data->RemoveColumn(data->schema()->GetFieldIndex(kRowIndexColumn)));
    ARROW_ASSIGN_OR_RAISE(auto sel, arrow::compute::Filter(data, mask));
    if (sel.record_batch()->num_rows() > 0) out.push_back(sel.record_batch());
  }
  return out;
}

Result<roaring::Roaring64Map> Bitmap(const std::optional<table::DeletionVectorDescriptor>& dv,
                                     storage::ObjectStore& store) {
  if (!dv) return roaring::Roaring64Map();
  ARROW_ASSIGN_OR_RAISE(auto b, table::LoadDeletionVector(*dv, store));
  return *b;
}

}  // namespace

Result<std::shared_ptr<arrow::Table>> ReadChanges(std::shared_ptr<storage::ObjectStore> store, int64_t start_version,
                                                  std::optional<int64_t> end_version) {
  if (start_version < 0) return Error(ErrorCode::kInvalidArgument, "start version must be >= 0, not ", start_version);
  ARROW_ASSIGN_OR_RAISE(auto end_snap, table::Snapshot::Load(store, end_version, /*with_files=*/false));
  int64_t end = end_snap->version();
  if (start_version > end) {
    return Error(ErrorCode::kVersionNotFound, "start version ", start_version, " is after the end version ", end,
                 " of '", store->root(), "'");
  }
  ARROW_ASSIGN_OR_RAISE(auto listing, table::ListLog(*store));
  std::vector<table::LogFile> commits;
  for (const auto& c : listing.commits) {
    if (c.version >= start_version && c.version <= end) commits.push_back(c);
  }
  if (static_cast<int64_t>(commits.size()) != end - start_version + 1 || commits.front().version != start_version) {
    return Error(ErrorCode::kVersionNotFound, "the log of '", store->root(), "' no longer has every commit from version ",
                 start_version, " to ", end, " (log retention removed some); read changes from a later version");
  }
  ARROW_ASSIGN_OR_RAISE(auto parsed, table::ReadCommits(*store, commits));
  ARROW_ASSIGN_OR_RAISE(auto history, end_snap->History());
  std::map<int64_t, int64_t> ts;
  for (const auto& h : history) ts[h.version] = h.timestamp_ms;

  // Whether the feed was on: the configuration before the range, then each commit's metaData.
  std::map<std::string, std::string> conf;
  if (start_version > 0) {
    ARROW_ASSIGN_OR_RAISE(auto before, table::Snapshot::Load(store, start_version - 1, /*with_files=*/false));
    conf = before->metadata().configuration;
  }
  // Change data files carry _change_type as a data column: read them through a snapshot whose
  // schema has it.
  table::Metadata cdc_meta = end_snap->metadata();
  auto cdc_schema = *end_snap->schema()->AddField(end_snap->schema()->num_fields(), ChangeTypeField());
  ARROW_ASSIGN_OR_RAISE(cdc_meta.schema_string, table::SchemaToJson(*cdc_schema));
  ARROW_ASSIGN_OR_RAISE(auto cdc_snap, table::Snapshot::FromActions(
                                           store, end, 0, {{table::Action(end_snap->protocol()), table::Action(cdc_meta)}}));

  arrow::FieldVector out_fields;
  for (const auto& f : end_snap->schema()->fields()) out_fields.push_back(f->WithMetadata(nullptr));
  out_fields.push_back(ChangeTypeField());
  out_fields.push_back(arrow::field(table::kCommitVersionColumn, arrow::int64()));
  out_fields.push_back(arrow::field(table::kCommitTimestampColumn, arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")));
  auto out_schema = arrow::schema(out_fields);
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;

  for (size_t i = 0; i < commits.size(); ++i) {
    int64_t v = commits[i].version;
    const auto& actions = parsed[i];
    std::vector<const table::AddCdcFile*> cdc;
    std::vector<const AddFile*> adds;
    std::vector<const table::RemoveFile*> removes;
    for (const auto& a : actions) {
      if (auto* m = std::get_if<table::Metadata>(&a)) conf = m->configuration;
      if (auto* c = std::get_if<table::AddCdcFile>(&a)) cdc.push_back(c);
      if (auto* ad = std::get_if<AddFile>(&a); ad && ad->data_change) adds.push_back(ad);
      if (auto* r = std::get_if<table::RemoveFile>(&a); r && r->data_change) removes.push_back(r);
    }
    bool changes_data = !cdc.empty() || !adds.empty() || !removes.empty();
    if (!changes_data) continue;
    auto it = conf.find("delta.enableChangeDataFeed");
    if (it == conf.end() || it->second != "true") {
      return Error(ErrorCode::kInvalidArgument, "the change data feed was not enabled at version ", v, " of '",
                   store->root(), "' (set the table property delta.enableChangeDataFeed=true; changes are recorded "
                   "from the version after)");
    }
    std::vector<std::shared_ptr<arrow::RecordBatch>> rows;
    if (!cdc.empty()) {
      for (const auto* c : cdc) {
        AddFile f;
        f.path = c->path;
        f.partition_values = c->partition_values;
        f.size = c->size;
        ARROW_ASSIGN_OR_RAISE(auto batches, ReadFile(*cdc_snap, f, {}));
        rows.insert(rows.end(), batches.begin(), batches.end());
      }
    } else {
      // Derived: a file removed and added again in one commit changed its deletion vector.
      std::map<std::string, const table::RemoveFile*> removed;
      for (const auto* r : removes) removed[r->path] = r;
      std::set<std::string> paired;
      for (const auto* a : adds) {
        auto r = removed.find(a->path);
        if (r == removed.end()) {
          ARROW_ASSIGN_OR_RAISE(auto batches, ReadFile(*end_snap, *a, {}));
          for (auto& b : batches) {
            ARROW_ASSIGN_OR_RAISE(auto t, WithChangeType(b, "insert"));
            rows.push_back(t);
          }
          continue;
        }
        paired.insert(a->path);
        ARROW_ASSIGN_OR_RAISE(auto old_dv, Bitmap(r->second->deletion_vector, *store));
        ARROW_ASSIGN_OR_RAISE(auto new_dv, Bitmap(a->deletion_vector, *store));
        // Live before, deleted now: deletes. Deleted before, live now (a restore): inserts.
        ARROW_ASSIGN_OR_RAISE(auto deleted, RowsWhere(*end_snap, AsAdd(*r->second), new_dv, true));
        for (auto& b : deleted) {
          ARROW_ASSIGN_OR_RAISE(auto t, WithChangeType(b, "delete"));
          rows.push_back(t);
        }
        ARROW_ASSIGN_OR_RAISE(auto revived, RowsWhere(*end_snap, *a, old_dv, true));
        for (auto& b : revived) {
          ARROW_ASSIGN_OR_RAISE(auto t, WithChangeType(b, "insert"));
          rows.push_back(t);
        }
      }
      for (const auto* r : removes) {
        if (paired.count(r->path)) continue;
        ARROW_ASSIGN_OR_RAISE(auto batches, ReadFile(*end_snap, AsAdd(*r), {}));
        for (auto& b : batches) {
          ARROW_ASSIGN_OR_RAISE(auto t, WithChangeType(b, "delete"));
          rows.push_back(t);
        }
      }
    }
    for (const auto& b : rows) {
      arrow::ArrayVector cols;
      for (int c = 0; c < out_schema->num_fields() - 2; ++c) cols.push_back(b->column(c));
      ARROW_ASSIGN_OR_RAISE(auto ver, arrow::MakeArrayFromScalar(arrow::Int64Scalar(v), b->num_rows()));
      ARROW_ASSIGN_OR_RAISE(auto when, arrow::MakeArrayFromScalar(
                                           arrow::TimestampScalar(ts[v] * 1000, out_schema->fields().back()->type()),
                                           b->num_rows()));
      cols.push_back(ver);
      cols.push_back(when);
      out.push_back(arrow::RecordBatch::Make(out_schema, b->num_rows(), cols));
    }
  }
  return arrow::Table::FromRecordBatches(out_schema, out);
}

}  // namespace strata::exec
