#include "strata/ops/delete.h"
#include "strata/ops/validator.h"

#include <algorithm>

#include <arrow/array.h>
#include <arrow/compute/api.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <roaring/roaring64map.hh>

#include "strata/exec/scan.h"
#include "strata/expr/expr.h"
#include "strata/ops/change_data.h"
#include "strata/ops/run_observer.h"
#include "strata/ops/write.h"
#include "strata/ops/write_internal.h"
#include "strata/table/deletion_vector.h"
#include "strata/table/partition.h"
#include "strata/table/stats.h"
#include "strata/table/pruning.h"
#include "strata/table/snapshot.h"

namespace strata::ops {

namespace internal {

bool HasWriterFeature(const table::Protocol& p, const std::string& f) {
  auto fs = p.writer_features.value_or(std::vector<std::string>{});
  return std::find(fs.begin(), fs.end(), f) != fs.end();
}

namespace {

/// Bounds stay valid for the remaining rows but are no longer tight (PROTOCOL.md "Per-file
/// Statistics": tightBounds).
std::optional<std::string> WidenStats(const std::optional<std::string>& stats) {
  if (!stats || stats->size() < 2 || (*stats)[0] != '{') return stats;
  std::string s = *stats;
  auto pos = s.find("\"tightBounds\":");
  if (pos != std::string::npos) {
    auto v = pos + 14;
    if (s.compare(v, 4, "true") == 0) s.replace(v, 4, "false");
    return s;
  }
  return "{\"tightBounds\":false," + s.substr(1);
}

}  // namespace

Result<table::AddFile> MarkRowsDeleted(const table::AddFile& file, const roaring::Roaring64Map& rows, storage::ObjectStore& store,
                                int64_t now_ms) {
  roaring::Roaring64Map dv = rows;
  if (file.deletion_vector) {
    ARROW_ASSIGN_OR_RAISE(auto old, table::LoadDeletionVector(*file.deletion_vector, store));
    dv |= *old;
  }
  table::AddFile a = file;
  ARROW_ASSIGN_OR_RAISE(a.deletion_vector, table::WriteDeletionVector(dv, store));
  a.data_change = true;
  a.modification_time = now_ms;
  a.stats = WidenStats(file.stats);
  return a;
}

}  // namespace internal

namespace {

using internal::HasWriterFeature;

using table::AddFile;

Result<std::shared_ptr<arrow::RecordBatch>> DropRowIds(const std::shared_ptr<arrow::RecordBatch>& b) {
  std::shared_ptr<arrow::RecordBatch> out = b;
  int i = out->schema()->GetFieldIndex(exec::kRowIndexColumn);
  if (i >= 0) {
    ARROW_ASSIGN_OR_RAISE(out, out->RemoveColumn(i));
  }
  return out;
}

/// Applies `set` (column -> bound expression) to a batch: the new rows.
Result<std::shared_ptr<arrow::RecordBatch>> ApplySet(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                     const std::map<std::string, expr::NodePtr>& set) {
  arrow::ArrayVector cols = batch->columns();
  for (const auto& [name, node] : set) {
    int i = batch->schema()->GetFieldIndex(name);
    ARROW_ASSIGN_OR_RAISE(auto arr, expr::Evaluate(node, batch));
    const auto& target = batch->schema()->field(i)->type();
    if (!arr->type()->Equals(*target)) {
      auto casted = arrow::compute::Cast(*arr, target);
      if (!casted.ok()) {
        return Error(ErrorCode::kSchemaMismatch, "UPDATE sets column '", name, "' (", target->ToString(),
                     ") to a value of type ", arr->type()->ToString(), ": ", casted.status().message());
      }
      arr = *casted;
    }
    cols[i] = arr;
  }
  return arrow::RecordBatch::Make(batch->schema(), batch->num_rows(), cols);
}

/// Whether a partition-column-only predicate is TRUE for the file's partition values.
Result<bool> WholeFileMatches(const expr::NodePtr& pred, const AddFile& f, const table::Snapshot& snap) {
  arrow::FieldVector fields;
  arrow::ArrayVector cols;
  for (const auto& c : snap.partition_columns()) {
    auto field = snap.schema()->GetFieldByName(c);
    auto it = f.partition_values.find(c);
    std::optional<std::string> raw = it == f.partition_values.end() ? std::nullopt : it->second;
    ARROW_ASSIGN_OR_RAISE(auto scalar, table::ParsePartitionValue(raw, field->type()));
    ARROW_ASSIGN_OR_RAISE(auto arr, arrow::MakeArrayFromScalar(*scalar, 1));
    fields.push_back(field->WithMetadata(nullptr));
    cols.push_back(arr);
  }
  auto row = arrow::RecordBatch::Make(arrow::schema(fields), 1, cols);
  ARROW_ASSIGN_OR_RAISE(auto m, internal::EvaluatePredicate(pred, row));
  return m->Value(0);
}

/// Rows of a file that are not deleted (numRecords minus the deletion vector), when known.
Result<std::optional<int64_t>> LiveRows(const AddFile& f) {
  ARROW_ASSIGN_OR_RAISE(auto stats, table::ParseFileStats(f.stats));
  if (!stats.num_records) return std::optional<int64_t>();
  return std::optional<int64_t>(*stats.num_records - (f.deletion_vector ? f.deletion_vector->cardinality : 0));
}

Result<DmlResult> Run(std::shared_ptr<storage::ObjectStore> store, const std::string& predicate_sql,
                      const std::map<std::string, std::string>* set_sql, const DmlOptions& options,
                      RunTracker& run) {
  const bool is_update = set_sql != nullptr;
  const char* op = is_update ? "UPDATE" : "DELETE";
  ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(store));
  STRATA_RETURN_NOT_OK_CTX(table::CheckWriteSupport(snap->protocol(), snap->metadata()),
                           std::string("cannot ") + op + " in '" + store->root() + "'");
  if (snap->Property("delta.appendOnly") == "true") {
    return Error(ErrorCode::kInvalidArgument, "table '", store->root(), "' is append-only (delta.appendOnly=true): ",
                 op, " is not allowed");
  }
  expr::NodePtr pred;
  if (!predicate_sql.empty()) {
    ARROW_ASSIGN_OR_RAISE(pred, expr::Parse(predicate_sql));
    ARROW_RETURN_NOT_OK(expr::ToArrow(pred, *snap->schema()).status());
  }
  arrow::FieldVector plain;
  for (const auto& f : snap->schema()->fields()) plain.push_back(f->WithMetadata(nullptr));
  auto plain_schema = arrow::schema(plain);
  std::map<std::string, expr::NodePtr> set;
  if (is_update) {
    if (set_sql->empty()) return Error(ErrorCode::kInvalidArgument, "UPDATE needs at least one column to set");
    for (const auto& [col, sql] : *set_sql) {
      int idx = plain_schema->GetFieldIndex(col);
      if (idx < 0) return Error(ErrorCode::kInvalidArgument, "UPDATE sets unknown column '", col, "'");
      ARROW_ASSIGN_OR_RAISE(auto node, expr::Parse(sql));
      ARROW_RETURN_NOT_OK(WithContext(expr::ToArrow(node, *plain_schema).status(), "SET " + col));
      set[col] = node;
    }
  }
  bool table_dv = HasWriterFeature(snap->protocol(), "deletionVectors");
  bool use_dv = options.use_deletion_vectors.value_or(snap->Property("delta.enableDeletionVectors") == "true");
  if (use_dv && !table_dv) {
    return Error(ErrorCode::kInvalidArgument, "table '", store->root(),
                 "' does not support deletion vectors; set delta.enableDeletionVectors=true when creating it");
  }
  ARROW_ASSIGN_OR_RAISE(auto checks, internal::CollectChecks(*snap->schema(), snap->metadata().configuration));
  run.SetTableProperties(snap->metadata().configuration);

