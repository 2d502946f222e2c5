#include "strata/ops/run_observer.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "strata/ops/delete.h"
#include "strata/ops/merge.h"
#include "strata/ops/optimize.h"
#include "strata/ops/validator.h"
#include "strata/ops/write.h"
#include "strata/storage/local_store.h"
#include "strata/testing/gtest_util.h"

namespace strata::ops {
namespace {

constexpr int64_t kDay = 86400LL * 1000000;

/// Rows (id int64, ts timestamp[ms, UTC]) with ts = id days (in milliseconds).
std::shared_ptr<arrow::RecordBatch> Rows(std::vector<int64_t> ids) {
  arrow::Int64Builder id;
  arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"), arrow::default_memory_pool());
  for (auto i : ids) {
    (void)id.Append(i);
    (void)ts.Append(i * kDay / 1000);
  }
  auto schema = arrow::schema(
      {arrow::field("id", arrow::int64()), arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"))});
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(ids.size()), {*id.Finish(), *ts.Finish()});
}

std::shared_ptr<arrow::RecordBatchReader> Reader(std::shared_ptr<arrow::RecordBatch> b) {
  return *arrow::RecordBatchReader::Make({std::move(b)});
}

class Collect : public RunObserver {
 public:
  Status OnRun(const RunEvent& e) override {
    events.push_back(e);
    return fail ? Status::IOError("observer is broken") : Status::OK();
  }
  std::vector<RunEvent> events;
  bool fail = false;
};

class RunObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddRunObserver(observer_);
    store_ = *storage::MakeLocalStore(dir_.path());
  }
  void TearDown() override { RemoveRunObserver(observer_); }
  const RunEvent& Last() { return observer_->events.back(); }

