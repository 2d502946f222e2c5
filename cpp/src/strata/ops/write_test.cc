#include "strata/ops/write.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include <random>

#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include "strata/table/stats.h"

#include "strata/common/memory_pool.h"
#include "strata/exec/scan.h"
#include "strata/storage/local_store.h"
#include "strata/table/snapshot.h"
#include "strata/testing/gtest_util.h"

namespace strata::ops {
namespace {

std::shared_ptr<arrow::RecordBatch> MakeBatch(int64_t start, int64_t n) {
  arrow::Int64Builder id;
  arrow::StringBuilder country;
  arrow::DoubleBuilder amount;
  const char* countries[] = {"FR", "DE", "US"};
  for (int64_t i = start; i < start + n; ++i) {
    (void)id.Append(i);
    (void)country.Append(countries[((i % 3) + 3) % 3]);
    if (i % 7 == 0) (void)amount.AppendNull(); else (void)amount.Append(i * 0.5);
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("country", arrow::utf8()),
                               arrow::field("amount", arrow::float64())});
  return arrow::RecordBatch::Make(schema, n, {*id.Finish(), *country.Finish(), *amount.Finish()});
}

std::shared_ptr<arrow::RecordBatchReader> Reader(std::vector<std::shared_ptr<arrow::RecordBatch>> batches) {
  return *arrow::RecordBatchReader::Make(batches, batches[0]->schema());
}

int64_t CountRows(const std::shared_ptr<storage::ObjectStore>& store, const std::string& filter = "",
                  int64_t* files_opened = nullptr) {
  auto snap = table::Snapshot::Load(store);
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  exec::ScanOptions opts;
  if (!filter.empty()) opts.filter = *expr::Parse(filter);
  if (files_opened) *files_opened = static_cast<int64_t>(exec::PlanScan(**snap, opts)->files.size());
  auto t = exec::ScanToTable(*snap, opts);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return (*t)->num_rows();
}

class WriteTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = *storage::MakeLocalStore(dir_.path()); }
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_F(WriteTest, CreateAppendOverwriteAndTimeTravel) {
  ASSERT_OK_AND_ASSIGN(auto r0, WriteTable(store_, Reader({MakeBatch(0, 100)}), {}));
  EXPECT_EQ(r0.version, 0);
  ASSERT_OK_AND_ASSIGN(auto r1, WriteTable(store_, Reader({MakeBatch(100, 50)}), {}));
  EXPECT_EQ(r1.version, 1);
  EXPECT_EQ(CountRows(store_), 150);
  WriteOptions ow;
  ow.mode = WriteMode::kOverwrite;
  ASSERT_OK_AND_ASSIGN(auto r2, WriteTable(store_, Reader({MakeBatch(0, 10)}), ow));
  EXPECT_EQ(r2.files_removed, 2);
  EXPECT_EQ(CountRows(store_), 10);
  ASSERT_OK_AND_ASSIGN(auto v1, table::Snapshot::Load(store_, 1));
  ASSERT_OK_AND_ASSIGN(auto t1, exec::ScanToTable(v1, {}));
  EXPECT_EQ(t1->num_rows(), 150);
  // Values survive the round trip exactly.
  ASSERT_OK_AND_ASSIGN(auto latest, table::Snapshot::Load(store_));
  ASSERT_OK_AND_ASSIGN(auto t, exec::ScanToTable(latest, {}));
  ASSERT_OK_AND_ASSIGN(auto expected, arrow::Table::FromRecordBatches({MakeBatch(0, 10)}));
  ASSERT_OK_AND_ASSIGN(auto combined, t->CombineChunks());
  EXPECT_TRUE(combined->Equals(*expected)) << combined->ToString();
}

TEST_F(WriteTest, ParquetBuffersComeFromTheDataPool) {
  // The pool follows STRATA_MEMORY_POOL (jemalloc by default when Arrow has it; the sanitizer run
  // asks for the system allocator so that the sanitizer sees every data buffer).
  const char* env = std::getenv("STRATA_MEMORY_POOL");
  std::string want = env != nullptr ? env : "jemalloc";
  arrow::MemoryPool* probe = nullptr;
  if (want == "jemalloc" && !arrow::jemalloc_memory_pool(&probe).ok()) want = arrow::default_memory_pool()->backend_name();
  if (want == "default") want = arrow::default_memory_pool()->backend_name();
  arrow::MemoryPool* pool = DataMemoryPool();
  EXPECT_EQ(pool->backend_name(), want);
  // Writing and reading a table allocate from it: the decoded rows stay allocated while held.
  ASSERT_OK(WriteTable(store_, Reader({MakeBatch(0, 200000)}), {}).status());
  int64_t before = pool->bytes_allocated();
  ASSERT_OK_AND_ASSIGN(auto snap, table::Snapshot::Load(store_));
  ASSERT_OK_AND_ASSIGN(auto rows, exec::ScanToTable(snap, {}));
  ASSERT_EQ(rows->num_rows(), 200000);
  EXPECT_GE(pool->bytes_allocated() - before, 200000 * 8) << "the scan's buffers are not from " << pool->backend_name();
}

