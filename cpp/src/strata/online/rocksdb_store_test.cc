// RocksDB-specific behaviour: primary/secondary sharing (in one process and across
// processes), kill -9 durability, open errors, corrupt stored values.

#include "strata/online/rocksdb_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <rocksdb/db.h>

#include "strata/online/layout_internal.h"
#include "strata/online/online_test_util.h"
#include "strata/testing/gtest_util.h"

extern char** environ;

namespace strata::online {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

RocksDbOptions Primary(const std::string& path) {
  RocksDbOptions o;
  o.path = path;
  return o;
}

RocksDbOptions Secondary(const std::string& path, int64_t interval_ms = 0) {
  RocksDbOptions o;
  o.path = path;
  o.mode = RocksDbOptions::Mode::kSecondary;
  o.catch_up_interval_ms = interval_ms;
  return o;
}

Status WriteOne(OnlineStore* s, int64_t id, int64_t ts, int64_t value) {
  return s->WriteBatch("v", RowBatch{{"x"}, {MakeRow(DriverKey(id), ts, {}, {value})}});
}

/// The value of key `id` in view "v", or -1 when absent.
int64_t ValueOf(OnlineStore* s, int64_t id) {
  auto r = ReadKeys(s, "v", {DriverKey(id)}, {"x"});
  if (!r.ok() || r->statuses[0] != FeatureStatus::kPresent) return -1;
  return std::get<int64_t>(*r->value(0, 0));
}

constexpr int64_t kBulkRows = 5000;  // above the store's ingestion threshold

/// Rows `first` .. first+n-1 of view "v" at event time `ts`, value id * 10 + ts.
RowBatch BulkBatch(int64_t first, int64_t n, int64_t ts) {
  RowBatch b{{"x"}, {}};
  for (int64_t id = first; id < first + n; ++id) b.rows.push_back(MakeRow(DriverKey(id), ts, {}, {id * 10 + ts}));
  return b;
}

// Batches of thousands of rows bypass the memtable (a table file is written and ingested); they
// must keep every rule of the row-by-row path: newer versions win, older ones are ignored, a
// secondary sees them after catching up, and a reopened store still has them.
TEST(RocksDbStore, LargeBatchesAreIngestedWithTheSameRules) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online";
  ASSERT_OK_AND_ASSIGN(auto primary, OpenRocksDbStore(Primary(path)));
  ASSERT_OK_AND_ASSIGN(auto secondary, OpenRocksDbStore(Secondary(path)));
  ASSERT_OK(WriteOne(primary.get(), 3, 500, 42));  // newer than what the batch brings
  ASSERT_OK(primary->WriteBatch("v", BulkBatch(0, 10000, 100)));
  // Ids 5000..14999: even ids older than stored (ignored), odd ids newer, 10000.. new.
  RowBatch mixed{{"x"}, {}};
  for (int64_t id = 5000; id < 15000; ++id) {
    const int64_t ts = id < 10000 && id % 2 == 0 ? 50 : 200;
    mixed.rows.push_back(MakeRow(DriverKey(id), ts, {}, {id * 10 + ts}));
  }
  ASSERT_OK(primary->WriteBatch("v", mixed));
  auto expected = [](int64_t id) -> int64_t {
    if (id == 3) return 42;
    if (id < 5000) return id * 10 + 100;
    if (id < 10000 && id % 2 == 0) return id * 10 + 100;
    return id * 10 + 200;
  };
  ASSERT_OK(secondary->Refresh());
  for (OnlineStore* s : {primary.get(), secondary.get()}) {
    std::vector<std::string> keys;
    for (int64_t id = 0; id < 15000; ++id) keys.push_back(DriverKey(id));
    ASSERT_OK_AND_ASSIGN(auto r, ReadKeys(s, "v", keys, {"x"}));
    for (int64_t id = 0; id < 15000; ++id) {
      ASSERT_EQ(r.statuses[id], FeatureStatus::kPresent) << id;
      ASSERT_TRUE(SameOptional(r.value(id, 0), expected(id))) << id;
    }
  }
  EXPECT_TRUE(fs::is_empty(fs::path(path) / "ingest"));
  ASSERT_OK(secondary->Close());
  ASSERT_OK(primary->Close());
  ASSERT_OK_AND_ASSIGN(auto reopened, OpenRocksDbStore(Primary(path)));
  EXPECT_EQ(ValueOf(reopened.get(), 14999), 14999 * 10 + 200);
  EXPECT_EQ(ValueOf(reopened.get(), 5000), 5000 * 10 + 100);
}

