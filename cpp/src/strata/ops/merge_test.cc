#include "strata/ops/merge.h"

#include <arrow/api.h>

#include "strata/exec/scan.h"
#include "strata/ops/delete.h"
#include "strata/ops/optimize.h"
#include "strata/ops/write.h"
#include "strata/storage/local_store.h"
#include "strata/table/snapshot.h"
#include "strata/testing/gtest_util.h"

namespace strata::ops {
namespace {

using Kind = MergeClause::Kind;

/// Rows id in [start, start+n) with v = id * mult.
std::shared_ptr<arrow::RecordBatch> Rows(int64_t start, int64_t n, double mult = 1.0) {
  arrow::Int64Builder id;
  arrow::DoubleBuilder v;
  for (int64_t i = start; i < start + n; ++i) {
    (void)id.Append(i);
    (void)v.Append(static_cast<double>(i) * mult);
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("v", arrow::float64())});
  return arrow::RecordBatch::Make(schema, n, {*id.Finish(), *v.Finish()});
}

std::shared_ptr<arrow::RecordBatchReader> Reader(std::vector<std::shared_ptr<arrow::RecordBatch>> b) {
  return *arrow::RecordBatchReader::Make(std::move(b));
}

/// id -> v of the latest version.
std::map<int64_t, double> Contents(const std::shared_ptr<storage::ObjectStore>& store) {
  auto t = *exec::ScanToTable(*table::Snapshot::Load(store), {});
  std::map<int64_t, double> out;
  t = *t->CombineChunks();
  auto id = std::static_pointer_cast<arrow::Int64Array>(t->GetColumnByName("id")->chunk(0));
  auto v = std::static_pointer_cast<arrow::DoubleArray>(t->GetColumnByName("v")->chunk(0));
  for (int64_t i = 0; i < t->num_rows(); ++i) out[id->Value(i)] = v->Value(i);
  return out;
}

MergeOptions Upsert() {
  MergeOptions o;
  o.on = "t.id = s.id";
  o.target_alias = "t";
  o.source_alias = "s";
  MergeClause u;
  u.kind = Kind::kMatchedUpdate;
  u.all = true;
  MergeClause i;
  i.kind = Kind::kNotMatchedInsert;
  i.all = true;
  o.clauses = {u, i};
  return o;
}

class MergeTest : public ::testing::TestWithParam<bool> {  // param: deletion vectors on
 protected:
  void SetUp() override {
    store_ = *storage::MakeLocalStore(dir_.path());
    WriteOptions o;
    if (GetParam()) o.configuration = {{"delta.enableDeletionVectors", "true"}};
    for (int f = 0; f < 4; ++f) {  // four files: ids 0-99, 100-199, ...
      ASSERT_OK(WriteTable(store_, Reader({Rows(f * 100, 100)}), o).status());
      o.configuration.clear();
    }
  }
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_P(MergeTest, UpsertUpdatesMatchedInsertsNewAndSkipsFilesOutsideTheKeyRange) {
  // Source ids 150..249 (v = 10 * id): 50 updates in file 2, 50 in file 3... and 250..259 new.
  ASSERT_OK_AND_ASSIGN(auto r, MergeInto(store_, Reader({Rows(150, 50, 10), Rows(400, 10, 10)}), Upsert()));
  EXPECT_EQ(r.rows_updated, 50);
  EXPECT_EQ(r.rows_inserted, 10);
  EXPECT_EQ(r.rows_deleted, 0);
  EXPECT_EQ(r.num_source_rows, 60);
  EXPECT_EQ(r.files_skipped, 1);  // ids 0..99 lie below the source's key range
  EXPECT_EQ(r.deletion_vectors_added > 0, GetParam());
  auto c = Contents(store_);
  ASSERT_EQ(c.size(), 410u);
  for (const auto& [id, v] : c) {
    double want = (id >= 150 && id < 200) || id >= 400 ? id * 10.0 : id * 1.0;
    EXPECT_EQ(v, want) << "id " << id;
  }
  auto snap = *table::Snapshot::Load(store_);
  auto hist = *snap->History(1);
  EXPECT_NE(hist[0].commit_info.find("\"operation\":\"MERGE\""), std::string::npos);
  EXPECT_NE(hist[0].commit_info.find("\"numTargetRowsUpdated\":\"50\""), std::string::npos);
}

TEST_P(MergeTest, ClausesApplyInOrderAndBySourceDeletes) {
  MergeOptions o;
  o.on = "t.id = s.id";
  o.target_alias = "t";
  o.source_alias = "s";
  MergeClause del{Kind::kMatchedDelete, "s.v < 0", {}, false};
  MergeClause upd{Kind::kMatchedUpdate, "", {{"v", "s.v + t.v"}}, false};
  MergeClause gone{Kind::kNotMatchedBySourceDelete, "t.id >= 300", {}, false};
  o.clauses = {del, upd, gone};
  // Source: ids 0..9 with v = -id (delete, except id 0 whose v is 0: update), ids 10..19 v = 10*id.
  ASSERT_OK_AND_ASSIGN(auto r, MergeInto(store_, Reader({Rows(0, 10, -1), Rows(10, 10, 10)}), o));
  EXPECT_EQ(r.rows_deleted, 9 + 100);
  EXPECT_EQ(r.rows_updated, 11);
  auto c = Contents(store_);
  EXPECT_EQ(c.size(), 400u - 109u);
  EXPECT_EQ(c.count(5), 0u);
  EXPECT_EQ(c.at(0), 0.0);
  EXPECT_EQ(c.at(15), 15.0 * 11);
  EXPECT_EQ(c.count(350), 0u);
  EXPECT_EQ(c.at(250), 250.0);
}

TEST_P(MergeTest, DuplicateSourceMatchIsAnErrorNamingTheKeyAndChangesNothing) {
  auto r = MergeInto(store_, Reader({Rows(5, 3), Rows(6, 1)}), Upsert());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("id = 6"), std::string::npos) << r.status().message();
  EXPECT_EQ((*table::Snapshot::Load(store_))->version(), 3);
  // A lone unconditional delete tolerates duplicates.
  MergeOptions o;
  o.on = "t.id = s.id";
  o.target_alias = "t";
  o.source_alias = "s";
  o.clauses = {MergeClause{Kind::kMatchedDelete, "", {}, false}};
  ASSERT_OK_AND_ASSIGN(auto d, MergeInto(store_, Reader({Rows(5, 3), Rows(6, 1)}), o));
  EXPECT_EQ(d.rows_deleted, 3);
  EXPECT_EQ(Contents(store_).size(), 397u);
}

TEST_P(MergeTest, NullKeysNeverMatch) {
  arrow::Int64Builder id;
  arrow::DoubleBuilder v;
  ASSERT_OK(id.AppendNull());
  ASSERT_OK(v.Append(1));
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("v", arrow::float64())});
  auto b = arrow::RecordBatch::Make(schema, 1, {*id.Finish(), *v.Finish()});
  ASSERT_OK_AND_ASSIGN(auto r, MergeInto(store_, Reader({b}), Upsert()));
  EXPECT_EQ(r.rows_inserted, 1);
  EXPECT_EQ(r.rows_updated, 0);
}