TEST_F(WriteTest, PartitionedWritesPruneFiles) {
  WriteOptions o;
  o.partition_by = {"country"};
  ASSERT_OK(WriteTable(store_, Reader({MakeBatch(0, 300)}), o).status());
  ASSERT_OK_AND_ASSIGN(auto snap, table::Snapshot::Load(store_));
  EXPECT_EQ(snap->files().size(), 3u);
  for (const auto& f : snap->files()) {
    EXPECT_EQ(f.path.rfind("country=", 0), 0u) << f.path;
    EXPECT_TRUE(f.partition_values.at("country").has_value());
  }
  int64_t opened = 0;
  EXPECT_EQ(CountRows(store_, "country = 'FR'", &opened), 100);
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(CountRows(store_, "country IN ('FR', 'DE') AND id < 30", &opened), 20);
  EXPECT_EQ(opened, 2);
}

TEST_F(WriteTest, StatisticsSkipFiles) {
  for (int i = 0; i < 5; ++i) ASSERT_OK(WriteTable(store_, Reader({MakeBatch(i * 1000, 1000)}), {}).status());
  int64_t opened = 0;
  EXPECT_EQ(CountRows(store_, "id >= 2000 AND id < 2010", &opened), 10);
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(CountRows(store_, "id > 100000", &opened), 0);
  EXPECT_EQ(opened, 0);
  EXPECT_EQ(CountRows(store_, "amount IS NULL", &opened), 5000 / 7 + 1);
}

TEST_F(WriteTest, SchemaMismatchLeavesTableUnchanged) {
  ASSERT_OK(WriteTable(store_, Reader({MakeBatch(0, 10)}), {}).status());
  auto bad_schema = arrow::schema({arrow::field("id", arrow::utf8())});
  arrow::StringBuilder sb;
  ASSERT_OK(sb.Append("x"));
  auto bad = arrow::RecordBatch::Make(bad_schema, 1, {*sb.Finish()});
  auto r = WriteTable(store_, Reader({bad}), {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kSchemaMismatch));
  EXPECT_NE(r.status().message().find("'id'"), std::string::npos) << r.status().message();
  ASSERT_OK_AND_ASSIGN(auto snap, table::Snapshot::Load(store_));
  EXPECT_EQ(snap->version(), 0);
}

TEST_F(WriteTest, SchemaMergeAddsColumns) {
  ASSERT_OK(WriteTable(store_, Reader({MakeBatch(0, 10)}), {}).status());
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("extra", arrow::utf8())});
  arrow::Int64Builder ib;
  arrow::StringBuilder sb;
  ASSERT_OK(ib.Append(99));
  ASSERT_OK(sb.Append("e"));
  auto batch = arrow::RecordBatch::Make(schema, 1, {*ib.Finish(), *sb.Finish()});
  EXPECT_FALSE(WriteTable(store_, Reader({batch}), {}).ok());
  WriteOptions m;
  m.schema_mode = table::SchemaMode::kMerge;
  ASSERT_OK(WriteTable(store_, Reader({batch}), m).status());
  ASSERT_OK_AND_ASSIGN(auto snap, table::Snapshot::Load(store_));
  EXPECT_EQ(snap->schema()->num_fields(), 4);
  ASSERT_OK_AND_ASSIGN(auto t, exec::ScanToTable(snap, {}));
  EXPECT_EQ(t->num_rows(), 11);
  auto extra = t->GetColumnByName("extra");
  EXPECT_EQ(extra->null_count(), 10);
  // The old version still has the old schema.
  ASSERT_OK_AND_ASSIGN(auto v0, table::Snapshot::Load(store_, 0));
  EXPECT_EQ(v0->schema()->num_fields(), 3);
}

TEST_F(WriteTest, CheckConstraintRejectsAndNamesTheRow) {
  WriteOptions o;
  o.configuration = {{"delta.constraints.positive_id", "id >= 0"}};
  ASSERT_OK(WriteTable(store_, Reader({MakeBatch(0, 10)}), o).status());
  auto r = WriteTable(store_, Reader({MakeBatch(-3, 5)}), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("positive_id"), std::string::npos) << r.status().message();
  ASSERT_OK_AND_ASSIGN(auto snap, table::Snapshot::Load(store_));
  EXPECT_EQ(snap->version(), 0);
  EXPECT_GE(snap->protocol().min_writer_version, 3);
}

TEST_F(WriteTest, ReplaceWhereRewritesOnlyMatchingRows) {
  WriteOptions o;
  ASSERT_OK(WriteTable(store_, Reader({MakeBatch(0, 30)}), o).status());
  WriteOptions rw;
  rw.mode = WriteMode::kOverwrite;
  rw.replace_where = "country = 'FR'";
  auto fr_only = MakeBatch(0, 1);  // id 0 -> FR
  ASSERT_OK(WriteTable(store_, Reader({fr_only}), rw).status());
  EXPECT_EQ(CountRows(store_), 21);
  EXPECT_EQ(CountRows(store_, "country = 'FR'"), 1);
  // Rows outside the predicate are refused.
  auto r = WriteTable(store_, Reader({MakeBatch(1, 1)}), rw);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(CountRows(store_), 21);
}