TEST(RocksDbStore, SecondaryFollowsPrimaryInProcess) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online";
  ASSERT_OK_AND_ASSIGN(auto primary, OpenRocksDbStore(Primary(path)));
  ASSERT_OK(WriteOne(primary.get(), 1, 10, 100));
  ASSERT_OK(primary->SetMetadata("v", "watermark", "t1"));

  ASSERT_OK_AND_ASSIGN(auto secondary, OpenRocksDbStore(Secondary(path)));
  EXPECT_EQ(ValueOf(secondary.get(), 1), 100);
  ASSERT_OK_AND_ASSIGN(auto wm, secondary->GetMetadata("v", "watermark"));
  EXPECT_EQ(wm, std::optional<std::string>("t1"));

  ASSERT_OK(WriteOne(primary.get(), 1, 20, 200));
  ASSERT_OK(WriteOne(primary.get(), 2, 20, 201));
  ASSERT_OK(primary->SetMetadata("v", "watermark", "t2"));
  EXPECT_EQ(ValueOf(secondary.get(), 1), 100);  // not caught up yet
  EXPECT_EQ(ValueOf(secondary.get(), 2), -1);
  ASSERT_OK(secondary->Refresh());
  EXPECT_EQ(ValueOf(secondary.get(), 1), 200);
  EXPECT_EQ(ValueOf(secondary.get(), 2), 201);
  ASSERT_OK_AND_ASSIGN(wm, secondary->GetMetadata("v", "watermark"));
  EXPECT_EQ(wm, std::optional<std::string>("t2"));

  // The primary restarts: recovery turns its log into a table file and starts a new log; the
  // secondary follows through the MANIFEST.
  ASSERT_OK(primary->Close());
  primary.reset();
  ASSERT_OK_AND_ASSIGN(primary, OpenRocksDbStore(Primary(path)));
  ASSERT_OK(WriteOne(primary.get(), 3, 30, 300));
  ASSERT_OK(primary->DeleteView("gone"));
  ASSERT_OK(secondary->Refresh());
  EXPECT_EQ(ValueOf(secondary.get(), 1), 200);
  EXPECT_EQ(ValueOf(secondary.get(), 3), 300);

  ASSERT_OK(primary->DeleteView("v"));
  ASSERT_OK(secondary->Refresh());
  EXPECT_EQ(ValueOf(secondary.get(), 1), -1);
  ASSERT_OK_AND_ASSIGN(wm, secondary->GetMetadata("v", "watermark"));
  EXPECT_FALSE(wm.has_value());
  EXPECT_OK(secondary->Close());
  EXPECT_OK(primary->Close());
}

