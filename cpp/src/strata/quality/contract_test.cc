#include "strata/quality/contract.h"

#include <arrow/api.h>

#include "strata/exec/scan.h"
#include "strata/ops/delete.h"
#include "strata/ops/merge.h"
#include "strata/ops/write.h"
#include "strata/storage/fault_injection.h"
#include "strata/storage/local_store.h"
#include "strata/table/snapshot.h"
#include "strata/testing/gtest_util.h"

namespace strata::quality {
namespace {

std::shared_ptr<arrow::RecordBatch> Rows(std::vector<int64_t> ids, std::vector<std::optional<double>> amounts) {
  arrow::Int64Builder id;
  arrow::DoubleBuilder amount;
  (void)id.AppendValues(ids);
  for (const auto& a : amounts) {
    if (a) (void)amount.Append(*a); else (void)amount.AppendNull();
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("amount", arrow::float64())});
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(ids.size()), {*id.Finish(), *amount.Finish()});
}

std::shared_ptr<arrow::RecordBatchReader> Reader(std::shared_ptr<arrow::RecordBatch> b) {
  return *arrow::RecordBatchReader::Make({std::move(b)});
}

const char* kContract = R"(name: payments
owner: data-platform
schema:
  - {name: id, type: int64, nullable: false}
  - {name: amount, type: float64}
expectations:
  - {type: between, column: amount, min: 0, max: 1000}
  - {type: row_count_between, min: 1}
on_fail: ON_FAIL
)";

std::string WithOnFail(const std::string& on_fail) {
  std::string s = kContract;
  s.replace(s.find("ON_FAIL"), 7, on_fail);
  return s;
}

class ContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InstallContractGate();
    store_ = *storage::MakeLocalStore(dir_.path());
    ASSERT_OK(ops::WriteTable(store_, Reader(Rows({1, 2}, {10, 20})), {}).status());
  }
  std::shared_ptr<arrow::Table> Read(const std::string& rel = "") {
    auto store = rel.empty() ? store_ : *storage::OpenStore(dir_.path() + "/" + rel);
    return *(*exec::ScanToTable(*table::Snapshot::Load(store), {}))->CombineChunks();
  }
  int64_t Version() { return (*table::Snapshot::Load(store_))->version(); }
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_F(ContractTest, RejectLeavesTheTableUnchangedAndNamesTheRule) {
  ASSERT_OK(AttachContract(store_, WithOnFail("reject")));
  auto r = ops::WriteTable(store_, Reader(Rows({3, 4}, {30, 5000})), {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kExpectationFailed));
  EXPECT_NE(r.status().message().find("between(amount)"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("1 unexpected rows"), std::string::npos) << r.status().message();
  EXPECT_EQ(Version(), 0);
  EXPECT_EQ(Read()->num_rows(), 2);
}

TEST_F(ContractTest, RejectModePublishesEveryRowWhenMostlyIsMet) {
  // 1 of 10 rows breaks a rule that needs 80% of rows: the write passes and loses nothing.
  std::string yaml = "name: p\nexpectations:\n  - {type: between, column: amount, min: 0, mostly: 0.8}\n";
  ASSERT_OK(AttachContract(store_, yaml));
  ASSERT_OK_AND_ASSIGN(auto r, ops::WriteTable(store_, Reader(Rows({3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
                                                                   {1, 2, 3, 4, 5, 6, 7, 8, 9, -10})), {}));
  EXPECT_EQ(r.rows_written, 10);
  EXPECT_EQ(r.rows_quarantined, 0);
  EXPECT_EQ(Read()->num_rows(), 12);
  auto bad = ops::WriteTable(store_, Reader(Rows({13, 14}, {-1, -2})), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Read()->num_rows(), 12);
}

TEST_F(ContractTest, QuarantinePublishesPassingRowsAndKeepsFailingOnesWithReasons) {
  ASSERT_OK(AttachContract(store_, WithOnFail("quarantine")));
  ASSERT_OK_AND_ASSIGN(auto r, ops::WriteTable(store_, Reader(Rows({3, 4, 5}, {30, 5000, -1})), {}));
  EXPECT_EQ(r.rows_written, 1);
  EXPECT_EQ(r.rows_quarantined, 2);
  EXPECT_EQ(Read()->num_rows(), 3);
  auto q = Read(kQuarantineTable);
  ASSERT_EQ(q->num_rows(), 2);
  auto ids = std::static_pointer_cast<arrow::Int64Array>(q->GetColumnByName("id")->chunk(0));
  std::set<int64_t> got = {ids->Value(0), ids->Value(1)};
  EXPECT_EQ(got, (std::set<int64_t>{4, 5}));
  auto reason = std::static_pointer_cast<arrow::StringArray>(q->GetColumnByName("_quarantine_reason")->chunk(0));
  EXPECT_NE(reason->GetString(0).find("between(amount)"), std::string::npos);
  // Results: one row per rule, with the version they checked.
  auto res = Read(kResultsTable);
  ASSERT_EQ(res->num_rows(), 2);
  auto ver = std::static_pointer_cast<arrow::Int64Array>(res->GetColumnByName("table_version")->chunk(0));
  EXPECT_EQ(ver->Value(0), r.version);
  auto h = *(*table::Snapshot::Load(store_))->History(1);
  EXPECT_NE(h[0].commit_info.find("\"rowsQuarantined\":2"), std::string::npos) << h[0].commit_info;
}

TEST_F(ContractTest, SideTablesAreWrittenThroughTheTablesStore) {
  // The table's root names nothing OpenStore can open: quarantine and results must go through
  // the store the write was given (on S3, its endpoint and credentials), not through the URI.
  auto only = std::make_shared<storage::RelabeledStore>(store_, "unopenable://payments");
  ASSERT_FALSE(storage::OpenStore(only->root()).ok());
  ASSERT_OK(AttachContract(only, WithOnFail("quarantine")));
  ASSERT_OK_AND_ASSIGN(auto r, ops::WriteTable(only, Reader(Rows({3, 4}, {30, 5000})), {}));
  EXPECT_EQ(r.rows_quarantined, 1);
  EXPECT_EQ(Read(kQuarantineTable)->num_rows(), 1);
  EXPECT_EQ(Read(kResultsTable)->num_rows(), 2);
  EXPECT_EQ(Read()->num_rows(), 3);
}

TEST_F(ContractTest, SchemaAndNotNullViolationsRejectEvenInQuarantineMode) {
  ASSERT_OK(AttachContract(store_, WithOnFail("quarantine")));
  auto r = ops::WriteTable(store_, Reader(Rows({3}, {std::nullopt})), {});
  ASSERT_TRUE(r.ok());  // amount is nullable
  arrow::Int64Builder id;
  ASSERT_OK(id.AppendNull());
  arrow::DoubleBuilder amount;
  ASSERT_OK(amount.Append(1));
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("amount", arrow::float64())});
  auto bad = arrow::RecordBatch::Make(schema, 1, {*id.Finish(), *amount.Finish()});
  auto r2 = ops::WriteTable(store_, Reader(bad), {});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("declared NOT NULL"), std::string::npos) << r2.status().message();
}

