#include "strata/ops/optimize.h"

#include <random>

#include <arrow/api.h>

#include "strata/exec/scan.h"
#include "strata/ops/delete.h"
#include "strata/ops/write.h"
#include "strata/storage/local_store.h"
#include "strata/table/snapshot.h"
#include "strata/testing/gtest_util.h"

namespace strata::ops {
namespace {

std::shared_ptr<arrow::RecordBatch> Rows(std::mt19937_64& rng, int64_t start, int64_t n) {
  arrow::Int64Builder id, x, y;
  arrow::StringBuilder part;
  for (int64_t i = start; i < start + n; ++i) {
    (void)id.Append(i);
    (void)x.Append(static_cast<int64_t>(rng() % 1000));
    (void)y.Append(static_cast<int64_t>(rng() % 1000));
    (void)part.Append(i % 2 ? "odd" : "even");
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("x", arrow::int64()),
                               arrow::field("y", arrow::int64()), arrow::field("part", arrow::utf8())});
  return arrow::RecordBatch::Make(schema, n, {*id.Finish(), *x.Finish(), *y.Finish(), *part.Finish()});
}

int64_t Sum(const std::shared_ptr<arrow::Table>& t, const std::string& col) {
  int64_t s = 0;
  for (const auto& c : t->GetColumnByName(col)->chunks()) {
    auto a = std::static_pointer_cast<arrow::Int64Array>(c);
    for (int64_t i = 0; i < a->length(); ++i) s += a->Value(i);
  }
  return s;
}

class OptimizeTest : public ::testing::TestWithParam<bool> {  // param: partitioned
 protected:
  void SetUp() override {
    store_ = *storage::MakeLocalStore(dir_.path());
    std::mt19937_64 rng(7);
    for (int f = 0; f < 20; ++f) {
      WriteOptions o;
      if (GetParam()) o.partition_by = {"part"};
      o.configuration = {{"delta.enableDeletionVectors", "true"}};
      ASSERT_OK(WriteTable(store_, *arrow::RecordBatchReader::Make({Rows(rng, f * 2000, 2000)}), o).status());
    }
  }
  std::shared_ptr<arrow::Table> All() { return *exec::ScanToTable(*table::Snapshot::Load(store_), {}); }
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_P(OptimizeTest, CompactsSmallFilesKeepsRowsAndMarksNoDataChange) {
  ASSERT_OK(DeleteRows(store_, "id % 7 = 0").status());  // deletion vectors are purged too
  auto before = All();
  ASSERT_OK_AND_ASSIGN(auto r, OptimizeTable(store_, {}));
  EXPECT_EQ(r.files_removed, GetParam() ? 40 : 20);
  EXPECT_EQ(r.files_added, GetParam() ? 2 : 1);
  auto snap = *table::Snapshot::Load(store_);
  EXPECT_EQ(snap->files().size(), static_cast<size_t>(r.files_added));
  for (const auto& f : snap->files()) {
    EXPECT_FALSE(f.data_change);
    EXPECT_FALSE(f.deletion_vector.has_value());
  }
  auto after = All();
  EXPECT_EQ(after->num_rows(), before->num_rows());
  EXPECT_EQ(Sum(after, "id"), Sum(before, "id"));
  EXPECT_EQ(Sum(after, "x"), Sum(before, "x"));
  // Nothing left to do: no commit.
  ASSERT_OK_AND_ASSIGN(auto again, OptimizeTable(store_, {}));
  EXPECT_EQ(again.version, -1);
}

TEST_P(OptimizeTest, TargetSizeBoundsTheBins) {
  OptimizeOptions o;
  o.target_file_size = 4 * (*table::Snapshot::Load(store_))->files()[0].size;  // ~4 files per bin
  ASSERT_OK_AND_ASSIGN(auto r, OptimizeTable(store_, o));
  EXPECT_GE(r.files_added, 5);
  EXPECT_LE(r.files_added, 20);
  EXPECT_EQ(All()->num_rows(), 40000);
}

TEST_P(OptimizeTest, ZOrderClustersSoBothColumnsSkipFiles) {
  OptimizeOptions o;
  o.z_order = {"x", "y"};
  o.target_file_size = 16 << 10;  // many small output files, so skipping is visible
  ASSERT_OK_AND_ASSIGN(auto r, OptimizeTable(store_, o));
  EXPECT_GT(r.files_added, 4);
  auto snap = *table::Snapshot::Load(store_);
  auto count_files = [&](const std::string& pred) {
    exec::ScanOptions so;
    so.filter = *expr::Parse(pred);
    auto plan = *exec::PlanScan(*snap, so);
    return static_cast<double>(plan.files.size()) / static_cast<double>(plan.files_total);
  };
  // Random data: before, every file spans the whole x and y range. After, a box in one corner
  // touches a fraction of the files, on either column.
  EXPECT_LT(count_files("x < 100"), 0.6);
  EXPECT_LT(count_files("y < 100"), 0.6);
  EXPECT_LT(count_files("x < 200 AND y < 200"), 0.3);
  EXPECT_EQ(All()->num_rows(), 40000);
}

TEST_P(OptimizeTest, PartitionFilterAndBadInput) {
  if (GetParam()) {
    OptimizeOptions o;
    o.partition_filter = "part = 'odd'";
    ASSERT_OK_AND_ASSIGN(auto r, OptimizeTable(store_, o));
    EXPECT_EQ(r.files_removed, 20);
    EXPECT_EQ(r.partitions_optimized, 1);
  }
  OptimizeOptions bad;
  bad.partition_filter = "x = 1";
  EXPECT_FALSE(OptimizeTable(store_, bad).ok());
  bad = {};
  bad.z_order = {"nope"};
  EXPECT_FALSE(OptimizeTable(store_, bad).ok());
}

INSTANTIATE_TEST_SUITE_P(FlatAndPartitioned, OptimizeTest, ::testing::Bool());

}  // namespace
}  // namespace strata::ops
