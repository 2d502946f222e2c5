#include "strata/quality/monitor.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <arrow/api.h>

#include "strata/exec/scan.h"
#include "strata/ops/write.h"
#include "strata/quality/contract.h"
#include "strata/storage/fault_injection.h"
#include "strata/storage/local_store.h"
#include "strata/table/snapshot.h"
#include "strata/testing/gtest_util.h"

namespace strata::quality {
namespace {

// ---- a small checker of the Prometheus text exposition format 0.0.4 -------------------------------

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> counter/gauge/histogram
  std::vector<Sample> samples;

  /// The value of the one sample with this name and these labels (NaN when absent).
  double Get(const std::string& name, const std::map<std::string, std::string>& labels) const {
    double out = std::nan("");
    int found = 0;
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) {
        out = s.value;
        ++found;
      }
    }
    EXPECT_LE(found, 1) << name;
    return out;
  }
};

bool IsNameChar(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

/// The family a sample name belongs to (histograms expose name_bucket, name_sum, name_count).
std::string FamilyOf(const std::string& sample, const std::map<std::string, std::string>& types) {
  if (types.count(sample)) return sample;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s(suffix);
    if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
      std::string base = sample.substr(0, sample.size() - s.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return "";
}

/// Parses `text`, failing the test on any line that is not valid exposition format: every sample
/// is `name{label="value",...} value`, belongs to a family whose HELP and TYPE lines came before it,
/// families are not interleaved or declared twice, label values use only \\, \" and \n escapes.
Exposition Parse(const std::string& text) {
  Exposition out;
  std::set<std::string> helped, closed;
  std::string current;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "the text must end with a newline";
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    SCOPED_TRACE("line " + std::to_string(line_no) + ": " + line);
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      EXPECT_NE(sp, std::string::npos);
      std::string name = rest.substr(0, sp);
      if (line[2] == 'H') {
        EXPECT_FALSE(helped.count(name)) << "HELP twice for " << name;
        EXPECT_FALSE(closed.count(name)) << "family " << name << " declared again";
        helped.insert(name);
        if (!current.empty() && current != name) closed.insert(current);
        current = name;
      } else {
        EXPECT_TRUE(helped.count(name)) << "TYPE before HELP for " << name;
        EXPECT_FALSE(out.types.count(name)) << "TYPE twice for " << name;
        std::string type = rest.substr(sp + 1);
        EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram" || type == "summary" ||
                    type == "untyped")
            << type;
        out.types[name] = type;
      }
      continue;
    }
    EXPECT_FALSE(line.empty() || line[0] == '#') << "unexpected line";
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = 0;
    while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
    s.name = line.substr(0, i);
    EXPECT_FALSE(s.name.empty());
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t k = i;
        while (i < line.size() && IsNameChar(line[i], i == k)) ++i;
        std::string key = line.substr(k, i - k);
        EXPECT_FALSE(key.empty());
        EXPECT_TRUE(i + 1 < line.size() && line[i] == '=' && line[i + 1] == '"') << "label " << key;
        if (!(i + 1 < line.size() && line[i] == '=' && line[i + 1] == '"')) return out;
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            EXPECT_LT(i + 1, line.size());
            char e = line[i + 1];
            EXPECT_TRUE(e == '\\' || e == '"' || e == 'n') << "bad escape \\" << e;
            value += e == 'n' ? '\n' : e;
            i += 2;
          } else {
            value += line[i++];
          }
        }
        EXPECT_LT(i, line.size()) << "unterminated label value";
        ++i;  // closing quote
        EXPECT_FALSE(s.labels.count(key)) << "label " << key << " twice";
        s.labels[key] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      EXPECT_LT(i, line.size());
      ++i;  // '}'
    }
    EXPECT_TRUE(i < line.size() && line[i] == ' ') << "no space before the value";
    std::string v = line.substr(i + 1);
    EXPECT_EQ(v.find(' '), std::string::npos) << "no timestamps expected";
    if (v == "+Inf") {
      s.value = INFINITY;
    } else if (v == "-Inf") {
      s.value = -INFINITY;
    } else if (v == "NaN") {
      s.value = NAN;
    } else {
      size_t used = 0;
      s.value = std::stod(v, &used);
      EXPECT_EQ(used, v.size()) << "bad value " << v;
    }
    std::string family = FamilyOf(s.name, out.types);
    EXPECT_FALSE(family.empty()) << "sample " << s.name << " has no TYPE before it";
    EXPECT_EQ(family, current) << "sample outside its family's block";
    if (out.types[family] == "histogram" && s.name == family + "_bucket") {
      EXPECT_TRUE(s.labels.count("le")) << "bucket without le";
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

ops::RunEvent Event(std::string table, std::string op, std::string source = "write") {
  ops::RunEvent e;
  e.table_uri = std::move(table);
  e.operation = std::move(op);
  e.source = std::move(source);
  e.started_us = 1'700'000'000'000'000;
  return e;
}

std::map<std::string, std::string> L(const std::string& t, const std::string& o, const std::string& s) {
  return {{"table", t}, {"operation", o}, {"source", s}};
}

TEST(RunRecorder, EmptyTextIsValid) {
  RunRecorder rec({false});
  auto x = Parse(rec.PrometheusText());
  EXPECT_EQ(x.types.at("strata_runs_total"), "counter");
  EXPECT_EQ(x.types.at("strata_run_duration_seconds"), "histogram");
  EXPECT_EQ(x.types.at("strata_table_freshness_seconds"), "gauge");
  ASSERT_EQ(x.samples.size(), 1u);  // only the label-less error counter
  EXPECT_EQ(x.samples[0].name, "strata_run_observer_errors_total");
}

TEST(RunRecorder, LabelValuesAreEscaped) {
  RunRecorder rec({false});
  const std::string nasty = "s3://b/a\\b \"quoted\"\nline2";
  auto e = Event(nasty, "WRITE", "stream:{topic}=1,x");
  e.newest_event_us = e.started_us;
  rec.Aggregate(e);
  std::string text = rec.PrometheusText();
  EXPECT_NE(text.find("table=\"s3://b/a\\\\b \\\"quoted\\\"\\nline2\""), std::string::npos) << text;
  auto x = Parse(text);
  EXPECT_EQ(x.Get("strata_runs_total", L(nasty, "WRITE", "stream:{topic}=1,x")), 1);
  EXPECT_FALSE(std::isnan(x.Get("strata_table_freshness_seconds", {{"table", nasty}})));
}

TEST(RunRecorder, AggregatesMatchABruteForceSum) {
  std::mt19937_64 rng(42);
  const std::vector<std::string> tables = {"/data/a", "/data/b", "s3://lake/c"};
  const std::vector<std::string> ops_ = {"WRITE", "MERGE", "DELETE"};
  const std::vector<std::string> sources = {"write", "stream:clicks", "pipeline:silver"};
  const int64_t now = 1'800'000'000'000'000;
  RunRecorder::Options o;
  o.persist = false;
  o.now_us = [now] { return now; };
  RunRecorder rec(o);
  struct Expect {
    int64_t runs = 0, failed = 0, in = 0, out = 0, rejected = 0;
    double seconds = 0;
    std::vector<double> durations;
    std::optional<int64_t> last_success, newest;
  };
  std::map<std::tuple<std::string, std::string, std::string>, Expect> expect;
  std::map<std::string, int64_t> newest_by_table;
  for (int i = 0; i < 2000; ++i) {
    auto e = Event(tables[rng() % 3], ops_[rng() % 3], sources[rng() % 3]);
    e.rows_in = static_cast<int64_t>(rng() % 1000);
    e.rows_out = static_cast<int64_t>(rng() % (e.rows_in + 1));
    e.rows_rejected = e.rows_in - e.rows_out;
    e.success = rng() % 5 != 0;
    // Durations spread over every bucket, including exact bounds and beyond the last one.
    const auto& b = DefaultDurationBuckets();
    switch (rng() % 3) {
      case 0: e.duration_us = static_cast<int64_t>(b[rng() % b.size()] * 1e6); break;
      case 1: e.duration_us = static_cast<int64_t>(rng() % 2'000'000'000); break;
      default: e.duration_us = static_cast<int64_t>(rng() % 20'000); break;
    }
    e.started_us += static_cast<int64_t>(rng() % 1'000'000'000);
    if (rng() % 2) e.newest_event_us = now - static_cast<int64_t>(rng() % 10'000'000'000);
    rec.Aggregate(e);
    auto& x = expect[{e.table_uri, e.operation, e.source}];
    ++x.runs;
    x.failed += !e.success;
    x.in += e.rows_in;
    x.out += e.rows_out;
    x.rejected += e.rows_rejected;
    x.seconds += static_cast<double>(e.duration_us) / 1e6;
    x.durations.push_back(static_cast<double>(e.duration_us) / 1e6);
    if (e.success) x.last_success = std::max(x.last_success.value_or(0), e.started_us);
    if (e.newest_event_us) {
      x.newest = std::max(x.newest.value_or(INT64_MIN), *e.newest_event_us);
      auto [it, ins] = newest_by_table.try_emplace(e.table_uri, *e.newest_event_us);
      if (!ins) it->second = std::max(it->second, *e.newest_event_us);
    }
  }
  auto series = rec.Series();
  ASSERT_EQ(series.size(), expect.size());
  auto text = rec.PrometheusText();
  auto parsed = Parse(text);
  for (const auto& s : series) {
    SCOPED_TRACE(s.table + " " + s.operation + " " + s.source);
    const auto& x = expect.at({s.table, s.operation, s.source});
    EXPECT_EQ(s.runs, x.runs);
    EXPECT_EQ(s.failed, x.failed);
    EXPECT_EQ(s.rows_in, x.in);
    EXPECT_EQ(s.rows_out, x.out);
    EXPECT_EQ(s.rows_rejected, x.rejected);
    EXPECT_NEAR(s.duration_seconds, x.seconds, 1e-6 * x.seconds);
    EXPECT_EQ(s.last_success_us, x.last_success);
    EXPECT_EQ(s.newest_event_us, x.newest);
    auto l = L(s.table, s.operation, s.source);
    EXPECT_EQ(parsed.Get("strata_runs_total", l), x.runs);
    EXPECT_EQ(parsed.Get("strata_runs_failed_total", l), x.failed);
    EXPECT_EQ(parsed.Get("strata_run_rows_in_total", l), x.in);
    EXPECT_EQ(parsed.Get("strata_run_rows_out_total", l), x.out);
    EXPECT_EQ(parsed.Get("strata_run_rows_rejected_total", l), x.rejected);
    EXPECT_NEAR(parsed.Get("strata_run_duration_seconds_sum", l), x.seconds, 1e-6 * x.seconds);
    EXPECT_EQ(parsed.Get("strata_run_duration_seconds_count", l), x.runs);
    // Buckets: cumulative, one per bound and +Inf == count, each the brute-force count.
    double previous = 0;
    for (double bound : DefaultDurationBuckets()) {
      auto bl = l;
      std::ostringstream le;
      le << bound;
      bl["le"] = le.str();
      double got = parsed.Get("strata_run_duration_seconds_bucket", bl);
      int64_t want = 0;
      for (double d : x.durations) want += d <= bound;
      EXPECT_EQ(got, want) << "le=" << bl["le"];
      EXPECT_GE(got, previous);
      previous = got;
    }
    auto inf = l;
    inf["le"] = "+Inf";
    EXPECT_EQ(parsed.Get("strata_run_duration_seconds_bucket", inf), x.runs);
    if (x.last_success) {
      EXPECT_DOUBLE_EQ(parsed.Get("strata_run_last_success_timestamp_seconds", l),
                       static_cast<double>(*x.last_success) / 1e6);
    } else {
      EXPECT_TRUE(std::isnan(parsed.Get("strata_run_last_success_timestamp_seconds", l)));
    }
  }
  for (const auto& [table, newest] : newest_by_table) {
    EXPECT_DOUBLE_EQ(parsed.Get("strata_table_freshness_seconds", {{"table", table}}),
                     static_cast<double>(now - newest) / 1e6);
  }
  int buckets = 0;
  for (const auto& s : parsed.samples) buckets += s.name == "strata_run_duration_seconds_bucket";
  EXPECT_EQ(buckets, static_cast<int>(series.size() * (DefaultDurationBuckets().size() + 1)));
}

TEST(RunRecorder, ConcurrentRunsAreAllCounted) {
  RunRecorder rec({false});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&rec] {
      for (int i = 0; i < 1000; ++i) {
        auto e = Event("/t", "WRITE");
        e.rows_in = 2;
        rec.Aggregate(e);
      }
    });
  }
  for (auto& t : threads) t.join();
  auto s = rec.Series();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].runs, 4000);
  EXPECT_EQ(s[0].rows_in, 8000);
}

