#include <filesystem>
#include <fstream>

#include <arrow/type.h>

#include "strata/storage/local_store.h"
#include "strata/table/checkpoint.h"
#include "strata/table/commit.h"
#include "strata/table/log_segment.h"
#include "strata/table/snapshot.h"
#include "strata/testing/gtest_util.h"

namespace strata::table {
namespace {

namespace fs = std::filesystem;

LogFile CommitFile(int64_t v) {
  storage::ObjectInfo info;
  info.path = CommitPath(v);
  return ParseLogFileName(info);
}

LogFile Named(const std::string& name) {
  storage::ObjectInfo info;
  info.path = std::string("_delta_log/") + name;
  return ParseLogFileName(info);
}

TEST(LogFileName, Kinds) {
  EXPECT_EQ(CommitFile(7).kind, LogFileKind::kCommit);
  EXPECT_EQ(CommitFile(7).version, 7);
  EXPECT_EQ(Named("00000000000000000010.checkpoint.parquet").kind, LogFileKind::kClassicCheckpoint);
  auto mp = Named("00000000000000000010.checkpoint.0000000002.0000000003.parquet");
  EXPECT_EQ(mp.kind, LogFileKind::kMultiPartCheckpoint);
  EXPECT_EQ(mp.part, 2);
  EXPECT_EQ(mp.parts, 3);
  EXPECT_EQ(Named("00000000000000000010.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json").kind,
            LogFileKind::kV2Checkpoint);
  EXPECT_EQ(Named("_last_checkpoint").kind, LogFileKind::kOther);
  EXPECT_EQ(Named("00000000000000000010.crc").kind, LogFileKind::kOther);
  EXPECT_EQ(Named("00000000000000000001.00000000000000000009.compacted.json").kind, LogFileKind::kOther);
  EXPECT_EQ(Named("0000000000000000001.json").kind, LogFileKind::kOther);
}

TEST(LogSegmentTest, CheckpointAndGaps) {
  LogListing l;
  for (int v = 0; v <= 12; ++v) l.commits.push_back(CommitFile(v));
  l.checkpoints.push_back({Named("00000000000000000010.checkpoint.parquet")});
  ASSERT_OK_AND_ASSIGN(auto seg, BuildLogSegment(l, std::nullopt, "t"));
  EXPECT_EQ(seg.version, 12);
  EXPECT_EQ(seg.checkpoint_version, 10);
  ASSERT_EQ(seg.commits.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto seg5, BuildLogSegment(l, 5, "t"));
  EXPECT_EQ(seg5.checkpoint_version, -1);
  EXPECT_EQ(seg5.commits.size(), 6u);
  auto missing = BuildLogSegment(l, 13, "t");
  EXPECT_TRUE(HasCode(missing.status(), ErrorCode::kVersionNotFound));
  LogListing gap = l;
  gap.commits.erase(gap.commits.begin() + 11);  // version 11 missing after the checkpoint
  auto g = BuildLogSegment(gap, std::nullopt, "t");
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(HasCode(g.status(), ErrorCode::kCorruptLog));
  EXPECT_NE(g.status().message().find("11"), std::string::npos);
  LogListing cleaned;
  for (int v = 10; v <= 12; ++v) cleaned.commits.push_back(CommitFile(v));
  cleaned.checkpoints = l.checkpoints;
  ASSERT_OK(BuildLogSegment(cleaned, 11, "t").status());
  EXPECT_TRUE(HasCode(BuildLogSegment(cleaned, 3, "t").status(), ErrorCode::kVersionNotFound));
  EXPECT_TRUE(HasCode(BuildLogSegment(LogListing{}, std::nullopt, "t").status(), ErrorCode::kNotATable));
}

std::shared_ptr<storage::ObjectStore> Store(const std::string& dir) {
  auto s = storage::MakeLocalStore(dir);
  EXPECT_TRUE(s.ok());
  return *s;
}

Metadata SimpleMetadata() {
  Metadata m;
  m.id = NewUuid();
  m.schema_string = R"({"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}}]})";
  m.created_time = NowMs();
  return m;
}

AddFile Add(const std::string& path) {
  AddFile a;
  a.path = path;
  a.size = 1;
  a.stats = R"({"numRecords":1})";
  return a;
}

TEST(SnapshotTest, ReplayAndCheckpointGiveTheSameState) {
  testing::TempDir dir;
  auto store = Store(dir.path());
  Commit c0;
  c0.actions = {Protocol{1, 2}, SimpleMetadata(), Add("a.parquet"), Add("b.parquet")};
  ASSERT_OK_AND_ASSIGN(auto v0, CommitToTable(store, c0));
  EXPECT_EQ(v0, 0);
  SnapshotPtr snap;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(snap, Snapshot::Load(store));
    Commit c;
    c.read_snapshot = snap;
    c.actions.push_back(Add("f" + std::to_string(i) + ".parquet"));
    if (i == 2) {
      RemoveFile r;
      r.path = "a.parquet";
      r.deletion_timestamp = NowMs();
      c.actions.push_back(r);
    }
    if (i == 3) c.actions.push_back(Txn{"stream", 42, NowMs()});
    ASSERT_OK(CommitToTable(store, c, CommitOptions{.checkpoint_interval = 0}).status());
  }
  ASSERT_OK_AND_ASSIGN(auto before, Snapshot::Load(store));
  EXPECT_EQ(before->version(), 5);
  EXPECT_EQ(before->files().size(), 6u);
  EXPECT_EQ(before->txns().at("stream").version, 42);
  EXPECT_EQ(before->num_records(), 6);
  ASSERT_OK(WriteCheckpoint(*before));
  ASSERT_OK_AND_ASSIGN(auto after, Snapshot::Load(store));
  EXPECT_EQ(after->version(), 5);
  std::set<std::string> a, b;
  for (const auto& f : before->files()) a.insert(f.path);
  for (const auto& f : after->files()) b.insert(f.path);
  EXPECT_EQ(a, b);
  EXPECT_EQ(after->txns().at("stream").version, 42);
  EXPECT_EQ(after->tombstones().size(), 1u);
  // Time travel below the checkpoint still replays from commit 0.
  ASSERT_OK_AND_ASSIGN(auto v2, Snapshot::Load(store, 2));
  EXPECT_EQ(v2->files().size(), 4u);
  // A corrupt checkpoint is an error naming it, not a silent misread.
  {
    std::ofstream f(dir.path() + "/_delta_log/00000000000000000005.checkpoint.parquet", std::ios::trunc);
    f << "garbage";
  }
  auto bad = Snapshot::Load(store);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("checkpoint"), std::string::npos) << bad.status().ToString();
}