TEST_F(ContractTest, UpdatesAndMergesCannotQuarantine) {
  ASSERT_OK(AttachContract(store_, WithOnFail("quarantine")));
  auto u = ops::UpdateRows(store_, "id = 1", {{"amount", "amount * 1000"}});
  ASSERT_FALSE(u.ok());
  EXPECT_TRUE(HasCode(u.status(), ErrorCode::kExpectationFailed));
  EXPECT_NE(u.status().message().find("cannot quarantine"), std::string::npos) << u.status().message();
  ops::MergeOptions o;
  o.on = "t.id = s.id";
  o.target_alias = "t";
  o.source_alias = "s";
  ops::MergeClause i;
  i.kind = ops::MergeClause::Kind::kNotMatchedInsert;
  i.all = true;
  o.clauses = {i};
  auto m = ops::MergeInto(store_, Reader(Rows({7}, {-7})), o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(Version(), 0);
  ASSERT_OK(ops::MergeInto(store_, Reader(Rows({7}, {7})), o).status());
  EXPECT_EQ(Read()->num_rows(), 3);
}

TEST_F(ContractTest, AttachChecksTheTableAndDetachStopsTheGate) {
  auto missing = std::string(kContract);
  missing.replace(missing.find("ON_FAIL"), 7, "reject");
  missing.replace(missing.find("name: amount"), 12, "name: price ");
  auto st = AttachContract(store_, missing);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("column 'price'"), std::string::npos) << st.message();
  ASSERT_OK(AttachContract(store_, WithOnFail("reject")));
  ASSERT_FALSE(ops::WriteTable(store_, Reader(Rows({3}, {-3})), {}).ok());
  ASSERT_OK(DetachContract(store_));
  ASSERT_OK(ops::WriteTable(store_, Reader(Rows({3}, {-3})), {}).status());
}

TEST_F(ContractTest, BadContractsNameTheLine) {
  auto r = Contract::FromYamlString("name: x\nschema:\n  - {name: a}\n", "c.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("c.yaml:3"), std::string::npos) << r.status().message();
  auto r2 = Contract::FromYamlString("name: x\non_fail: drop\n", "c.yaml");
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("c.yaml:2"), std::string::npos) << r2.status().message();
  auto r3 = Contract::FromYamlString("name: x\nexpectations:\n  - {type: no_such_rule, column: a}\n", "c.yaml");
  ASSERT_FALSE(r3.ok());
  EXPECT_NE(r3.status().message().find("c.yaml:3"), std::string::npos) << r3.status().message();
  auto r4 = Contract::FromYamlString("name: x\nownr: y\n", "c.yaml");
  ASSERT_FALSE(r4.ok());
  EXPECT_NE(r4.status().message().find("unknown key 'ownr'"), std::string::npos) << r4.status().message();
}

TEST_F(ContractTest, SlaChecksFreshnessAndCompleteness) {
  std::string yaml = "name: p\nschema:\n  - {name: id, type: int64}\n  - {name: amount, type: float64}\nsla: "
                     "{completeness: 0.9}\n";
  ASSERT_OK(AttachContract(store_, yaml));
  ASSERT_OK_AND_ASSIGN(auto ok, CheckSla(store_));
  EXPECT_TRUE(ok.success);
  ASSERT_OK(ops::WriteTable(store_, Reader(Rows({3, 4}, {std::nullopt, std::nullopt})), {}).status());
  ASSERT_OK_AND_ASSIGN(auto bad, CheckSla(store_));  // amount: 2 of 4 null
  EXPECT_FALSE(bad.success);
}

}  // namespace
}  // namespace strata::quality
