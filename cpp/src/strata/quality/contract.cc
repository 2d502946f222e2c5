#include "strata/quality/contract.h"

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "strata/common/json_writer.h"
#include "strata/ops/run_observer.h"
#include "strata/ops/validator.h"
#include "strata/ops/write.h"
#include "strata/table/commit.h"
#include "strata/table/snapshot.h"

namespace strata::quality {

namespace {

std::string Origin(const std::string& source, const Value& v) { return source + ":" + std::to_string(v.line()); }

Status Bad(const std::string& source, const Value& at, const std::string& what) {
  return Error(ErrorCode::kInvalidArgument, "contract ", Origin(source, at), ": ", what);
}

Result<std::string> StringField(const Value& map, const char* key, const std::string& source, bool required) {
  const Value* v = map.Find(key);
  if (!v || v->is_null()) {
    if (required) return Bad(source, map, std::string("missing '") + key + "'");
    return std::string();
  }
  if (!v->is_string()) return Bad(source, *v, std::string("'") + key + "' must be a string");
  return v->as_string();
}

/// Does an Arrow type satisfy a declared type name?
bool TypeMatches(const arrow::DataType& t, const std::string& declared) {
  std::string d;
  for (char c : declared) d += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  using arrow::Type;
  switch (t.id()) {
    case Type::INT8: return d == "int8" || d == "byte" || d == "tinyint";
    case Type::INT16: return d == "int16" || d == "short" || d == "smallint";
    case Type::INT32: return d == "int32" || d == "int" || d == "integer";
    case Type::INT64: return d == "int64" || d == "long" || d == "bigint";
    case Type::UINT8: return d == "uint8";
    case Type::UINT16: return d == "uint16";
    case Type::UINT32: return d == "uint32";
    case Type::UINT64: return d == "uint64";
    case Type::FLOAT: return d == "float32" || d == "float";
    case Type::DOUBLE: return d == "float64" || d == "double";
    case Type::BOOL: return d == "bool" || d == "boolean";
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW: return d == "string" || d == "utf8";
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW: return d == "binary";
    case Type::DATE32:
    case Type::DATE64: return d == "date";
    case Type::TIMESTAMP: return d == "timestamp" || d == "timestamp_ntz" || d == t.ToString();
    case Type::DECIMAL128:
    case Type::DECIMAL256: return d == "decimal" || d == t.ToString();
    default: return d == t.ToString();
  }
}

const std::vector<std::string>& KnownKeys() {
  static const std::vector<std::string> k = {"name", "owner", "description", "schema", "expectations", "on_fail",
                                             "sla", "table"};
  return k;
}

}  // namespace

Result<Contract> Contract::FromYamlString(std::string_view yaml, const std::string& source) {
  ARROW_ASSIGN_OR_RAISE(auto doc, ParseYaml(yaml, source));
  if (!doc.is_map()) return Bad(source, doc, "a contract is a mapping (name, schema, expectations, ...)");
  for (const auto& [k, v] : doc.as_map()) {
    if (std::find(KnownKeys().begin(), KnownKeys().end(), k) == KnownKeys().end()) {
      return Bad(source, v, "unknown key '" + k + "' (expected name, owner, description, schema, expectations, "
                            "on_fail, sla)");
    }
  }
  Contract c;
  c.yaml_ = std::string(yaml);
  ARROW_ASSIGN_OR_RAISE(c.name_, StringField(doc, "name", source, true));
  ARROW_ASSIGN_OR_RAISE(c.owner_, StringField(doc, "owner", source, false));
  ARROW_ASSIGN_OR_RAISE(c.description_, StringField(doc, "description", source, false));
  ARROW_ASSIGN_OR_RAISE(auto on_fail, StringField(doc, "on_fail", source, false));
  if (on_fail == "quarantine") {
    c.on_fail_ = OnFail::kQuarantine;
  } else if (on_fail.empty() || on_fail == "reject") {
    c.on_fail_ = OnFail::kReject;
  } else {
    return Bad(source, *doc.Find("on_fail"), "on_fail must be 'reject' or 'quarantine', not '" + on_fail + "'");
  }
  if (const Value* schema = doc.Find("schema"); schema && !schema->is_null()) {
    if (!schema->is_list()) return Bad(source, *schema, "'schema' must be a list of {name, type, nullable}");
    for (const auto& col : schema->as_list()) {
      if (!col.is_map()) return Bad(source, col, "a schema entry must be a mapping {name, type, nullable}");
      for (const auto& [k, v] : col.as_map()) {
        if (k != "name" && k != "type" && k != "nullable" && k != "description") {
          return Bad(source, v, "unknown key '" + k + "' in a schema entry (expected name, type, nullable)");
        }
      }
      ColumnContract cc;
      ARROW_ASSIGN_OR_RAISE(cc.name, StringField(col, "name", source, true));
      ARROW_ASSIGN_OR_RAISE(cc.type, StringField(col, "type", source, true));
      if (const Value* n = col.Find("nullable"); n && !n->is_null()) {
        if (!n->is_bool()) return Bad(source, *n, "'nullable' must be true or false");
        cc.nullable = n->as_bool();
      }
      cc.origin = Origin(source, col);
      for (const auto& other : c.columns_) {
        if (other.name == cc.name) return Bad(source, col, "column '" + cc.name + "' is declared twice");
      }
      c.columns_.push_back(std::move(cc));
    }
  }
  std::vector<ExpectationSpec> rules;
  if (const Value* ex = doc.Find("expectations"); ex && !ex->is_null()) {
    ARROW_ASSIGN_OR_RAISE(rules, ParseExpectationList(*ex, source));
  }
  ARROW_ASSIGN_OR_RAISE(auto suite, Suite::Make(c.name_, std::move(rules)));
  c.rules_ = std::make_shared<Suite>(std::move(suite));

  std::vector<ExpectationSpec> sla;
  if (const Value* s = doc.Find("sla"); s && !s->is_null()) {
    if (!s->is_map()) return Bad(source, *s, "'sla' must be a mapping {freshness, completeness}");
    for (const auto& [k, v] : s->as_map()) {
      if (k == "freshness") {
        if (!v.is_map()) return Bad(source, v, "sla.freshness must be {column, max_age}");
        ARROW_ASSIGN_OR_RAISE(auto column, StringField(v, "column", source, true));
        const Value* age = v.Find("max_age");
        if (!age || !age->is_string()) return Bad(source, v, "sla.freshness needs max_age (e.g. 2h)");
        c.freshness_column_ = column;
        auto spec = ExpectationSpec::Make("freshness", {{"column", Value::String(column)}, {"max_age", *age}});
        spec.origin = Origin(source, v);
        sla.push_back(std::move(spec));
      } else if (k == "completeness") {
        if (!v.is_number() || v.as_double() < 0 || v.as_double() > 1) {
          return Bad(source, v, "sla.completeness must be a fraction between 0 and 1");
        }
        if (c.columns_.empty()) return Bad(source, v, "sla.completeness needs the columns declared in 'schema'");
        // Completeness: every declared column has at least this fraction of non-null values.
        for (const auto& col : c.columns_) {
          auto spec = ExpectationSpec::Make("null_proportion_between", {{"column", Value::String(col.name)},
                                                                         {"max", Value::Double(1.0 - v.as_double())}});
          spec.origin = Origin(source, v);
          sla.push_back(std::move(spec));
        }
      } else {
        return Bad(source, v, "unknown SLA '" + k + "' (expected freshness, completeness)");
      }
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto sla_suite, Suite::Make(c.name_ + " (sla)", std::move(sla)));
  c.sla_ = std::make_shared<Suite>(std::move(sla_suite));
  return c;
}

Result<Contract> Contract::FromYamlFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(ErrorCode::kInvalidArgument, "cannot read contract file '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return FromYamlString(ss.str(), path);
}

std::vector<std::string> Contract::SchemaViolations(const arrow::Schema& schema) const {
  std::vector<std::string> out;
  for (const auto& c : columns_) {
    auto f = schema.GetFieldByName(c.name);
    if (!f) {
      out.push_back("column '" + c.name + "' (" + c.origin + ") is missing");
      continue;
    }
    if (!TypeMatches(*f->type(), c.type)) {
      out.push_back("column '" + c.name + "' is " + f->type()->ToString() + ", the contract (" + c.origin +
                    ") says " + c.type);
    }
  }
  return out;
}

// ---- the gate ---------------------------------------------------------------------------------

namespace {

std::shared_ptr<arrow::Schema> QuarantineSchema(const arrow::Schema& table) {
  arrow::FieldVector fields;
  for (const auto& f : table.fields()) fields.push_back(f->WithNullable(true)->WithMetadata(nullptr));
  fields.push_back(arrow::field("_quarantine_reason", arrow::utf8()));
  fields.push_back(arrow::field("_quarantine_operation", arrow::utf8()));
  fields.push_back(arrow::field("_quarantine_write_id", arrow::utf8()));
  fields.push_back(arrow::field("_quarantine_read_version", arrow::int64()));
  fields.push_back(arrow::field("_quarantined_at", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")));
  return arrow::schema(fields);
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The results of a gated write as rows of the results table.
Result<std::shared_ptr<arrow::RecordBatch>> ResultRows(const Report& report, const std::string& contract,
                                                       const std::string& operation, const std::string& write_id,
                                                       int64_t version, int64_t rows_checked, int64_t quarantined) {
  arrow::Int64Builder ver, checked, quar, unexpected;
  arrow::TimestampBuilder at(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  arrow::StringBuilder con, op, wid, name, type, column, observed, error;
  arrow::BooleanBuilder ok;
  arrow::DoubleBuilder pct;
  int64_t now = NowMicros();
  for (const auto& r : report.results) {
    ARROW_RETURN_NOT_OK(ver.Append(version));
    ARROW_RETURN_NOT_OK(at.Append(now));
    ARROW_RETURN_NOT_OK(con.Append(contract));
    ARROW_RETURN_NOT_OK(op.Append(operation));
    ARROW_RETURN_NOT_OK(wid.Append(write_id));
    ARROW_RETURN_NOT_OK(name.Append(r.name));
    ARROW_RETURN_NOT_OK(type.Append(r.type));
    ARROW_RETURN_NOT_OK(column.Append(r.column));
    ARROW_RETURN_NOT_OK(ok.Append(r.success));
    if (r.unexpected_count) {
      ARROW_RETURN_NOT_OK(unexpected.Append(*r.unexpected_count));
    } else {
      ARROW_RETURN_NOT_OK(unexpected.AppendNull());
    }
    if (r.unexpected_percent) {
      ARROW_RETURN_NOT_OK(pct.Append(*r.unexpected_percent));
    } else {
      ARROW_RETURN_NOT_OK(pct.AppendNull());
    }
    ARROW_RETURN_NOT_OK(observed.Append(r.observed_value.ToJson()));
    ARROW_RETURN_NOT_OK(error.Append(r.error));
    ARROW_RETURN_NOT_OK(checked.Append(rows_checked));
    ARROW_RETURN_NOT_OK(quar.Append(quarantined));
  }
  auto schema = arrow::schema({arrow::field("table_version", arrow::int64()),
                               arrow::field("checked_at", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
                               arrow::field("contract", arrow::utf8()), arrow::field("operation", arrow::utf8()),
                               arrow::field("write_id", arrow::utf8()), arrow::field("expectation", arrow::utf8()),
                               arrow::field("type", arrow::utf8()), arrow::field("column", arrow::utf8()),
                               arrow::field("success", arrow::boolean()),
                               arrow::field("unexpected_count", arrow::int64()),
                               arrow::field("unexpected_percent", arrow::float64()),
                               arrow::field("observed_value", arrow::utf8()), arrow::field("error", arrow::utf8()),
                               arrow::field("rows_checked", arrow::int64()),
                               arrow::field("rows_quarantined", arrow::int64())});
  arrow::ArrayVector cols(15);
  ARROW_RETURN_NOT_OK(ver.Finish(&cols[0]));
  ARROW_RETURN_NOT_OK(at.Finish(&cols[1]));
  ARROW_RETURN_NOT_OK(con.Finish(&cols[2]));
  ARROW_RETURN_NOT_OK(op.Finish(&cols[3]));
  ARROW_RETURN_NOT_OK(wid.Finish(&cols[4]));
  ARROW_RETURN_NOT_OK(name.Finish(&cols[5]));
  ARROW_RETURN_NOT_OK(type.Finish(&cols[6]));
  ARROW_RETURN_NOT_OK(column.Finish(&cols[7]));
  ARROW_RETURN_NOT_OK(ok.Finish(&cols[8]));
  ARROW_RETURN_NOT_OK(unexpected.Finish(&cols[9]));
  ARROW_RETURN_NOT_OK(pct.Finish(&cols[10]));
  ARROW_RETURN_NOT_OK(observed.Finish(&cols[11]));
  ARROW_RETURN_NOT_OK(error.Finish(&cols[12]));
  ARROW_RETURN_NOT_OK(checked.Finish(&cols[13]));
  ARROW_RETURN_NOT_OK(quar.Finish(&cols[14]));
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(report.results.size()), cols);
}

std::string FailureSummary(const Report& report) {
  std::string out;
  for (const auto& r : report.results) {
    if (r.success) continue;
    if (!out.empty()) out += "; ";
    out += r.name;
    if (!r.origin.empty()) out += " (" + r.origin + ")";
    if (r.unexpected_count) out += ": " + std::to_string(*r.unexpected_count) + " unexpected rows";
    if (!r.observed_value.is_null()) out += ", observed " + r.observed_value.ToString();
    if (!r.error.empty()) out += ": " + r.error;
  }
  return out;
}

class ContractGate : public ops::PreCommitValidator {
 public:
  ContractGate(std::shared_ptr<storage::ObjectStore> store, Contract contract, int64_t read_version)
      : store_(std::move(store)), contract_(std::move(contract)), read_version_(read_version) {}

  Result<ops::Verdict> Validate(ops::PendingRows pending) override {
    const std::string where = "table '" + store_->root() + "': contract '" + contract_.name() + "'";
    ops::Verdict verdict;
    if (pending.rows.empty()) {
      verdict.publish = std::move(pending.rows);
      return verdict;
    }
    // 1. Schema: the declared columns, types and NOT NULL.
    auto schema = pending.rows.front()->schema();
    auto violations = contract_.SchemaViolations(*schema);
    for (const auto& c : contract_.columns()) {
      if (c.nullable || !schema->GetFieldByName(c.name)) continue;
      int64_t nulls = 0;
      for (const auto& b : pending.rows) nulls += b->GetColumnByName(c.name)->null_count();
      if (nulls > 0) {
        violations.push_back(std::to_string(nulls) + " rows have NULL in column '" + c.name +
                             "', declared NOT NULL (" + c.origin + ")");
      }
    }
    if (!violations.empty()) {
      std::string all;
      for (const auto& v : violations) all += (all.empty() ? "" : "; ") + v;
      return Error(ErrorCode::kExpectationFailed, pending.operation, " rejected by ", where, ": ", all);
    }

    // 2. Row-level rules: reject, or split into published and quarantined rows.
    std::string write_id = table::NewUuid();
    int64_t checked = 0, quarantined = 0;
    std::vector<std::shared_ptr<arrow::RecordBatch>> publish, quarantine;
    const bool may_quarantine = contract_.on_fail() == OnFail::kQuarantine && pending.may_quarantine;
    // Without quarantine every offered row is published or none is: the suite's report decides.
    std::shared_ptr<RowChecker> checker;
    if (may_quarantine && !contract_.rules().expectations().empty()) {
      ARROW_ASSIGN_OR_RAISE(checker, contract_.rules().MakeRowChecker(schema));
    }
    for (const auto& b : pending.rows) {
      checked += b->num_rows();
      if (!checker || checker->row_expectations().empty()) {
        publish.push_back(b);
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(auto failures, checker->Check(b));
      if (failures.num_failed == 0) {
        publish.push_back(b);
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(auto pass_mask, arrow::compute::Invert(failures.failed));
      ARROW_ASSIGN_OR_RAISE(auto passed, arrow::compute::Filter(b, pass_mask));
      ARROW_ASSIGN_OR_RAISE(auto failed, arrow::compute::Filter(b, failures.failed));
      ARROW_ASSIGN_OR_RAISE(auto reasons, arrow::compute::Filter(failures.reasons, failures.failed));
      if (passed.record_batch()->num_rows() > 0) publish.push_back(passed.record_batch());
      ARROW_ASSIGN_OR_RAISE(auto q, QuarantineRows(failed.record_batch(), reasons.make_array(), pending.operation,
                                                   write_id));
      quarantined += q->num_rows();
      quarantine.push_back(std::move(q));
    }

    // 3. Every rule (aggregates included) over the rows to publish (all offered rows when not
    //    quarantining); with quarantine the row-level rules pass by construction, so what fails
    //    here rejects the write.
    Report report;
    if (!contract_.rules().expectations().empty()) {
      ARROW_ASSIGN_OR_RAISE(auto table, publish.empty() ? arrow::Table::MakeEmpty(schema)
                                                        : arrow::Table::FromRecordBatches(schema, publish));
      ARROW_ASSIGN_OR_RAISE(report, contract_.rules().Validate(table));
      if (!report.success) {
        return Error(ErrorCode::kExpectationFailed, pending.operation, " rejected by ", where, ": ",
                     FailureSummary(report),
                     pending.may_quarantine || contract_.on_fail() == OnFail::kReject
                         ? ""
                         : " (an update cannot quarantine rows: the new image of a row would be lost)");
      }
    }

    // Quarantined rows are made durable before the commit that publishes the others.
    if (!quarantine.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto qtable, arrow::Table::FromRecordBatches(quarantine));
      ARROW_ASSIGN_OR_RAISE(auto qbatch, qtable->CombineChunksToBatch());
      auto st = AppendToSideTable(store_, kQuarantineTable, qbatch);
      if (!st.ok()) return WithContext(st, where + ": cannot write the quarantine table (nothing was committed)");
    }

    JsonWriter w;
    w.BeginObject();
    w.Key("contract").String(contract_.name());
    w.Key("writeId").String(write_id);
    w.Key("success").Bool(true);
    w.Key("rowsChecked").Int(checked);
    w.Key("rowsQuarantined").Int(quarantined);
    w.Key("expectations").Int(static_cast<int64_t>(report.results.size()));
    w.EndObject();
    verdict.commit_info_json = w.Release();
    verdict.publish = std::move(publish);
    verdict.quarantined_rows = quarantined;
    auto store = store_;
    std::string contract = contract_.name(), operation = pending.operation;
    verdict.after_commit = [store, report, contract, operation, write_id, checked, quarantined](int64_t version) {
      if (report.results.empty()) return Status::OK();
      ARROW_ASSIGN_OR_RAISE(auto rows,
                            ResultRows(report, contract, operation, write_id, version, checked, quarantined));
      auto st = AppendToSideTable(store, kResultsTable, rows);
      if (!st.ok()) {
        return WithContext(st, "version " + std::to_string(version) + " was committed, but its quality results "
                               "could not be recorded");
      }
      return Status::OK();
    };
    return verdict;
  }

 private:
  Result<std::shared_ptr<arrow::RecordBatch>> QuarantineRows(const std::shared_ptr<arrow::RecordBatch>& rows,
                                                              const std::shared_ptr<arrow::Array>& reasons,
                                                              const std::string& operation,
                                                              const std::string& write_id) {
    auto qschema = QuarantineSchema(*rows->schema());
    int64_t n = rows->num_rows();
    arrow::ArrayVector cols = rows->columns();
    cols.push_back(reasons);
    ARROW_ASSIGN_OR_RAISE(auto op, arrow::MakeArrayFromScalar(arrow::StringScalar(operation), n));
    ARROW_ASSIGN_OR_RAISE(auto wid, arrow::MakeArrayFromScalar(arrow::StringScalar(write_id), n));
    ARROW_ASSIGN_OR_RAISE(auto rv, arrow::MakeArrayFromScalar(arrow::Int64Scalar(read_version_), n));
    ARROW_ASSIGN_OR_RAISE(auto at, arrow::MakeArrayFromScalar(
                                       arrow::TimestampScalar(NowMicros(), arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
                                       n));
    cols.insert(cols.end(), {op, wid, rv, at});
    return arrow::RecordBatch::Make(qschema, n, cols);
  }

  std::shared_ptr<storage::ObjectStore> store_;
  Contract contract_;
  int64_t read_version_;
};

}  // namespace

Status AppendToSideTable(const std::shared_ptr<storage::ObjectStore>& store, std::string_view rel,
                         std::shared_ptr<arrow::RecordBatch> rows) {
  ARROW_ASSIGN_OR_RAISE(auto side, store->OpenChild(std::string(rel)));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make({std::move(rows)}));
  ops::WriteOptions o;
  o.schema_mode = table::SchemaMode::kMerge;  // the table's schema may have grown since
  ops::ScopedRunsUnobserved bookkeeping;      // not a run of its own
  return ops::WriteTable(side, reader, o).status();
}

Result<std::optional<Contract>> LoadContract(const std::shared_ptr<storage::ObjectStore>& store) {
  ARROW_ASSIGN_OR_RAISE(auto head, store->Head(kContractFile));
  if (!head) return std::optional<Contract>();
  ARROW_ASSIGN_OR_RAISE(auto buf, store->Read(kContractFile));
  std::string source = store->root() + "/" + kContractFile;
  ARROW_ASSIGN_OR_RAISE(auto c, Contract::FromYamlString(std::string_view(buf->ToString()), source));
  return std::optional<Contract>(std::move(c));
}

Status AttachContract(const std::shared_ptr<storage::ObjectStore>& store, std::string_view yaml) {
  ARROW_ASSIGN_OR_RAISE(auto c, Contract::FromYamlString(yaml, "contract"));
  ARROW_ASSIGN_OR_RAISE(auto snap, table::Snapshot::Load(store, std::nullopt, /*with_files=*/false));
  auto violations = c.SchemaViolations(*snap->schema());
  if (!violations.empty()) {
    std::string all;
    for (const auto& v : violations) all += (all.empty() ? "" : "; ") + v;
    return Error(ErrorCode::kSchemaMismatch, "table '", store->root(), "' does not conform to contract '", c.name(),
                 "': ", all);
  }
  // Every column a rule reads must exist.
  for (const auto& col : c.rules().RequiredColumns()) {
    if (!snap->schema()->GetFieldByName(col)) {
      return Error(ErrorCode::kInvalidArgument, "contract '", c.name(), "' checks column '", col, "', which table '",
                   store->root(), "' does not have");
    }
  }
  return store->Write(kContractFile, yaml);
}

Status DetachContract(const std::shared_ptr<storage::ObjectStore>& store) {
  ARROW_ASSIGN_OR_RAISE(auto head, store->Head(kContractFile));
  if (!head) return Status::OK();
  return store->Delete(kContractFile);
}

void InstallContractGate() {
  static std::once_flag once;
  std::call_once(once, [] {
    ops::SetValidatorProvider([](const std::shared_ptr<storage::ObjectStore>& store, const table::Snapshot& snap)
                                  -> Result<std::shared_ptr<ops::PreCommitValidator>> {
      ARROW_ASSIGN_OR_RAISE(auto contract, LoadContract(store));
      if (!contract) return std::shared_ptr<ops::PreCommitValidator>();
      return std::make_shared<ContractGate>(store, std::move(*contract), snap.version());
    });
  });
}

Result<Report> CheckSla(const std::shared_ptr<storage::ObjectStore>& store) {
  ARROW_ASSIGN_OR_RAISE(auto contract, LoadContract(store));
  if (!contract) return Error(ErrorCode::kInvalidArgument, "table '", store->root(), "' has no contract");
  return contract->sla().ValidateTable(store);
}

}  // namespace strata::quality
