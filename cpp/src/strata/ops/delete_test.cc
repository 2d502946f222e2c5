#include "strata/ops/delete.h"

#include <arrow/api.h>

#include "strata/exec/scan.h"
#include "strata/ops/write.h"
#include "strata/storage/local_store.h"
#include "strata/table/snapshot.h"
#include "strata/testing/gtest_util.h"

namespace strata::ops {
namespace {

std::shared_ptr<arrow::RecordBatch> Rows(int64_t start, int64_t n) {
  arrow::Int64Builder id;
  arrow::StringBuilder part;
  arrow::DoubleBuilder v;
  for (int64_t i = start; i < start + n; ++i) {
    (void)id.Append(i);
    (void)part.Append(i % 2 ? "odd" : "even");
    (void)v.Append(static_cast<double>(i));
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("part", arrow::utf8()),
                               arrow::field("v", arrow::float64())});
  return arrow::RecordBatch::Make(schema, n, {*id.Finish(), *part.Finish(), *v.Finish()});
}

std::shared_ptr<arrow::Table> Read(const std::shared_ptr<storage::ObjectStore>& store, const std::string& filter = "") {
  auto snap = *table::Snapshot::Load(store);
  exec::ScanOptions o;
  if (!filter.empty()) o.filter = *expr::Parse(filter);
  return *exec::ScanToTable(snap, o);
}

double SumV(const std::shared_ptr<arrow::Table>& t) {
  double s = 0;
  for (const auto& chunk : t->GetColumnByName("v")->chunks()) {
    auto a = std::static_pointer_cast<arrow::DoubleArray>(chunk);
    for (int64_t i = 0; i < a->length(); ++i) s += a->IsNull(i) ? 0 : a->Value(i);
  }
  return s;
}

class DmlTest : public ::testing::TestWithParam<bool> {  // param: deletion vectors on
 protected:
  void SetUp() override {
    store_ = *storage::MakeLocalStore(dir_.path());
    WriteOptions o;
    o.partition_by = {"part"};
    if (GetParam()) o.configuration = {{"delta.enableDeletionVectors", "true"}};
    auto r = *arrow::RecordBatchReader::Make({Rows(0, 100)});
    ASSERT_OK(WriteTable(store_, r, o).status());
    auto r2 = *arrow::RecordBatchReader::Make({Rows(100, 100)});
    ASSERT_OK(WriteTable(store_, r2, {}).status());
  }
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_P(DmlTest, DeletePartOfFiles) {
  ASSERT_OK_AND_ASSIGN(auto r, DeleteRows(store_, "id % 10 = 3"));
  EXPECT_EQ(r.rows_deleted, 20);
  EXPECT_EQ(r.deletion_vectors_added > 0, GetParam());
  auto t = Read(store_);
  EXPECT_EQ(t->num_rows(), 180);
  EXPECT_EQ(Read(store_, "id % 10 = 3")->num_rows(), 0);
  // The version before is intact (time travel).
  auto before = *table::Snapshot::Load(store_, r.version - 1);
  EXPECT_EQ((*exec::ScanToTable(before, {}))->num_rows(), 200);
}

TEST_P(DmlTest, DeleteWholePartitionRemovesFilesWithoutRewriting) {
  ASSERT_OK_AND_ASSIGN(auto r, DeleteRows(store_, "part = 'odd'"));
  EXPECT_EQ(r.rows_deleted, 100);
  EXPECT_EQ(r.files_added, 0);
  EXPECT_EQ(r.deletion_vectors_added, 0);
  EXPECT_EQ(r.files_removed, 2);
  EXPECT_EQ(r.files_skipped, 2);  // the 'even' files were pruned by partition value
  EXPECT_EQ(r.files_dropped_unread, 2);  // the 'odd' ones removed from their partition value
  EXPECT_EQ(Read(store_)->num_rows(), 100);
}

TEST_P(DmlTest, DeleteNothingMakesNoCommit) {
  ASSERT_OK_AND_ASSIGN(auto r, DeleteRows(store_, "id > 1000"));
  EXPECT_EQ(r.version, -1);
  EXPECT_EQ((*table::Snapshot::Load(store_))->version(), 1);
}

TEST_P(DmlTest, DeleteTwiceOnTheSameFileAccumulates) {
  ASSERT_OK(DeleteRows(store_, "id < 10").status());
  ASSERT_OK(DeleteRows(store_, "id < 20").status());
  EXPECT_EQ(Read(store_)->num_rows(), 180);
  EXPECT_EQ(Read(store_, "id < 20")->num_rows(), 0);
}

TEST_P(DmlTest, UpdateSetsValuesAndKeepsOtherRows) {
  ASSERT_OK_AND_ASSIGN(auto r, UpdateRows(store_, "id >= 150", {{"v", "v * 2 + 1"}}));
  EXPECT_EQ(r.rows_updated, 50);
  auto t = Read(store_);
  EXPECT_EQ(t->num_rows(), 200);
  double expected = 0;
  for (int i = 0; i < 200; ++i) expected += i >= 150 ? 2.0 * i + 1 : i;
  EXPECT_DOUBLE_EQ(SumV(t), expected);
}

TEST_P(DmlTest, UpdateCanMoveRowsBetweenPartitions) {
  ASSERT_OK(UpdateRows(store_, "id < 4", {{"part", "'moved'"}}).status());
  EXPECT_EQ(Read(store_, "part = 'moved'")->num_rows(), 4);
  EXPECT_EQ(Read(store_)->num_rows(), 200);
}

TEST_P(DmlTest, BadInputChangesNothing) {
  EXPECT_FALSE(DeleteRows(store_, "nope = 1").ok());
  EXPECT_FALSE(UpdateRows(store_, "id = 1", {{"nope", "1"}}).ok());
  auto r = UpdateRows(store_, "id = 1", {{"v", "'text'"}});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ((*table::Snapshot::Load(store_))->version(), 1);
}

INSTANTIATE_TEST_SUITE_P(CopyOnWriteAndDeletionVectors, DmlTest, ::testing::Bool());

TEST(DmlConstraints, UpdateRespectsCheckConstraints) {
  testing::TempDir dir;
  auto store = *storage::MakeLocalStore(dir.path());
  WriteOptions o;
  o.configuration = {{"delta.constraints.v_small", "v < 1000"}};
  ASSERT_OK(WriteTable(store, *arrow::RecordBatchReader::Make({Rows(0, 10)}), o).status());
  auto r = UpdateRows(store, "id = 3", {{"v", "5000"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("v_small"), std::string::npos);
  EXPECT_EQ((*table::Snapshot::Load(store))->version(), 0);
}

TEST(DmlAppendOnly, Refused) {
  testing::TempDir dir;
  auto store = *storage::MakeLocalStore(dir.path());
  WriteOptions o;
  o.configuration = {{"delta.appendOnly", "true"}};
  ASSERT_OK(WriteTable(store, *arrow::RecordBatchReader::Make({Rows(0, 10)}), o).status());
  EXPECT_FALSE(DeleteRows(store, "id = 1").ok());
}

}  // namespace
}  // namespace strata::ops

namespace strata::ops {
namespace {

// ReadFile with row groups read concurrently returns exactly what the serial read returns (rows,
// order, row ids), with a deletion vector and a filter applied; DELETE and UPDATE on such files
// (which read them that way) match a brute-force count.
TEST(ReadFileParallel, RowGroupsConcurrentlyEqualsSerial) {
  testing::TempDir dir;
  auto store = *storage::MakeLocalStore(dir.path());
  WriteOptions o;
  o.row_group_rows = 97;  // 2000 rows: 21 row groups in one file
  o.configuration = {{"delta.enableDeletionVectors", "true"}};
  ASSERT_OK(WriteTable(store, *arrow::RecordBatchReader::Make({Rows(0, 2000)}), o).status());
  ASSERT_OK_AND_ASSIGN(auto d, DeleteRows(store, "id % 7 = 2"));  // a deletion vector
  ASSERT_EQ(d.deletion_vectors_added, 1);
  auto snap = *table::Snapshot::Load(store);
  ASSERT_EQ(snap->files().size(), 1u);
  for (const char* filter : {"", "id % 5 = 1", "id > 1500"}) {
    exec::ScanOptions so;
    so.with_row_ids = true;
    if (*filter) so.filter = *expr::Parse(filter);
    ASSERT_OK_AND_ASSIGN(auto serial, exec::ReadFile(*snap, snap->files()[0], so));
    if (!*filter) {
      EXPECT_EQ(serial.size(), 21u);  // one batch per row group
    }
    for (int par : {2, 3, 8}) {
      so.row_group_parallelism = par;
      ASSERT_OK_AND_ASSIGN(auto parallel, exec::ReadFile(*snap, snap->files()[0], so));
      auto a = *arrow::Table::FromRecordBatches(serial);
      auto b = *arrow::Table::FromRecordBatches(parallel);
      EXPECT_GT(a->num_rows(), 0);
      EXPECT_TRUE(a->Equals(*b)) << "filter '" << filter << "' parallelism " << par;
    }
  }
  int64_t live = 0;
  for (int64_t i = 0; i < 2000; ++i) live += (i % 7 != 2);
  int64_t want = 0;
  for (int64_t i = 0; i < 2000; ++i) want += (i % 7 != 2 && i % 3 == 0);
  ASSERT_OK_AND_ASSIGN(auto d2, DeleteRows(store, "id % 3 = 0"));
  EXPECT_EQ(d2.rows_deleted, want);
  EXPECT_EQ(Read(store)->num_rows(), live - want);
  EXPECT_EQ(Read(store, "id % 3 = 0 OR id % 7 = 2")->num_rows(), 0);
}

}  // namespace
}  // namespace strata::ops
