#include <arrow/buffer.h>

#include <atomic>
#include <functional>
#include <ostream>
#include <thread>

#include "strata/storage/fault_injection.h"
#include "strata/storage/local_store.h"
#include "strata/testing/gtest_util.h"

namespace strata::storage {

// Defined in s3_store_test.cc: whether STRATA_S3_ENDPOINT names a test server, and a fresh,
// empty store below a unique prefix of the test bucket on it.
bool S3TestServerAvailable();
Result<std::shared_ptr<ObjectStore>> MakeS3TestStore();

namespace {

std::string Str(const std::shared_ptr<arrow::Buffer>& b) { return b->ToString(); }

/// One implementation under test: a name and a factory that returns a fresh, empty store
/// (`scratch` is a temporary directory the store may live in).
struct StoreFactory {
  std::string name;
  std::function<Result<std::shared_ptr<ObjectStore>>(const std::string& scratch)> make;
  std::function<bool()> available = [] { return true; };
};
void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

/// The conformance suite every ObjectStore implementation runs.
class ObjectStoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    if (!GetParam().available()) GTEST_SKIP() << GetParam().name << " store not available (STRATA_S3_ENDPOINT unset)";
    auto made = GetParam().make(dir_.path());
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    store_ = *made;
  }
  testing::TempDir dir_;
  std::shared_ptr<ObjectStore> store_;
};

TEST_P(ObjectStoreConformance, WriteReadOverwrite) {
  ASSERT_OK(store_->Write("a/b/c.txt", "one"));
  ASSERT_OK_AND_ASSIGN(auto b, store_->Read("a/b/c.txt"));
  EXPECT_EQ(Str(b), "one");
  ASSERT_OK(store_->Write("a/b/c.txt", "two!"));
  ASSERT_OK_AND_ASSIGN(b, store_->Read("a/b/c.txt"));
  EXPECT_EQ(Str(b), "two!");
  ASSERT_OK_AND_ASSIGN(auto h, store_->Head("a/b/c.txt"));
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->size, 4);
  EXPECT_GT(h->mtime_ms, 0);
}

TEST_P(ObjectStoreConformance, MissingObjects) {
  auto r = store_->Read("nope");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsNotFound(r.status()));
  ASSERT_OK_AND_ASSIGN(auto h, store_->Head("nope"));
  EXPECT_FALSE(h.has_value());
  ASSERT_OK_AND_ASSIGN(auto l, store_->List("no/such/dir"));
  EXPECT_TRUE(l.empty());
  ASSERT_OK(store_->Delete("nope"));
}

TEST_P(ObjectStoreConformance, PutIfAbsentNeverReplaces) {
  ASSERT_OK_AND_ASSIGN(bool first, store_->PutIfAbsent("log/1.json", "first"));
  EXPECT_TRUE(first);
  ASSERT_OK_AND_ASSIGN(bool second, store_->PutIfAbsent("log/1.json", "second"));
  EXPECT_FALSE(second);
  ASSERT_OK_AND_ASSIGN(auto b, store_->Read("log/1.json"));
  EXPECT_EQ(Str(b), "first");
}

TEST_P(ObjectStoreConformance, PutIfAbsentHasOneWinnerUnderContention) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 20; ++round) {
    std::string path = "race/" + std::to_string(round);
    std::atomic<int> winners{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t) {
      ts.emplace_back([&, t] {
        auto r = store_->PutIfAbsent(path, "writer" + std::to_string(t));
        if (r.ok() && *r) ++winners;
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(winners.load(), 1);
    ASSERT_OK_AND_ASSIGN(auto b, store_->Read(path));
    EXPECT_EQ(Str(b).rfind("writer", 0), 0u);
  }
  // No temporary files are left behind.
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListRecursive(""));
  for (const auto& o : all) EXPECT_EQ(o.path.find(".strata-tmp"), std::string::npos) << o.path;
}

TEST_P(ObjectStoreConformance, ListIsShallowAndRecursiveIsDeep) {
  ASSERT_OK(store_->Write("d/x", "1"));
  ASSERT_OK(store_->Write("d/sub/y", "22"));
  ASSERT_OK_AND_ASSIGN(auto shallow, store_->List("d"));
  ASSERT_EQ(shallow.size(), 1u);
  EXPECT_EQ(shallow[0].path, "d/x");
  ASSERT_OK_AND_ASSIGN(auto deep, store_->ListRecursive("d"));
  EXPECT_EQ(deep.size(), 2u);
  ASSERT_OK(store_->Delete("d/x"));
  ASSERT_OK_AND_ASSIGN(shallow, store_->List("d"));
  EXPECT_TRUE(shallow.empty());
}

TEST_P(ObjectStoreConformance, PathsWithSpecialCharacters) {
  // Delta partition directories and escaped values put '=', '%', spaces and non-ASCII in paths.
  const std::string dir = "k=a b%20c+d&e";
  const std::string path = dir + "/\xc3\xbc ~!$'()*,;=@[x].json";
  ASSERT_OK(store_->Write(path, "payload"));
  ASSERT_OK_AND_ASSIGN(auto b, store_->Read(path));
  EXPECT_EQ(Str(b), "payload");
  ASSERT_OK_AND_ASSIGN(auto h, store_->Head(path));
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->size, 7);
  ASSERT_OK_AND_ASSIGN(auto listed, store_->List(dir));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].path, path);
  ASSERT_OK_AND_ASSIGN(bool created, store_->PutIfAbsent(dir + "/?#.json", "x"));
  EXPECT_TRUE(created);
  ASSERT_OK_AND_ASSIGN(auto names, store_->ListNames(dir));
  EXPECT_EQ(names.size(), 2u);
  ASSERT_OK(store_->Delete(path));
  ASSERT_OK_AND_ASSIGN(h, store_->Head(path));
  EXPECT_FALSE(h.has_value());
}