// Rows in table files (reopening replays the log into one), read once so that every cache
// holds them, then deleted: the view must read as gone, in the primary and in a secondary.
TEST(RocksDbStore, DeleteViewOfRowsInTableFiles) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online";
  {
    ASSERT_OK_AND_ASSIGN(auto s, OpenRocksDbStore(Primary(path)));
    for (int64_t i = 0; i < 100; ++i) ASSERT_OK(WriteOne(s.get(), i, 1, i));
    ASSERT_OK(WriteOne(s.get(), 0, 1, 0));
  }
  ASSERT_OK_AND_ASSIGN(auto primary, OpenRocksDbStore(Primary(path)));
  ASSERT_OK_AND_ASSIGN(auto secondary, OpenRocksDbStore(Secondary(path)));
  EXPECT_EQ(ValueOf(primary.get(), 7), 7);
  EXPECT_EQ(ValueOf(secondary.get(), 7), 7);
  ASSERT_OK(primary->DeleteView("v"));
  EXPECT_EQ(ValueOf(primary.get(), 7), -1);
  ASSERT_OK(secondary->Refresh());
  EXPECT_EQ(ValueOf(secondary.get(), 7), -1);
  ASSERT_OK(WriteOne(primary.get(), 7, 0, 70));
  EXPECT_EQ(ValueOf(primary.get(), 7), 70);
}

TEST(RocksDbStore, SecondaryRejectsWrites) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online";
  ASSERT_OK_AND_ASSIGN(auto primary, OpenRocksDbStore(Primary(path)));
  ASSERT_OK_AND_ASSIGN(auto secondary, OpenRocksDbStore(Secondary(path)));
  EXPECT_TRUE(HasCode(WriteOne(secondary.get(), 1, 1, 1), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(secondary->DeleteView("v"), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(secondary->SetMetadata("v", "a", "b"), ErrorCode::kInvalidArgument));
  // Several secondaries may follow one primary; the primary need not stay open.
  ASSERT_OK(primary->Close());
  ASSERT_OK_AND_ASSIGN(auto another, OpenRocksDbStore(Secondary(path)));
  EXPECT_EQ(ValueOf(another.get(), 1), -1);
}

TEST(RocksDbStore, SecondaryCatchesUpInTheBackground) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online";
  ASSERT_OK_AND_ASSIGN(auto primary, OpenRocksDbStore(Primary(path)));
  ASSERT_OK_AND_ASSIGN(auto secondary, OpenRocksDbStore(Secondary(path, /*interval_ms=*/10)));
  ASSERT_OK(WriteOne(primary.get(), 1, 1, 42));
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (ValueOf(secondary.get(), 1) != 42 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(ValueOf(secondary.get(), 1), 42);
  EXPECT_OK(secondary->Close());  // stops the catch-up thread
}

// A writer thread raises versions while a reader thread reads and catches up: the reader never
// sees a key go back in time, and ends at the last version.
TEST(RocksDbStore, SecondaryReadsWhilePrimaryWrites) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online";
  constexpr int kKeys = 50, kRounds = 200;
  ASSERT_OK_AND_ASSIGN(auto primary, OpenRocksDbStore(Primary(path)));
  ASSERT_OK_AND_ASSIGN(auto secondary, OpenRocksDbStore(Secondary(path, /*interval_ms=*/5)));
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (int round = 1; round <= kRounds; ++round) {
      RowBatch b{{"x"}, {}};
      for (int k = 0; k < kKeys; ++k) b.rows.push_back(MakeRow(DriverKey(k), round, {}, {int64_t{round}}));
      if (!primary->WriteBatch("v", b).ok()) ++failures;
    }
    done = true;
  });
  std::vector<std::string> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back(DriverKey(k));
  std::vector<int64_t> seen(kKeys, 0);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    bool finished = done.load();
    if (!secondary->Refresh().ok()) ++failures;
    auto r = ReadKeys(secondary.get(), "v", keys, {"x"});
    if (!r.ok()) {
      ++failures;
      break;
    }
    bool all_last = true;
    for (int k = 0; k < kKeys; ++k) {
      int64_t v = r->statuses[k] == FeatureStatus::kPresent ? std::get<int64_t>(*r->value(k, 0)) : 0;
      if (v < seen[k]) ++failures;
      seen[k] = v;
      all_last &= v == kRounds;
    }
    if (finished && all_last) break;
  }
  writer.join();
  EXPECT_EQ(failures.load(), 0);
  for (int k = 0; k < kKeys; ++k) EXPECT_EQ(seen[k], kRounds) << k;
}

