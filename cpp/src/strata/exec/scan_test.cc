#include "strata/exec/scan.h"

#include <filesystem>

#include <arrow/api.h>

#include "strata/storage/local_store.h"
#include "strata/testing/gtest_util.h"

namespace strata::exec {
namespace {

namespace fs = std::filesystem;

std::string Copy(const testing::TempDir& dir, const std::string& name) {
  std::string src = testing::SharedDeltaTables() + "/" + name;
  std::string dst = dir.path() + "/" + name;
  testing::CopyTree(src, dst);
  return dst;
}

TEST(ScanRealTables, DeletionVectorsHideRows) {
  if (testing::SharedDeltaTables().empty()) GTEST_SKIP();
  testing::TempDir dir;
  auto with = *storage::MakeLocalStore(Copy(dir, "table-with-dv-small"));
  auto without = *storage::MakeLocalStore(Copy(dir, "table-without-dv-small"));
  ASSERT_OK_AND_ASSIGN(auto s1, table::Snapshot::Load(with));
  ASSERT_OK_AND_ASSIGN(auto s2, table::Snapshot::Load(without));
  ASSERT_OK_AND_ASSIGN(auto t1, ScanToTable(s1, {}));
  ASSERT_OK_AND_ASSIGN(auto t2, ScanToTable(s2, {}));
  int64_t dv_card = 0;
  for (const auto& f : s1->files()) dv_card += f.deletion_vector ? f.deletion_vector->cardinality : 0;
  EXPECT_GT(dv_card, 0);
  EXPECT_EQ(t1->num_rows() + dv_card, t2->num_rows());
}

TEST(ScanRealTables, ColumnMappingAndPartitions) {
  if (testing::SharedDeltaTables().empty()) GTEST_SKIP();
  testing::TempDir dir;
  auto store = *storage::MakeLocalStore(Copy(dir, "table_with_column_mapping"));
  ASSERT_OK_AND_ASSIGN(auto snap, table::Snapshot::Load(store));
  EXPECT_NE(snap->column_mapping_mode(), table::ColumnMappingMode::kNone);
  ASSERT_OK_AND_ASSIGN(auto t, ScanToTable(snap, {}));
  EXPECT_GT(t->num_rows(), 0);
  for (const auto& c : t->columns()) EXPECT_LT(c->null_count(), c->length()) << "a column read as all nulls";
}

TEST(ScanOptionsTest, UnknownColumnIsNamed) {
  if (testing::SharedDeltaTables().empty()) GTEST_SKIP();
  testing::TempDir dir;
  auto store = *storage::MakeLocalStore(Copy(dir, "simple_table"));
  ASSERT_OK_AND_ASSIGN(auto snap, table::Snapshot::Load(store));
  ScanOptions o;
  o.columns = {"nope"};
  auto r = ScanToTable(snap, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'nope'"), std::string::npos);
  ScanOptions f;
  f.filter = *expr::Parse("missing_col > 1");
  EXPECT_FALSE(ScanToTable(snap, f).ok());
}

}  // namespace
}  // namespace strata::exec