// ---- the runs table -------------------------------------------------------------------------------

std::shared_ptr<arrow::RecordBatchReader> Reader(std::vector<int64_t> ids) {
  arrow::Int64Builder id;
  arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  for (auto i : ids) {
    (void)id.Append(i);
    (void)ts.Append(i * 1000);
  }
  auto schema = arrow::schema(
      {arrow::field("id", arrow::int64()), arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))});
  auto b = arrow::RecordBatch::Make(schema, static_cast<int64_t>(ids.size()), {*id.Finish(), *ts.Finish()});
  return *arrow::RecordBatchReader::Make({b});
}

class RunsTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ops::AddRunObserver(recorder_);
    store_ = *storage::MakeLocalStore(dir_.path());
    errors_before_ = ops::RunObserverErrors();
  }
  void TearDown() override { ops::RemoveRunObserver(recorder_); }
  std::shared_ptr<arrow::Table> Runs() {
    auto store = *storage::OpenStore(dir_.path() + "/" + kRunsTable);
    auto snap = table::Snapshot::Load(store);
    if (!snap.ok()) return nullptr;
    return *(*exec::ScanToTable(*snap, {}))->CombineChunks();
  }

  std::shared_ptr<RunRecorder> recorder_ = std::make_shared<RunRecorder>();
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
  int64_t errors_before_ = 0;
};