TEST(RocksDbStore, OpenErrors) {
  strata::testing::TempDir dir;
  // A secondary of nothing.
  auto r = OpenRocksDbStore(Secondary(dir.path() + "/missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no online store"), std::string::npos) << r.status().ToString();
  // A path that is a file.
  std::ofstream(dir.path() + "/file") << "x";
  r = OpenRocksDbStore(Primary(dir.path() + "/file"));
  EXPECT_FALSE(r.ok());
  r = OpenRocksDbStore(Primary(dir.path() + "/file/sub"));
  EXPECT_FALSE(r.ok());
  // A second primary on the same directory.
  ASSERT_OK_AND_ASSIGN(auto first, OpenRocksDbStore(Primary(dir.path() + "/db")));
  r = OpenRocksDbStore(Primary(dir.path() + "/db"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("read-only"), std::string::npos) << r.status().ToString();
  // An empty path.
  EXPECT_TRUE(HasCode(OpenRocksDbStore(Primary("")).status(), ErrorCode::kInvalidArgument));
}

TEST(RocksDbStore, RefusesOtherDatabases) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/other";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw;
    ASSERT_TRUE(rocksdb::DB::Open(o, path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "some", "data").ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto files_before = std::distance(fs::directory_iterator(path), fs::directory_iterator());
  auto r = OpenRocksDbStore(Primary(path));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a strata online store"), std::string::npos) << r.status().ToString();
  r = OpenRocksDbStore(Secondary(path));
  EXPECT_FALSE(r.ok());
  // Refused before RocksDB opened it: nothing was added to the directory.
  EXPECT_EQ(std::distance(fs::directory_iterator(path), fs::directory_iterator()), files_before);
  // A strata store of a future format.
  const std::string future = dir.path() + "/future";
  {
    ASSERT_OK_AND_ASSIGN(auto s, OpenRocksDbStore(Primary(future)));
  }
  std::ofstream(future + "/STRATA_ONLINE_FORMAT", std::ios::trunc) << "99\n";
  r = OpenRocksDbStore(Primary(future));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kUnsupportedFeature)) << r.status().ToString();
  r = OpenRocksDbStore(Secondary(future));
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kUnsupportedFeature)) << r.status().ToString();
}

TEST(RocksDbStore, CorruptStoredRowIsAnErrorAndIsReplacedByAWrite) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online";
  {
    ASSERT_OK_AND_ASSIGN(auto s, OpenRocksDbStore(Primary(path)));
    ASSERT_OK(WriteOne(s.get(), 1, 10, 1));
    ASSERT_OK(WriteOne(s.get(), 2, 10, 2));
  }
  std::string good_row;
  {
    rocksdb::DB* raw;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), internal::RowKey("v", DriverKey(2)), &good_row).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), internal::RowKey("v", DriverKey(1)), "garbage").ok());
    // A row whose header is fine but whose body is truncated.
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), internal::RowKey("v", DriverKey(2)),
                        good_row.substr(0, good_row.size() - 3)).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  ASSERT_OK_AND_ASSIGN(auto s, OpenRocksDbStore(Primary(path)));
  for (int64_t id : {1, 2}) {
    auto r = ReadKeys(s.get(), "v", {DriverKey(3), DriverKey(id)}, {"x"});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("corrupt"), std::string::npos) << r.status().ToString();
    EXPECT_NE(r.status().message().find("view 'v'"), std::string::npos) << r.status().ToString();
  }
  // Any valid row replaces garbage, even an old one.
  ASSERT_OK(WriteOne(s.get(), 1, -100, 11));
  ASSERT_OK(WriteOne(s.get(), 2, 10, 12));
  EXPECT_EQ(ValueOf(s.get(), 1), 11);
  EXPECT_EQ(ValueOf(s.get(), 2), 12);
}