TEST_P(ObjectStoreConformance, ChildStoreSeesTheSameObjects) {
  ASSERT_OK_AND_ASSIGN(auto child, store_->OpenChild("_strata/quarantine"));
  EXPECT_EQ(child->root(), store_->root() + "/_strata/quarantine");
  ASSERT_OK(child->Write("_delta_log/0.json", "from the child"));
  ASSERT_OK_AND_ASSIGN(auto b, store_->Read("_strata/quarantine/_delta_log/0.json"));
  EXPECT_EQ(Str(b), "from the child");
  ASSERT_OK(store_->Write("_strata/quarantine/part-0.parquet", "from the parent"));
  ASSERT_OK_AND_ASSIGN(b, child->Read("part-0.parquet"));
  EXPECT_EQ(Str(b), "from the parent");
  ASSERT_OK_AND_ASSIGN(bool created, child->PutIfAbsent("_delta_log/0.json", "again"));
  EXPECT_FALSE(created);
  ASSERT_OK_AND_ASSIGN(auto listed, child->ListRecursive(""));
  EXPECT_EQ(listed.size(), 2u);
  // Data files go through the child's filesystem path, which is the parent's path of the same object.
  EXPECT_EQ(child->FsPath("part-0.parquet"), store_->FsPath("_strata/quarantine/part-0.parquet"));
  ASSERT_OK_AND_ASSIGN(auto grandchild, child->OpenChild("x/y"));
  EXPECT_EQ(grandchild->root(), store_->root() + "/_strata/quarantine/x/y");
  for (const std::string bad : {"", "/abs", "a/../b", "a//b", "./a", "a/", ".."}) {
    auto r = store_->OpenChild(bad);
    ASSERT_FALSE(r.ok()) << "'" << bad << "'";
    EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument)) << r.status().ToString();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Stores, ObjectStoreConformance,
    ::testing::Values(
        StoreFactory{"local", [](const std::string& dir) { return MakeLocalStore(dir); }},
        // Disarmed, the fault wrapper must behave exactly like its target.
        StoreFactory{"fault_wrapper",
                     [](const std::string& dir) -> Result<std::shared_ptr<ObjectStore>> {
                       ARROW_ASSIGN_OR_RAISE(auto local, MakeLocalStore(dir));
                       return std::make_shared<FaultInjectingStore>(local);
                     }},
        // Always instantiated (so that test discovery at build time lists it); skips without a server.
        StoreFactory{"s3", [](const std::string&) { return MakeS3TestStore(); }, S3TestServerAvailable}),
    [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

TEST(FaultInjection, FailsTheNthCall) {
  testing::TempDir dir;
  auto local = *MakeLocalStore(dir.path());
  FaultInjectingStore store(local);
  store.FailNth(FaultInjectingStore::Op::kPutIfAbsent, 2);
  ASSERT_OK(store.PutIfAbsent("a", "1").status());
  auto r = store.PutIfAbsent("b", "2");
  EXPECT_FALSE(r.ok());
  ASSERT_OK_AND_ASSIGN(auto h, store.Head("b"));
  EXPECT_FALSE(h.has_value());
  ASSERT_OK(store.PutIfAbsent("c", "3").status());
  EXPECT_EQ(store.calls(FaultInjectingStore::Op::kPutIfAbsent), 3);
}

TEST(OpenStoreTest, RejectsUnknownSchemes) {
  auto r = OpenStore("gopher://x/y");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument));
  EXPECT_NE(r.status().message().find("gopher"), std::string::npos);
}

}  // namespace
}  // namespace strata::storage