TEST_F(RunsTableTest, RunsAreRecordedThroughTheTablesStore) {
  // The root names nothing OpenStore can open (as an S3 table whose keys came as options).
  auto only = std::make_shared<storage::RelabeledStore>(store_, "unopenable://events");
  ASSERT_OK(ops::WriteTable(only, Reader({1, 2}), {}).status());
  auto runs = Runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->num_rows(), 1);
  auto table = std::static_pointer_cast<arrow::StringArray>(runs->GetColumnByName("table")->chunk(0));
  EXPECT_EQ(table->GetString(0), "unopenable://events");
  EXPECT_EQ(ops::RunObserverErrors(), errors_before_);
}

TEST_F(RunsTableTest, EachRunIsOneRowAndSideTablesAreNotRuns) {
  ASSERT_OK(ops::WriteTable(store_, Reader({1, 2, 3}), {}).status());
  ASSERT_OK(ops::WriteTable(store_, Reader({7}), {}).status());
  auto runs = Runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->num_rows(), 2);
  EXPECT_TRUE(runs->schema()->Equals(*RunsSchema(), /*check_metadata=*/false)) << runs->schema()->ToString();
  auto version = std::static_pointer_cast<arrow::Int64Array>(runs->GetColumnByName("version")->chunk(0));
  auto rows_in = std::static_pointer_cast<arrow::Int64Array>(runs->GetColumnByName("rows_in")->chunk(0));
  auto newest = std::static_pointer_cast<arrow::TimestampArray>(runs->GetColumnByName("newest_event")->chunk(0));
  std::map<int64_t, std::pair<int64_t, int64_t>> by_version;
  for (int64_t i = 0; i < 2; ++i) by_version[version->Value(i)] = {rows_in->Value(i), newest->Value(i)};
  EXPECT_EQ(by_version[0], std::make_pair(int64_t{3}, int64_t{3000}));
  EXPECT_EQ(by_version[1], std::make_pair(int64_t{1}, int64_t{7000}));
  // The runs table's own appends were not recorded as runs (no recursion, no series).
  auto series = recorder_->Series();
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].table, store_->root());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/" + kRunsTable + "/_strata"));
}