TEST_F(WriteTest, AppendOnlyRefusesOverwrite) {
  WriteOptions o;
  o.configuration = {{"delta.appendOnly", "true"}};
  ASSERT_OK(WriteTable(store_, Reader({MakeBatch(0, 10)}), o).status());
  WriteOptions ow;
  ow.mode = WriteMode::kOverwrite;
  auto r = WriteTable(store_, Reader({MakeBatch(0, 10)}), ow);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("append-only"), std::string::npos);
}

TEST_F(WriteTest, UnknownPropertyIsRefused) {
  WriteOptions o;
  o.configuration = {{"delta.enableDeletionVector", "true"}};  // typo
  auto r = WriteTable(store_, Reader({MakeBatch(0, 1)}), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("delta.enableDeletionVector"), std::string::npos);
}

TEST_F(WriteTest, ColumnMappingWritesPhysicalNames) {
  WriteOptions o;
  o.configuration = {{"delta.columnMapping.mode", "name"}};
  o.partition_by = {"country"};
  ASSERT_OK(WriteTable(store_, Reader({MakeBatch(0, 30)}), o).status());
  ASSERT_OK_AND_ASSIGN(auto snap, table::Snapshot::Load(store_));
  EXPECT_EQ(snap->column_mapping_mode(), table::ColumnMappingMode::kName);
  for (const auto& f : snap->files()) EXPECT_EQ(f.path.rfind("col-", 0), 0u) << f.path;
  EXPECT_EQ(CountRows(store_, "country = 'DE' AND id > 10"), 6);
  ASSERT_OK(WriteTable(store_, Reader({MakeBatch(30, 3)}), {}).status());
  EXPECT_EQ(CountRows(store_), 33);
}

}  // namespace
}  // namespace strata::ops

namespace strata::ops {
namespace {

// The statistics taken from the Parquet footer must equal a direct computation over the data.
TEST(FooterStats, MatchDirectComputationOnRandomData) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    testing::TempDir dir;
    auto store = *storage::MakeLocalStore(dir.path());
    int64_t n = 1 + rng() % 3000;
    arrow::Int32Builder i32;
    arrow::DoubleBuilder f64;
    arrow::StringBuilder str;
    arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
    bool all_null = rng() % 5 == 0;
    for (int64_t i = 0; i < n; ++i) {
      if (all_null || rng() % 4 == 0) ASSERT_OK(i32.AppendNull()); else ASSERT_OK(i32.Append(static_cast<int32_t>(rng())));
      if (rng() % 4 == 0) ASSERT_OK(f64.AppendNull()); else ASSERT_OK(f64.Append(static_cast<double>(rng() % 100000) / 7.0 - 5000));
      std::string s(rng() % 40, 'a');
      for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
      if (rng() % 4 == 0) ASSERT_OK(str.AppendNull()); else ASSERT_OK(str.Append(s));
      ASSERT_OK(ts.Append(static_cast<int64_t>(rng() % 4000000000000000ULL) - 1000000000000000LL));
    }
    auto schema = arrow::schema({arrow::field("i", arrow::int32()), arrow::field("f", arrow::float64()),
                                 arrow::field("s", arrow::utf8()),
                                 arrow::field("t", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))});
    auto batch = arrow::RecordBatch::Make(schema, n, {*i32.Finish(), *f64.Finish(), *str.Finish(), *ts.Finish()});
    FileWriteSpec spec;
    spec.table_schema = schema;
    spec.row_group_rows = 1 + rng() % 1000;  // several row groups to combine
    ASSERT_OK_AND_ASSIGN(auto adds, WriteDataFiles(*store, spec, {batch}));
    ASSERT_EQ(adds.size(), 1u);
    auto reader = parquet::ParquetFileReader::OpenFile(dir.path() + "/" + adds[0].path);
    int64_t total = 0;
    for (int rg = 0; rg < reader->metadata()->num_row_groups(); ++rg) {
      int64_t rows = reader->metadata()->RowGroup(rg)->num_rows();
      EXPECT_GT(rows, 0) << "empty row group " << rg;
      EXPECT_LE(rows, spec.row_group_rows);
      total += rows;
    }
    EXPECT_EQ(total, n);
    ASSERT_OK_AND_ASSIGN(auto got, table::ParseFileStats(adds[0].stats));
    ASSERT_OK_AND_ASSIGN(auto t, arrow::Table::FromRecordBatches({batch}));
    ASSERT_OK_AND_ASSIGN(auto want_json, table::ComputeStatsJson(*t));
    ASSERT_OK_AND_ASSIGN(auto want, table::ParseFileStats(want_json));
    EXPECT_EQ(got.num_records, want.num_records);
    EXPECT_EQ(got.null_count, want.null_count);
    EXPECT_EQ(got.min_values, want.min_values) << *adds[0].stats << "\n" << want_json;
    EXPECT_EQ(got.max_values, want.max_values) << *adds[0].stats << "\n" << want_json;
  }
}

}  // namespace
}  // namespace strata::ops