  FileWriteSpec spec;
  spec.table_schema = snap->schema();
  spec.partition_columns = snap->partition_columns();
  spec.mapping = snap->column_mapping_mode();
  spec.compression = snap->Property("delta.parquet.compression.codec", "snappy");

  DmlResult result;
  internal::ChangeData cdf(*snap);
  // The new images of updated rows go through the table's validator before the commit.
  std::shared_ptr<PreCommitValidator> validator;
  if (is_update) {
    ARROW_ASSIGN_OR_RAISE(validator, ValidatorFor(store, *snap));
  }
  std::vector<std::shared_ptr<arrow::RecordBatch>> new_images;
  // New images are kept for the validator, and for run monitoring when the table has an
  // event-time column (the newest event among them).
  const bool keep_images =
      validator || (is_update && run.active() && !EventTimeColumn(store, snap->metadata().configuration,
                                                                  *snap->schema()).empty());
  table::Commit commit;
  commit.read_snapshot = snap;
  commit.operation = op;
  commit.read_scope = pred ? table::Commit::ReadScope::kPredicate : table::Commit::ReadScope::kAll;
  commit.read_predicate = pred;
  int64_t now = table::NowMs();
  std::vector<std::shared_ptr<arrow::RecordBatch>> to_write;

  // A predicate over partition columns only is decided per file from its partition values: a
  // DELETE then drops whole files without opening them (unless the change feed needs their rows).
  bool partition_only = pred != nullptr;
  for (const auto& c : expr::ReferencedColumns(pred)) {
    const auto& pc = snap->partition_columns();
    partition_only &= std::find(pc.begin(), pc.end(), c) != pc.end();
  }
  // A DELETE that marks rows in deletion vectors (and records no change data) needs only the
  // predicate's columns, not the rows themselves.
  std::vector<std::string> narrow_columns;
  if (pred && use_dv && !is_update && !cdf.enabled()) {
    for (const auto& path : expr::ReferencedColumns(pred)) {
      std::string top = path.substr(0, path.find('.'));
      int idx = internal::FindColumn(*snap->schema(), top);
      if (idx < 0) {
        narrow_columns.clear();
        break;
      }
      const auto& name = snap->schema()->field(idx)->name();
      if (std::find(narrow_columns.begin(), narrow_columns.end(), name) == narrow_columns.end()) {
        narrow_columns.push_back(name);
      }
    }
  }
  for (const auto& f : snap->files()) {
    if (pred && !table::FileMayMatch(pred, f, *snap)) {
      ++result.files_skipped;
      continue;
    }
    if (partition_only && !is_update && !cdf.enabled()) {
      ARROW_ASSIGN_OR_RAISE(bool all, WholeFileMatches(pred, f, *snap));
      ARROW_ASSIGN_OR_RAISE(auto live, LiveRows(f));
      if (all && live) {
        commit.read_files.insert(table::FileKey(f.path, f.deletion_vector));
        commit.actions.push_back(table::RemoveFor(f, now));
        ++result.files_removed;
        ++result.files_dropped_unread;
        result.rows_deleted += *live;
        continue;
      }
    }
    exec::ScanOptions so;
    so.with_row_ids = true;
    so.columns = narrow_columns;
    so.row_group_parallelism = 0;  // one per core
    ARROW_ASSIGN_OR_RAISE(auto batches, exec::ReadFile(*snap, f, so));
    int64_t live = 0, matched = 0;
    std::vector<std::shared_ptr<arrow::BooleanArray>> masks;
    for (const auto& b : batches) {
      ARROW_ASSIGN_OR_RAISE(auto data, DropRowIds(b));
      ARROW_ASSIGN_OR_RAISE(auto m, internal::EvaluatePredicate(pred, data));
      live += b->num_rows();
      matched += m->true_count();
      masks.push_back(m);
    }
    if (matched == 0) continue;
    commit.read_files.insert(table::FileKey(f.path, f.deletion_vector));
    if (is_update) result.rows_updated += matched; else result.rows_deleted += matched;
    if (cdf.enabled()) {
      for (size_t i = 0; i < batches.size(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto data, DropRowIds(batches[i]));
        ARROW_ASSIGN_OR_RAISE(auto sel, arrow::compute::Filter(data, masks[i]));
        auto pre = sel.record_batch();
        if (!is_update) {
          cdf.Add(pre, internal::ChangeType::kDelete);
          continue;
        }
        ARROW_ASSIGN_OR_RAISE(auto post, ApplySet(pre, set));
        cdf.Add(pre, internal::ChangeType::kUpdatePreimage);
        cdf.Add(post, internal::ChangeType::kUpdatePostimage);
      }
    }
    if (!is_update && matched == live) {
      commit.actions.push_back(table::RemoveFor(f, now));
      ++result.files_removed;
      continue;
    }
    if (use_dv) {
      // Mark the matched rows deleted; updated rows are written again as new rows.
      roaring::Roaring64Map rows;
      for (size_t i = 0; i < batches.size(); ++i) {
        auto idx = std::static_pointer_cast<arrow::Int64Array>(batches[i]->GetColumnByName(exec::kRowIndexColumn));
        for (int64_t r = 0; r < masks[i]->length(); ++r) {
          if (masks[i]->Value(r)) rows.add(static_cast<uint64_t>(idx->Value(r)));
        }
        if (is_update) {
          ARROW_ASSIGN_OR_RAISE(auto data, DropRowIds(batches[i]));
          ARROW_ASSIGN_OR_RAISE(auto sel, arrow::compute::Filter(data, masks[i]));
          ARROW_ASSIGN_OR_RAISE(auto updated, ApplySet(sel.record_batch(), set));
          if (keep_images) new_images.push_back(updated);
          to_write.push_back(updated);
        }
      }
      commit.actions.push_back(table::RemoveFor(f, now));
      ARROW_ASSIGN_OR_RAISE(auto kept, internal::MarkRowsDeleted(f, rows, *store, now));
      commit.actions.push_back(std::move(kept));
      ++result.deletion_vectors_added;
      continue;
    }
    // Copy-on-write: the file's live rows, minus deleted or with updated values.
    for (size_t i = 0; i < batches.size(); ++i) {
      ARROW_ASSIGN_OR_RAISE(auto data, DropRowIds(batches[i]));
      if (is_update) {
        ARROW_ASSIGN_OR_RAISE(auto updated, ApplySet(data, set));
        arrow::ArrayVector cols;
        for (int c = 0; c < data->num_columns(); ++c) {
          ARROW_ASSIGN_OR_RAISE(auto chosen, arrow::compute::IfElse(masks[i], updated->column(c), data->column(c)));
          cols.push_back(chosen.make_array());
        }
        to_write.push_back(arrow::RecordBatch::Make(data->schema(), data->num_rows(), cols));
        if (keep_images) {
          ARROW_ASSIGN_OR_RAISE(auto images, arrow::compute::Filter(to_write.back(), masks[i]));
          new_images.push_back(images.record_batch());
        }
      } else {
        ARROW_ASSIGN_OR_RAISE(auto keep, arrow::compute::Invert(masks[i]));
        ARROW_ASSIGN_OR_RAISE(auto sel, arrow::compute::Filter(data, keep));
        if (sel.record_batch()->num_rows() > 0) to_write.push_back(sel.record_batch());
      }
    }
    commit.actions.push_back(table::RemoveFor(f, now));
    ++result.files_removed;
  }
  if (commit.actions.empty() && to_write.empty()) return result;  // nothing matched: no commit