TEST_F(RunsTableTest, TablesCanOptOut) {
  ops::WriteOptions o;
  o.configuration[kRecordRunsProperty] = "false";
  ASSERT_OK(ops::WriteTable(store_, Reader({1}), o).status());
  ASSERT_OK(ops::WriteTable(store_, Reader({2}), {}).status());
  EXPECT_FALSE(Runs());
  EXPECT_EQ(recorder_->Series().at(0).runs, 2);  // still in the metrics
}

TEST_F(RunsTableTest, AnUnwritableRunsTableNeverFailsTheWrite) {
  ASSERT_OK(ops::WriteTable(store_, Reader({1}), {}).status());
  std::filesystem::remove_all(dir_.path() + "/" + kRunsTable);
  std::ofstream(dir_.path() + "/" + kRunsTable) << "not a directory";
  int64_t errors = ops::RunObserverErrors();
  ASSERT_OK(ops::WriteTable(store_, Reader({2}), {}).status());
  EXPECT_EQ(ops::RunObserverErrors(), errors + 1);
  EXPECT_EQ((*table::Snapshot::Load(store_))->version(), 1);
}

TEST_F(RunsTableTest, RecordRunReportsExternalRuns) {
  ASSERT_OK(ops::WriteTable(store_, Reader({1}), {}).status());
  ops::RunEvent e;
  e.table_uri = store_->root();
  e.operation = "INGEST";
  e.source = "stream:clicks";
  e.rows_in = 10;
  e.rows_out = 9;
  e.rows_rejected = 1;
  e.duration_us = 2500;
  e.newest_event_us = 123456;
  RecordRun(e);
  auto runs = Runs();
  ASSERT_EQ(runs->num_rows(), 2);
  auto series = recorder_->Series();
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].operation, "INGEST");
  EXPECT_EQ(series[0].source, "stream:clicks");
  EXPECT_EQ(series[0].rows_rejected, 1);
  EXPECT_GT(series[0].last_success_us.value_or(0), 0);  // started_us filled in
  // A run over a path holding no table is counted but creates no runs table there.
  e.table_uri = dir_.path() + "/elsewhere";
  RecordRun(e);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/elsewhere"));
}