  std::shared_ptr<Collect> observer_ = std::make_shared<Collect>();
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_F(RunObserverTest, EveryWritePathReportsOneRun) {
  ASSERT_OK(WriteTable(store_, Reader(Rows({1, 2, 3})), {}).status());
  ASSERT_EQ(observer_->events.size(), 1u);
  EXPECT_EQ(Last().operation, "WRITE");
  EXPECT_EQ(Last().source, "write");
  EXPECT_EQ(Last().table_uri, store_->root());
  EXPECT_EQ(Last().version, 0);
  EXPECT_EQ(Last().rows_in, 3);
  EXPECT_EQ(Last().rows_out, 3);
  EXPECT_EQ(Last().rows_rejected, 0);
  EXPECT_TRUE(Last().success);
  EXPECT_GT(Last().started_us, 0);
  EXPECT_GE(Last().duration_us, 0);
  ASSERT_TRUE(Last().newest_event_us.has_value());
  EXPECT_EQ(*Last().newest_event_us, 3 * kDay);  // the only timestamp column, ms → us
  ASSERT_TRUE(Last().table_properties.has_value());

  MergeOptions mo;
  mo.on = "t.id = s.id";
  mo.source_alias = "s";
  mo.target_alias = "t";
  mo.clauses = {{MergeClause::Kind::kMatchedUpdate, "", {}, true}, {MergeClause::Kind::kNotMatchedInsert, "", {}, true}};
  ASSERT_OK(MergeInto(store_, Reader(Rows({3, 4, 5})), mo).status());
  ASSERT_EQ(observer_->events.size(), 2u);
  EXPECT_EQ(Last().operation, "MERGE");
  EXPECT_EQ(Last().version, 1);
  EXPECT_EQ(Last().rows_in, 3);
  EXPECT_EQ(Last().rows_out, 3);  // 1 updated + 2 inserted
  EXPECT_EQ(*Last().newest_event_us, 5 * kDay);

  ASSERT_OK(UpdateRows(store_, "id = 2", {{"id", "id * 10"}}).status());
  EXPECT_EQ(Last().operation, "UPDATE");
  EXPECT_EQ(Last().version, 2);
  EXPECT_EQ(Last().rows_in, 1);
  EXPECT_EQ(Last().rows_out, 1);
  EXPECT_EQ(*Last().newest_event_us, 2 * kDay);  // the new image of the updated row

  ASSERT_OK(DeleteRows(store_, "id >= 4").status());
  EXPECT_EQ(Last().operation, "DELETE");
  EXPECT_EQ(Last().version, 3);
  EXPECT_EQ(Last().rows_in, 3);  // 4, 5 and the updated 20
  EXPECT_EQ(Last().rows_out, 0);
  EXPECT_FALSE(Last().newest_event_us.has_value());

  ASSERT_OK(WriteTable(store_, Reader(Rows({8})), {}).status());  // a second small file to compact
  ASSERT_OK_AND_ASSIGN(auto optimized, OptimizeTable(store_, {}));
  ASSERT_EQ(optimized.version, 5);
  EXPECT_EQ(Last().operation, "OPTIMIZE");
  EXPECT_EQ(Last().version, 5);
  EXPECT_EQ(Last().rows_in, 0);
  EXPECT_EQ(Last().rows_out, 0);
  EXPECT_EQ(observer_->events.size(), 6u);
}

TEST_F(RunObserverTest, UpdateReportsTheNewImagesNewestEvent) {
  ASSERT_OK(WriteTable(store_, Reader(Rows({1, 2})), {}).status());
  ASSERT_OK(UpdateRows(store_, "id = 1", {{"ts", "TIMESTAMP '2001-01-01 00:00:00'"}}).status());
  ASSERT_TRUE(Last().newest_event_us.has_value());
  EXPECT_EQ(*Last().newest_event_us, 978307200LL * 1000000);
}

TEST_F(RunObserverTest, FailedWritesAreReported) {
  ASSERT_OK(WriteTable(store_, Reader(Rows({1})), {}).status());
  // A CHECK constraint refuses the rows: every row offered is rejected.
  WriteOptions o;
  o.configuration["delta.constraints.positive"] = "id > 0";
  ASSERT_OK(WriteTable(store_, Reader(Rows({2})), o).status());
  auto bad = WriteTable(store_, Reader(Rows({5, -1, 7})), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Last().operation, "WRITE");
  EXPECT_FALSE(Last().success);
  EXPECT_EQ(Last().version, -1);
  EXPECT_EQ(Last().rows_in, 3);
  EXPECT_EQ(Last().rows_out, 0);
  EXPECT_EQ(Last().rows_rejected, 3);
  EXPECT_FALSE(Last().newest_event_us.has_value());
  EXPECT_NE(Last().error.find("positive"), std::string::npos);

  // Any other failure rejects nothing.
  auto missing = DeleteRows(*storage::MakeLocalStore(dir_.path() + "/nope"), "");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(Last().operation, "DELETE");
  EXPECT_FALSE(Last().success);
  EXPECT_EQ(Last().rows_rejected, 0);
  EXPECT_FALSE(Last().table_properties.has_value());
}

TEST_F(RunObserverTest, ObserverErrorsNeverFailTheRun) {
  observer_->fail = true;
  int64_t before = RunObserverErrors();
  ASSERT_OK(WriteTable(store_, Reader(Rows({1})), {}).status());
  EXPECT_EQ(RunObserverErrors(), before + 1);
  EXPECT_EQ(observer_->events.size(), 1u);
}

TEST_F(RunObserverTest, UnobservedScopeSilencesRunsOnThisThread) {
  {
    ScopedRunsUnobserved quiet;
    EXPECT_FALSE(RunsObserved());
    ASSERT_OK(WriteTable(store_, Reader(Rows({1})), {}).status());
  }
  EXPECT_TRUE(observer_->events.empty());
  EXPECT_TRUE(RunsObserved());
  ASSERT_OK(WriteTable(store_, Reader(Rows({2})), {}).status());
  EXPECT_EQ(observer_->events.size(), 1u);
}

TEST_F(RunObserverTest, EventTimeColumnChoice) {
  auto schema = arrow::schema({arrow::field("a", arrow::int64()), arrow::field("d", arrow::date32()),
                               arrow::field("t1", arrow::timestamp(arrow::TimeUnit::MICRO)),
                               arrow::field("t2", arrow::timestamp(arrow::TimeUnit::NANO, "UTC"))});
  EXPECT_EQ(EventTimeColumn(nullptr, {}, *schema), "t1");  // the first timestamp column
  EXPECT_EQ(EventTimeColumn(nullptr, {{kEventTimeColumnProperty, "t2"}}, *schema), "t2");
  EXPECT_EQ(EventTimeColumn(nullptr, {{kEventTimeColumnProperty, "d"}}, *schema), "d");
  // A property naming a missing or non-temporal column: no event time (not a silent fallback).
  EXPECT_EQ(EventTimeColumn(nullptr, {{kEventTimeColumnProperty, "a"}}, *schema), "");
  EXPECT_EQ(EventTimeColumn(nullptr, {{kEventTimeColumnProperty, "zz"}}, *schema), "");
  SetEventTimeColumnProvider([](const std::shared_ptr<storage::ObjectStore>&) { return std::string("t2"); });
  EXPECT_EQ(EventTimeColumn(store_, {}, *schema), "t2");
  EXPECT_EQ(EventTimeColumn(store_, {{kEventTimeColumnProperty, "t1"}}, *schema), "t1");
  SetEventTimeColumnProvider(nullptr);
  EXPECT_EQ(EventTimeColumn(nullptr, {}, *arrow::schema({arrow::field("a", arrow::int64())})), "");
}

TEST_F(RunObserverTest, NewestEventMicrosAcrossUnitsAndNulls) {
  auto make = [](std::shared_ptr<arrow::DataType> type, std::vector<std::optional<int64_t>> vs) {
    std::unique_ptr<arrow::ArrayBuilder> b;
    (void)arrow::MakeBuilder(arrow::default_memory_pool(), type, &b);
    for (auto v : vs) {
      if (!v) {
        (void)b->AppendNull();
      } else if (type->id() == arrow::Type::DATE32) {
        (void)static_cast<arrow::Date32Builder&>(*b).Append(static_cast<int32_t>(*v));
      } else if (type->id() == arrow::Type::DATE64) {
        (void)static_cast<arrow::Date64Builder&>(*b).Append(*v);
      } else {
        (void)static_cast<arrow::TimestampBuilder&>(*b).Append(*v);
      }
    }
    auto arr = *b->Finish();
    return arrow::RecordBatch::Make(arrow::schema({arrow::field("c", type)}), arr->length(), {arr});
  };
  using U = arrow::TimeUnit;
  EXPECT_EQ(*NewestEventMicros({make(arrow::timestamp(U::SECOND), {1, 3, std::nullopt})}, "c"), 3000000);
  EXPECT_EQ(*NewestEventMicros({make(arrow::timestamp(U::MILLI), {5}), make(arrow::timestamp(U::MILLI), {2})}, "c"),
            5000);
  EXPECT_EQ(*NewestEventMicros({make(arrow::timestamp(U::NANO), {7000, 1999})}, "c"), 7);
  EXPECT_EQ(*NewestEventMicros({make(arrow::date32(), {2, 1})}, "c"), 2 * kDay);
  EXPECT_EQ(*NewestEventMicros({make(arrow::date64(), {86400000})}, "c"), kDay);
  EXPECT_FALSE(NewestEventMicros({make(arrow::timestamp(U::MICRO), {std::nullopt})}, "c").has_value());
  EXPECT_FALSE(NewestEventMicros({}, "c").has_value());
  EXPECT_FALSE(NewestEventMicros({make(arrow::timestamp(U::MICRO), {1})}, "").has_value());
}

/// A gate that quarantines negative ids on appends, rejects them otherwise.
class NoNegativeIds : public PreCommitValidator {
 public:
  Result<Verdict> Validate(PendingRows pending) override {
    Verdict v;
    for (const auto& b : pending.rows) {
      auto id = std::static_pointer_cast<arrow::Int64Array>(b->GetColumnByName("id"));
      arrow::BooleanBuilder keep;
      for (int64_t i = 0; i < b->num_rows(); ++i) {
        bool ok = id->Value(i) >= 0;
        if (!ok && !pending.may_quarantine) return Error(ErrorCode::kExpectationFailed, "negative id");
        v.quarantined_rows += !ok;
        (void)keep.Append(ok);
      }
      ARROW_ASSIGN_OR_RAISE(auto kept, arrow::compute::Filter(b, *keep.Finish()));
      v.publish.push_back(kept.record_batch());
    }
    return v;
  }
};

TEST_F(RunObserverTest, QuarantinedRowsAreRejectedRowsOfASuccessfulRun) {
  ASSERT_OK(WriteTable(store_, Reader(Rows({1})), {}).status());
  SetValidatorProvider([](const std::shared_ptr<storage::ObjectStore>&, const table::Snapshot&)
                           -> Result<std::shared_ptr<PreCommitValidator>> { return std::make_shared<NoNegativeIds>(); });
  auto r = WriteTable(store_, Reader(Rows({4, -2, 3, -9})), {});
  SetValidatorProvider(nullptr);
  ASSERT_OK(r.status());
  EXPECT_TRUE(Last().success);
  EXPECT_EQ(Last().rows_in, 4);
  EXPECT_EQ(Last().rows_out, 2);
  EXPECT_EQ(Last().rows_rejected, 2);
  EXPECT_EQ(*Last().newest_event_us, 4 * kDay);  // of the published rows only
}

}  // namespace
}  // namespace strata::ops