  std::vector<std::shared_ptr<arrow::RecordBatch>> conformed;
  for (const auto& b : to_write) {
    ARROW_ASSIGN_OR_RAISE(auto c, internal::ConformBatch(*b, snap->schema()));
    ARROW_RETURN_NOT_OK(internal::RunChecks(checks, c));
    conformed.push_back(c);
  }
  if (run.active() && !new_images.empty()) run.Published(store, *snap->schema(), new_images);
  Verdict verdict;
  if (validator) {
    std::vector<std::shared_ptr<arrow::RecordBatch>> images;
    for (const auto& b : new_images) {
      ARROW_ASSIGN_OR_RAISE(auto c, internal::ConformBatch(*b, snap->schema()));
      images.push_back(std::move(c));
    }
    ARROW_ASSIGN_OR_RAISE(verdict, validator->Validate({op, std::move(images), /*may_quarantine=*/false}));
    if (!verdict.commit_info_json.empty()) commit.extra_commit_info["strataQuality"] = verdict.commit_info_json;
  }
  ARROW_ASSIGN_OR_RAISE(auto adds, WriteDataFiles(*store, spec, conformed));
  for (auto& a : adds) {
    commit.actions.push_back(std::move(a));
    ++result.files_added;
  }
  ARROW_ASSIGN_OR_RAISE(auto cdc, cdf.Write(*store, spec));
  for (auto& c : cdc) commit.actions.push_back(std::move(c));
  if (!predicate_sql.empty()) commit.operation_parameters["predicate"] = predicate_sql;
  commit.operation_metrics["numRemovedFiles"] = std::to_string(result.files_removed);
  commit.operation_metrics["numAddedFiles"] = std::to_string(result.files_added);
  commit.operation_metrics["numDeletionVectorsAdded"] = std::to_string(result.deletion_vectors_added);
  if (is_update) {
    commit.operation_metrics["numUpdatedRows"] = std::to_string(result.rows_updated);
  } else {
    commit.operation_metrics["numDeletedRows"] = std::to_string(result.rows_deleted);
  }
  ARROW_ASSIGN_OR_RAISE(result.version, table::CommitToTable(store, std::move(commit), options.commit));
  run.event().version = result.version;
  if (verdict.after_commit) ARROW_RETURN_NOT_OK(verdict.after_commit(result.version));
  return result;
}

/// Runs a DELETE or UPDATE and reports it to the run observers.
Result<DmlResult> TrackedRun(std::shared_ptr<storage::ObjectStore> store, const std::string& predicate,
                             const std::map<std::string, std::string>* set, const DmlOptions& options) {
  RunTracker run(store, set ? "UPDATE" : "DELETE");
  auto result = Run(std::move(store), predicate, set, options, run);
  if (result.ok()) {
    run.event().rows_in = set ? result->rows_updated : result->rows_deleted;
    run.event().rows_out = result->rows_updated;
  }
  run.Finish(result.status());
  return result;
}

}  // namespace

Result<DmlResult> DeleteRows(std::shared_ptr<storage::ObjectStore> store, const std::string& predicate,
                             const DmlOptions& options) {
  return TrackedRun(std::move(store), predicate, nullptr, options);
}

Result<DmlResult> UpdateRows(std::shared_ptr<storage::ObjectStore> store, const std::string& predicate,
                             const std::map<std::string, std::string>& set, const DmlOptions& options) {
  return TrackedRun(std::move(store), predicate, &set, options);
}

}  // namespace strata::ops