TEST_P(MergeTest, BadInputChangesNothing) {
  auto o = Upsert();
  o.on = "t.id = s.nope";
  EXPECT_FALSE(MergeInto(store_, Reader({Rows(0, 3)}), o).ok());
  o = Upsert();
  o.on = "id = id";  // both sides have id: ambiguous
  auto r = MergeInto(store_, Reader({Rows(0, 3)}), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ambiguous"), std::string::npos);
  o = Upsert();
  o.clauses[1].all = false;
  o.clauses[1].assignments = {{"id", "t.id"}};  // insert clauses see only the source
  EXPECT_FALSE(MergeInto(store_, Reader({Rows(0, 3)}), o).ok());
  EXPECT_EQ((*table::Snapshot::Load(store_))->version(), 3);
}

INSTANTIATE_TEST_SUITE_P(CopyOnWriteAndDeletionVectors, MergeTest, ::testing::Bool());

}  // namespace
}  // namespace strata::ops

namespace strata::ops {
namespace {

// Interleavings: a concurrent writer commits between the operation's read and its commit.
class ConcurrentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *storage::MakeLocalStore(dir_.path());
    for (int f = 0; f < 4; ++f) ASSERT_OK(WriteTable(store_, Reader({Rows(f * 100, 100)}), {}).status());
  }
  int64_t Version() { return (*table::Snapshot::Load(store_))->version(); }
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_F(ConcurrentTest, MergeAgainstAConcurrentDeleteOfItsFilesIsAConflict) {
  auto o = Upsert();
  o.commit.before_commit = [&] { ASSERT_OK(DeleteRows(store_, "id = 150").status()); };
  auto r = MergeInto(store_, Reader({Rows(150, 10, 10)}), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(GetDetail(r.status())->code(), ErrorCode::kCommitConflict) << r.status().ToString();
  // Only the delete landed: the merge's update of 150 did not resurrect it.
  auto c = Contents(store_);
  EXPECT_EQ(c.size(), 399u);
  EXPECT_EQ(c.count(150), 0u);
  EXPECT_EQ(c.at(151), 151.0);
  EXPECT_EQ(Version(), 4);
}

TEST_F(ConcurrentTest, DeleteAgainstAConcurrentMergeOfItsFilesIsAConflict) {
  DmlOptions d;
  d.commit.before_commit = [&] { ASSERT_OK(MergeInto(store_, Reader({Rows(150, 10, 10)}), Upsert()).status()); };
  auto r = DeleteRows(store_, "id >= 155 AND id < 158", d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(GetDetail(r.status())->code(), ErrorCode::kCommitConflict);
  EXPECT_EQ(Contents(store_).at(156), 1560.0);
}

TEST_F(ConcurrentTest, MergeAfterAConcurrentBlindAppendCommitsUnderWriteSerializable) {
  // Delta's default isolation (WriteSerializable) orders a blind append before or after a MERGE
  // without conflict; the merge's reads of the files it changed are still checked.
  auto o = Upsert();
  o.commit.before_commit = [&] { ASSERT_OK(WriteTable(store_, Reader({Rows(1000, 1)}), {}).status()); };
  ASSERT_OK_AND_ASSIGN(auto r, MergeInto(store_, Reader({Rows(150, 1, 5), Rows(2000, 1, 5)}), o));
  EXPECT_EQ(r.version, 5);
  auto c = Contents(store_);
  EXPECT_EQ(c.at(1000), 1000.0);
  EXPECT_EQ(c.at(150), 750.0);
  EXPECT_EQ(c.at(2000), 10000.0);
}

TEST_F(ConcurrentTest, OptimizeCommitsDespiteConcurrentAppends) {
  OptimizeOptions o;
  o.commit.before_commit = [&] {
    for (int i = 0; i < 3; ++i) ASSERT_OK(WriteTable(store_, Reader({Rows(2000 + i * 10, 10)}), {}).status());
  };
  ASSERT_OK_AND_ASSIGN(auto r, OptimizeTable(store_, o));
  EXPECT_EQ(r.version, 7);
  EXPECT_EQ(Contents(store_).size(), 430u);
  EXPECT_EQ((*table::Snapshot::Load(store_))->files().size(), 1u + 3u);
}

TEST_F(ConcurrentTest, OptimizeAgainstAConcurrentDeleteOfItsFilesIsAConflict) {
  OptimizeOptions o;
  o.commit.before_commit = [&] { ASSERT_OK(DeleteRows(store_, "id = 5").status()); };
  auto r = OptimizeTable(store_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(GetDetail(r.status())->code(), ErrorCode::kCommitConflict);
  EXPECT_EQ(Contents(store_).count(5), 0u);  // the compaction did not bring the row back
  EXPECT_EQ(Contents(store_).size(), 399u);
}

}  // namespace
}  // namespace strata::ops