// ------------------------------------------------------------------------------------------------
// Across processes: the test binary re-runs itself as the writer (RocksDbChild.Writer).
// ------------------------------------------------------------------------------------------------

constexpr char kChildDb[] = "STRATA_ONLINE_CHILD_DB";
constexpr char kChildMode[] = "STRATA_ONLINE_CHILD_MODE";
constexpr char kChildProgress[] = "STRATA_ONLINE_CHILD_PROGRESS";
constexpr int kFollowRows = 300;

/// A child process that is killed (SIGKILL) and reaped when this object dies.
class Child {
 public:
  Child(const std::string& mode, const std::string& db, const std::string& progress) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.push_back(std::string(kChildDb) + "=" + db);
    env.push_back(std::string(kChildMode) + "=" + mode);
    env.push_back(std::string(kChildProgress) + "=" + progress);
    std::vector<std::string> args = {"/proc/self/exe", "--gtest_filter=RocksDbChild.Writer"};
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string exe = fs::read_symlink("/proc/self/exe").string();
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) ::dup2(devnull, 1);
      ::execve(exe.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }
  pid_t pid() const { return pid_; }
  /// Reaps the child; its exit status (or -signal).
  int Wait() {
    int status = 0;
    if (pid_ <= 0) return -1;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

/// The last complete number in the progress file, or -1.
int64_t Progress(const std::string& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!in.eof()) last = line;  // a line without its newline may be half written
  }
  return last.empty() ? -1 : std::stoll(last);
}