TEST(SnapshotTest, MissingProtocolOrMetadataIsNamed) {
  testing::TempDir dir;
  auto store = Store(dir.path());
  ASSERT_OK(store->Write(CommitPath(0), SerializeActions({SimpleMetadata()})));
  auto r = Snapshot::Load(store);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no protocol"), std::string::npos);
}

TEST(SnapshotTest, RefusesUnknownReaderFeatureByName) {
  testing::TempDir dir;
  auto store = Store(dir.path());
  Protocol p{3, 7, std::vector<std::string>{"fancyNewThing"}, std::vector<std::string>{"fancyNewThing"}};
  ASSERT_OK(store->Write(CommitPath(0), SerializeActions({p, SimpleMetadata()})));
  auto r = Snapshot::Load(store);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kUnsupportedFeature));
  EXPECT_NE(r.status().message().find("fancyNewThing"), std::string::npos);
}

TEST(SnapshotTest, NotATable) {
  testing::TempDir dir;
  auto r = Snapshot::Load(Store(dir.path()));
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kNotATable));
}

TEST(CommitTest, ConcurrentAppendsBothLandOverwriteConflicts) {
  testing::TempDir dir;
  auto store = Store(dir.path());
  Commit c0;
  c0.actions = {Protocol{1, 2}, SimpleMetadata(), Add("a.parquet")};
  ASSERT_OK(CommitToTable(store, c0).status());
  ASSERT_OK_AND_ASSIGN(auto base, Snapshot::Load(store));
  Commit app1, app2, overwrite;
  app1.read_snapshot = app2.read_snapshot = overwrite.read_snapshot = base;
  app1.blind_append = app2.blind_append = true;
  app1.actions = {Add("x.parquet")};
  app2.actions = {Add("y.parquet")};
  ASSERT_OK_AND_ASSIGN(auto v1, CommitToTable(store, app1));
  ASSERT_OK_AND_ASSIGN(auto v2, CommitToTable(store, app2));
  EXPECT_EQ(v1, 1);
  EXPECT_EQ(v2, 2);
  // An overwrite that read file a.parquet, which a concurrent commit removed, conflicts.
  Commit del;
  del.read_snapshot = base;
  RemoveFile r;
  r.path = "a.parquet";
  del.actions = {r};
  del.read_files = {FileKey("a.parquet", std::nullopt)};
  ASSERT_OK(CommitToTable(store, del).status());
  overwrite.read_scope = Commit::ReadScope::kAll;
  overwrite.read_files = {FileKey("a.parquet", std::nullopt)};
  overwrite.actions = {r, Add("z.parquet")};
  auto res = CommitToTable(store, overwrite);
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(HasCode(res.status(), ErrorCode::kCommitConflict));
  ASSERT_OK_AND_ASSIGN(auto last, Snapshot::Load(store));
  EXPECT_EQ(last->version(), 3);  // the refused commit left nothing behind
}

TEST(SharedTestData, EveryTableLoadsOrIsRefusedByName) {
  std::string root = testing::SharedDeltaTables();
  if (root.empty()) GTEST_SKIP() << "../shared/testdata not present";
  int loaded = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!fs::is_directory(entry.path() / "_delta_log")) continue;
    auto store = Store(entry.path().string());
    auto snap = Snapshot::Load(store);
    if (snap.ok()) {
      ++loaded;
      EXPECT_GE((*snap)->version(), 0);
      continue;
    }
    // Refusals must say what is unsupported; nothing else may fail.
    EXPECT_TRUE(HasCode(snap.status(), ErrorCode::kUnsupportedFeature))
        << entry.path().filename() << ": " << snap.status().ToString();
  }
  EXPECT_GT(loaded, 30);
}

}  // namespace
}  // namespace strata::table

namespace strata::table {
namespace {

TEST(Properties, IntervalsParse) {
  EXPECT_EQ(ParseIntervalMs("interval 7 days", 0), 7LL * 86400000);
  EXPECT_EQ(ParseIntervalMs("interval 1 week", 0), 7LL * 86400000);
  EXPECT_EQ(ParseIntervalMs("interval 2 hours", 0), 7200000);
  EXPECT_EQ(ParseIntervalMs("interval 30 seconds", 0), 30000);
  EXPECT_EQ(ParseIntervalMs("7 days", 42), 42);
  EXPECT_EQ(ParseIntervalMs("", 42), 42);
  EXPECT_EQ(ParseIntervalMs("interval 3 fortnights", 42), 42);
}

}  // namespace
}  // namespace strata::table
