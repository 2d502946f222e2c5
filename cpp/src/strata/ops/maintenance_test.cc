#include "strata/ops/maintenance.h"

#include <filesystem>

#include <arrow/api.h>

#include "strata/exec/scan.h"
#include "strata/ops/delete.h"
#include "strata/ops/write.h"
#include "strata/storage/local_store.h"
#include "strata/table/snapshot.h"
#include "strata/testing/gtest_util.h"

namespace strata::ops {
namespace {

std::shared_ptr<arrow::RecordBatchReader> Ints(int64_t start, int64_t n) {
  arrow::Int64Builder b;
  for (int64_t i = start; i < start + n; ++i) (void)b.Append(i);
  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::int64())}), n, {*b.Finish()});
  return *arrow::RecordBatchReader::Make({batch});
}

int64_t Rows(const std::shared_ptr<storage::ObjectStore>& store, std::optional<int64_t> v = std::nullopt) {
  auto snap = *table::Snapshot::Load(store, v);
  return (*exec::ScanToTable(snap, {}))->num_rows();
}

class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *storage::MakeLocalStore(dir_.path());
    ASSERT_OK(WriteTable(store_, Ints(0, 10), {}).status());   // v0: 10 rows
    ASSERT_OK(WriteTable(store_, Ints(10, 5), {}).status());   // v1: 15 rows
    WriteOptions ow;
    ow.mode = WriteMode::kOverwrite;
    ASSERT_OK(WriteTable(store_, Ints(100, 3), ow).status());  // v2: 3 rows
  }
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_F(MaintenanceTest, RestoreToVersionAndTimestamp) {
  ASSERT_OK_AND_ASSIGN(auto r, RestoreTable(store_, 1, std::nullopt));
  EXPECT_EQ(r.version, 3);
  EXPECT_EQ(r.files_added, 2);
  EXPECT_EQ(r.files_removed, 1);
  EXPECT_EQ(Rows(store_), 15);
  EXPECT_EQ(Rows(store_, 2), 3);  // history is kept
  // Restoring to the version it already equals commits nothing.
  ASSERT_OK_AND_ASSIGN(auto again, RestoreTable(store_, 3, std::nullopt));
  EXPECT_EQ(again.version, -1);
  auto v0 = *table::Snapshot::Load(store_, 0);
  ASSERT_OK_AND_ASSIGN(auto byts, RestoreTable(store_, std::nullopt, v0->timestamp_ms()));
  EXPECT_EQ(byts.restored_from, 0);
  EXPECT_EQ(Rows(store_), 10);
  EXPECT_FALSE(RestoreTable(store_, 99, std::nullopt).ok());
}

TEST_F(MaintenanceTest, VacuumRespectsRetentionAndKeepsLiveFiles) {
  auto short_retention = VacuumTable(store_, {.retention_hours = 0});
  ASSERT_FALSE(short_retention.ok());
  EXPECT_NE(short_retention.status().message().find("deletedFileRetentionDuration"), std::string::npos);
  // Nothing is old enough with the default retention.
  ASSERT_OK_AND_ASSIGN(auto none, VacuumTable(store_, {}));
  EXPECT_TRUE(none.files.empty());
  // An orphan from a crashed writer, and the two files v2 removed, are vacuumable "a year later".
  ASSERT_OK(store_->Write("part-orphan.parquet", "x"));
  int64_t later = table::NowMs() + 365LL * 86400000;
  ASSERT_OK_AND_ASSIGN(auto dry, VacuumTable(store_, {.dry_run = true, .now_ms = later}));
  EXPECT_EQ(dry.files.size(), 3u);
  EXPECT_EQ(Rows(store_, 0), 10);  // a dry run deletes nothing
  ASSERT_OK_AND_ASSIGN(auto done, VacuumTable(store_, {.now_ms = later}));
  EXPECT_EQ(done.files.size(), 3u);
  EXPECT_EQ(Rows(store_), 3);  // the latest version is intact
  EXPECT_FALSE(RestoreTable(store_, 1, std::nullopt).ok());  // its files are gone: named error
  for (const auto& f : done.files) EXPECT_EQ(f.find("_delta_log"), std::string::npos);
}

TEST_F(MaintenanceTest, VacuumKeepsDeletionVectorFiles) {
  testing::TempDir dir;
  auto store = *storage::MakeLocalStore(dir.path());
  WriteOptions o;
  o.configuration = {{"delta.enableDeletionVectors", "true"}};
  ASSERT_OK(WriteTable(store, Ints(0, 100), o).status());
  ASSERT_OK(DeleteRows(store, "x % 3 = 0").status());
  int64_t later = table::NowMs() + 365LL * 86400000;
  ASSERT_OK_AND_ASSIGN(auto r, VacuumTable(store, {.now_ms = later}));
  EXPECT_TRUE(r.files.empty());
  EXPECT_EQ(Rows(store), 66);
}

TEST_F(MaintenanceTest, SetPropertiesValidatesAndChecksExistingData) {
  ASSERT_OK_AND_ASSIGN(auto v, SetTableProperties(store_, {{"delta.appendOnly", "true"}}));
  EXPECT_EQ(v, 3);
  EXPECT_EQ((*table::Snapshot::Load(store_))->Property("delta.appendOnly"), "true");
  EXPECT_FALSE(SetTableProperties(store_, {{"delta.appendOnly", "maybe"}}).ok());
  EXPECT_FALSE(SetTableProperties(store_, {{"delta.noSuchThing", "1"}}).ok());
  // Existing rows are 100..102: a constraint they violate is refused and changes nothing.
  auto bad = SetTableProperties(store_, {{"delta.constraints.small", "x < 101"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("small"), std::string::npos);
  ASSERT_OK(SetTableProperties(store_, {{"delta.constraints.big", "x >= 100"}}).status());
  auto snap = *table::Snapshot::Load(store_);
  EXPECT_GE(snap->protocol().min_writer_version, 3);
  EXPECT_FALSE(WriteTable(store_, Ints(0, 1), {}).ok());  // the new constraint guards writes
}

}  // namespace
}  // namespace strata::ops
