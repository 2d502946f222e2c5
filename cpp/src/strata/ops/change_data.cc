#include "strata/ops/change_data.h"

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/type.h>

#include "strata/ops/write_internal.h"

namespace strata::ops::internal {

const char* ChangeTypeName(ChangeType t) {
  switch (t) {
    case ChangeType::kInsert: return "insert";
    case ChangeType::kDelete: return "delete";
    case ChangeType::kUpdatePreimage: return "update_preimage";
    case ChangeType::kUpdatePostimage: return "update_postimage";
  }
  return "";
}

ChangeData::ChangeData(const table::Snapshot& snapshot)
    : enabled_(snapshot.Property("delta.enableChangeDataFeed") == "true") {}

void ChangeData::Add(std::shared_ptr<arrow::RecordBatch> rows, ChangeType type) {
  if (enabled_ && rows && rows->num_rows() > 0) rows_.emplace_back(std::move(rows), type);
}

Result<std::vector<table::AddCdcFile>> ChangeData::Write(storage::ObjectStore& store, const FileWriteSpec& spec) const {
  std::vector<table::AddCdcFile> out;
  if (rows_.empty()) return out;
  FileWriteSpec cdc = spec;
  cdc.table_schema = *spec.table_schema->AddField(spec.table_schema->num_fields(),
                                                  arrow::field(table::kChangeTypeColumn, arrow::utf8(), false));
  cdc.dir_prefix = "_change_data/";
  cdc.file_prefix = "cdc-";
  cdc.num_indexed_cols = 0;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (const auto& [rows, type] : rows_) {
    ARROW_ASSIGN_OR_RAISE(auto conformed, ConformBatch(*rows, spec.table_schema));
    ARROW_ASSIGN_OR_RAISE(auto kind, arrow::MakeArrayFromScalar(arrow::StringScalar(ChangeTypeName(type)),
                                                                conformed->num_rows()));
    ARROW_ASSIGN_OR_RAISE(auto with_type, conformed->AddColumn(conformed->num_columns(),
                                                               cdc.table_schema->fields().back(), kind));
    batches.push_back(std::move(with_type));
  }
  ARROW_ASSIGN_OR_RAISE(auto adds, WriteDataFiles(store, cdc, batches));
  for (auto& a : adds) {
    table::AddCdcFile c;
    c.path = a.path;
    c.partition_values = a.partition_values;
    c.size = a.size;
    c.data_change = false;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace strata::ops::internal