TEST_F(RunsTableTest, ContractFreshnessColumnIsTheEventTime) {
  InstallRunRecorder();  // installs the contract-aware event-time provider (and the process recorder)
  ProcessRunRecorder()->Reset();
  arrow::Int64Builder id;
  arrow::TimestampBuilder a(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  arrow::TimestampBuilder b(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  (void)id.Append(1);
  (void)a.Append(5);
  (void)b.Append(9);
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("a", a.type()),
                               arrow::field("b", b.type())});
  auto batch = arrow::RecordBatch::Make(schema, 1, {*id.Finish(), *a.Finish(), *b.Finish()});
  ASSERT_OK(ops::WriteTable(store_, *arrow::RecordBatchReader::Make({batch}), {}).status());
  EXPECT_EQ(recorder_->Series().at(0).newest_event_us, 5);  // first timestamp column
  ASSERT_OK(AttachContract(store_, "name: c\nsla: {freshness: {column: b, max_age: 2h}}\n"));
  recorder_->Reset();
  ASSERT_OK(ops::WriteTable(store_, *arrow::RecordBatchReader::Make({batch}), {}).status());
  EXPECT_EQ(recorder_->Series().at(0).newest_event_us, 9);  // the SLA's freshness column
  ops::RemoveRunObserver(ProcessRunRecorder());  // keep other tests free of the process recorder
}

}  // namespace
}  // namespace strata::quality