TEST(RocksDbChild, Writer) {
  const char* db = std::getenv(kChildDb);
  if (db == nullptr) GTEST_SKIP() << "only runs as the child of the cross-process tests";
  std::string mode = std::getenv(kChildMode);
  std::string progress = std::getenv(kChildProgress);
  ASSERT_OK_AND_ASSIGN(auto store, OpenRocksDbStore(Primary(db)));
  int fd = ::open(progress.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ASSERT_GE(fd, 0);
  if (mode == "bulk") {  // batches large enough to be ingested as table files, forever
    for (int64_t b = 0;; ++b) {
      ASSERT_OK(store->WriteBatch("v", BulkBatch(b * kBulkRows, kBulkRows, b + 1)));
      std::string line = std::to_string(b) + "\n";
      ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    }
  }
  const int64_t limit = mode == "follow" ? kFollowRows : std::numeric_limits<int64_t>::max();
  for (int64_t i = 0; i < limit; ++i) {
    ASSERT_OK(WriteOne(store.get(), i, i, i * 10));
    // Reported only after the write returned: every reported row was acknowledged.
    std::string line = std::to_string(i) + "\n";
    ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    if (mode == "follow") std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  ASSERT_OK(store->SetMetadata("v", "done", "yes"));
  ::close(fd);
  ASSERT_OK(store->Close());
}

TEST(RocksDbStore, SecondaryFollowsAPrimaryInAnotherProcess) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online", progress = dir.path() + "/progress";
  Child child("follow", path, progress);
  ASSERT_GT(child.pid(), 0);
  // Wait for the writer to create the store.
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Progress(progress) < 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_GE(Progress(progress), 0);
  ASSERT_OK_AND_ASSIGN(auto secondary, OpenRocksDbStore(Secondary(path)));
  std::vector<std::string> keys;
  for (int i = 0; i < kFollowRows; ++i) keys.push_back(DriverKey(i));
  int64_t visible = 0, observations = 0;
  bool done = false;
  while (!done && Clock::now() < deadline) {
    ASSERT_OK(secondary->Refresh());
    ASSERT_OK_AND_ASSIGN(auto r, ReadKeys(secondary.get(), "v", keys, {"x"}));
    // Writes arrive in order: what is visible is always a prefix, and it only grows.
    int64_t n = 0;
    while (n < kFollowRows && r.statuses[n] == FeatureStatus::kPresent) ++n;
    for (int64_t i = n; i < kFollowRows; ++i) ASSERT_EQ(r.statuses[i], FeatureStatus::kNotFound) << i;
    for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(SameOptional(r.value(i, 0), int64_t{i * 10}));
    ASSERT_GE(n, visible);
    if (n > visible && n < kFollowRows) ++observations;
    visible = n;
    ASSERT_OK_AND_ASSIGN(auto d, secondary->GetMetadata("v", "done"));
    done = d.has_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(done);
  ASSERT_OK(secondary->Refresh());
  ASSERT_OK_AND_ASSIGN(auto r, ReadKeys(secondary.get(), "v", keys, {"x"}));
  for (int i = 0; i < kFollowRows; ++i) ASSERT_EQ(r.statuses[i], FeatureStatus::kPresent) << i;
  EXPECT_GT(observations, 0) << "never saw the writer part-way";
  EXPECT_EQ(child.Wait(), 0);
}

/// Starts a writer child in `mode`, kills it with SIGKILL once it has reported `at_least` steps
/// done (within 60 s), and returns the last step it reported (-1 when it never got there).
int64_t KillWriterAfter(const std::string& mode, const std::string& path, const std::string& progress,
                        int64_t at_least) {
  Child child(mode, path, progress);
  EXPECT_GT(child.pid(), 0);
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Progress(progress) < at_least && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (Progress(progress) < at_least) return -1;
  ::kill(child.pid(), SIGKILL);
  EXPECT_EQ(child.Wait(), -SIGKILL);
  return Progress(progress);
}

TEST(RocksDbStore, KillNineLosesNoAcknowledgedWrite) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online", progress = dir.path() + "/progress";
  const int64_t acknowledged = KillWriterAfter("forever", path, progress, 500);
  ASSERT_GE(acknowledged, 500);
  // The dead writer's lock is gone: a new primary opens and recovers every acknowledged row.
  ASSERT_OK_AND_ASSIGN(auto store, OpenRocksDbStore(Primary(path)));
  std::vector<std::string> keys;
  for (int64_t i = 0; i <= acknowledged; ++i) keys.push_back(DriverKey(i));
  ASSERT_OK_AND_ASSIGN(auto r, ReadKeys(store.get(), "v", keys, {"x"}));
  for (int64_t i = 0; i <= acknowledged; ++i) {
    ASSERT_EQ(r.statuses[i], FeatureStatus::kPresent) << i << " of " << acknowledged;
    ASSERT_TRUE(SameOptional(r.value(i, 0), int64_t{i * 10}));
  }
}

// A writer killed while it writes and ingests table files: every batch it reported done is there,
// and the next primary removes the files it left behind.
TEST(RocksDbStore, KillNineDuringIngestionLosesNoAcknowledgedBatch) {
  strata::testing::TempDir dir;
  const std::string path = dir.path() + "/online", progress = dir.path() + "/progress";
  const int64_t acknowledged = KillWriterAfter("bulk", path, progress, 5);
  ASSERT_GE(acknowledged, 5);
  ASSERT_OK_AND_ASSIGN(auto store, OpenRocksDbStore(Primary(path)));
  EXPECT_FALSE(fs::exists(fs::path(path) / "ingest"));
  std::vector<std::string> keys;
  const int64_t rows = (acknowledged + 1) * kBulkRows;
  for (int64_t id = 0; id < rows; ++id) keys.push_back(DriverKey(id));
  ASSERT_OK_AND_ASSIGN(auto r, ReadKeys(store.get(), "v", keys, {"x"}));
  for (int64_t id = 0; id < rows; ++id) {
    ASSERT_EQ(r.statuses[id], FeatureStatus::kPresent) << id << " of " << rows;
    ASSERT_TRUE(SameOptional(r.value(id, 0), id * 10 + id / kBulkRows + 1)) << id;
  }
}

}  // namespace
}  // namespace strata::online
