#include "strata/ops/validator.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "strata/exec/scan.h"
#include "strata/ops/delete.h"
#include "strata/ops/merge.h"
#include "strata/ops/write.h"
#include "strata/storage/local_store.h"
#include "strata/table/snapshot.h"
#include "strata/testing/gtest_util.h"

namespace strata::ops {
namespace {

std::shared_ptr<arrow::RecordBatch> Rows(std::vector<int64_t> ids, std::vector<double> vs) {
  arrow::Int64Builder id;
  arrow::DoubleBuilder v;
  (void)id.AppendValues(ids);
  (void)v.AppendValues(vs);
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("v", arrow::float64())});
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(ids.size()), {*id.Finish(), *v.Finish()});
}

std::shared_ptr<arrow::RecordBatchReader> Reader(std::shared_ptr<arrow::RecordBatch> b) {
  return *arrow::RecordBatchReader::Make({std::move(b)});
}

/// A validator whose rule is "v >= 0": rejects, or (when allowed and asked) quarantines.
class NonNegative : public PreCommitValidator {
 public:
  explicit NonNegative(bool quarantine) : quarantine_(quarantine) {}
  Result<Verdict> Validate(PendingRows pending) override {
    ++calls;
    last_operation = pending.operation;
    Verdict out;
    int64_t bad = 0;
    for (const auto& b : pending.rows) {
      auto v = std::static_pointer_cast<arrow::DoubleArray>(b->GetColumnByName("v"));
      arrow::BooleanBuilder keep;
      for (int64_t i = 0; i < b->num_rows(); ++i) {
        bool ok = v->Value(i) >= 0;
        bad += !ok;
        (void)keep.Append(ok);
        seen.push_back(v->Value(i));
      }
      auto mask = *keep.Finish();
      ARROW_ASSIGN_OR_RAISE(auto kept, arrow::compute::Filter(b, mask));
      out.publish.push_back(kept.record_batch());
    }
    if (bad > 0 && !(quarantine_ && pending.may_quarantine)) {
      return Error(ErrorCode::kExpectationFailed, bad, " rows have v < 0");
    }
    out.quarantined_rows = bad;
    out.commit_info_json = "{\"checked\":" + std::to_string(seen.size()) + "}";
    out.after_commit = [this](int64_t version) {
      committed_version = version;
      return Status::OK();
    };
    return out;
  }
  int calls = 0;
  std::string last_operation;
  std::vector<double> seen;
  int64_t committed_version = -1;

 private:
  bool quarantine_;
};

class ValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *storage::MakeLocalStore(dir_.path());
    ASSERT_OK(WriteTable(store_, Reader(Rows({1, 2, 3}, {1, 2, 3})), {}).status());  // before any provider
  }
  void TearDown() override { SetValidatorProvider(nullptr); }
  void Install(std::shared_ptr<NonNegative> v) {
    SetValidatorProvider([v](const std::shared_ptr<storage::ObjectStore>&, const table::Snapshot&)
                             -> Result<std::shared_ptr<PreCommitValidator>> { return v; });
  }
  std::vector<double> Values() {
    auto t = *(*exec::ScanToTable(*table::Snapshot::Load(store_), {}))->CombineChunks();
    auto v = std::static_pointer_cast<arrow::DoubleArray>(t->GetColumnByName("v")->chunk(0));
    std::vector<double> out(v->raw_values(), v->raw_values() + v->length());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string LastCommitInfo() {
    auto h = *(*table::Snapshot::Load(store_))->History(1);
    return h.at(0).commit_info;
  }
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_F(ValidatorTest, RejectedAppendLeavesTheTableUnchanged) {
  auto v = std::make_shared<NonNegative>(false);
  Install(v);
  auto r = WriteTable(store_, Reader(Rows({4, 5}, {4, -5})), {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kExpectationFailed)) << r.status().ToString();
  EXPECT_EQ((*table::Snapshot::Load(store_))->version(), 0);
  EXPECT_EQ(Values(), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(v->committed_version, -1);
}

TEST_F(ValidatorTest, QuarantinePublishesThePassingRowsAndRecordsTheResult) {
  auto v = std::make_shared<NonNegative>(true);
  Install(v);
  ASSERT_OK_AND_ASSIGN(auto r, WriteTable(store_, Reader(Rows({4, 5, 6}, {4, -5, 6})), {}));
  EXPECT_EQ(r.rows_written, 2);
  EXPECT_EQ(r.rows_quarantined, 1);
  EXPECT_EQ(Values(), (std::vector<double>{1, 2, 3, 4, 6}));
  EXPECT_EQ(v->committed_version, r.version);
  EXPECT_NE(LastCommitInfo().find("\"strataQuality\":{\"checked\":3}"), std::string::npos) << LastCommitInfo();
}

TEST_F(ValidatorTest, UpdateSeesOnlyTheNewImagesAndCannotQuarantine) {
  auto v = std::make_shared<NonNegative>(true);  // quarantine asked, but an update may not drop rows
  Install(v);
  auto bad = UpdateRows(store_, "id = 2", {{"v", "-v"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(HasCode(bad.status(), ErrorCode::kExpectationFailed));
  EXPECT_EQ(v->last_operation, "UPDATE");
  EXPECT_EQ(v->seen, (std::vector<double>{-2}));  // the new image only, not the copied rows
  EXPECT_EQ((*table::Snapshot::Load(store_))->version(), 0);
  ASSERT_OK_AND_ASSIGN(auto good, UpdateRows(store_, "id = 2", {{"v", "v * 10"}}));
  EXPECT_EQ(v->committed_version, good.version);
  EXPECT_EQ(Values(), (std::vector<double>{1, 3, 20}));
}

TEST_F(ValidatorTest, MergeSeesUpdatedAndInsertedRowsBeforeItCommits) {
  auto v = std::make_shared<NonNegative>(true);
  Install(v);
  MergeOptions o;
  o.on = "t.id = s.id";
  o.target_alias = "t";
  o.source_alias = "s";
  MergeClause u;
  u.kind = MergeClause::Kind::kMatchedUpdate;
  u.all = true;
  MergeClause i;
  i.kind = MergeClause::Kind::kNotMatchedInsert;
  i.all = true;
  o.clauses = {u, i};
  auto bad = MergeInto(store_, Reader(Rows({3, 9}, {30, -9})), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(HasCode(bad.status(), ErrorCode::kExpectationFailed));
  EXPECT_EQ(v->last_operation, "MERGE");
  std::sort(v->seen.begin(), v->seen.end());
  EXPECT_EQ(v->seen, (std::vector<double>{-9, 30}));  // copied rows 1 and 2 are not new
  EXPECT_EQ(Values(), (std::vector<double>{1, 2, 3}));
  ASSERT_OK_AND_ASSIGN(auto good, MergeInto(store_, Reader(Rows({3, 9}, {30, 9})), o));
  EXPECT_EQ(v->committed_version, good.version);
  EXPECT_EQ(Values(), (std::vector<double>{1, 2, 9, 30}));
  EXPECT_NE(LastCommitInfo().find("\"strataQuality\""), std::string::npos);
}

TEST_F(ValidatorTest, NoProviderMeansNoValidation) {
  ASSERT_OK_AND_ASSIGN(auto r, WriteTable(store_, Reader(Rows({4}, {-4})), {}));
  EXPECT_EQ(r.rows_written, 1);
  EXPECT_EQ(LastCommitInfo().find("strataQuality"), std::string::npos);
}

}  // namespace
}  // namespace strata::ops
