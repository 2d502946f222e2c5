#include "strata/table/actions.h"

#include <arrow/scalar.h>
#include <arrow/type.h>

#include "strata/table/partition.h"
#include "strata/table/schema.h"
#include "strata/table/stats.h"
#include "strata/testing/gtest_util.h"

namespace strata::table {
namespace {

TEST(Actions, RoundTripEveryKind) {
  AddFile add;
  add.path = "a%20b/part-0.parquet";
  add.partition_values = {{"x", "1"}, {"y", std::nullopt}};
  add.size = 10;
  add.modification_time = 5;
  add.stats = R"({"numRecords":3})";
  add.deletion_vector = DeletionVectorDescriptor{"u", "ab^-aqEH.-t@S}K{vb[*k^", 1, 36, 2};
  Protocol p{3, 7, std::vector<std::string>{"deletionVectors"}, std::vector<std::string>{"deletionVectors"}};
  Metadata m;
  m.id = "id-1";
  m.schema_string = R"({"type":"struct","fields":[]})";
  m.partition_columns = {"x", "y"};
  m.configuration = {{"k", "v"}};
  RemoveFile rm;
  rm.path = "old.parquet";
  rm.deletion_timestamp = 7;
  Txn t{"app", 4, 9};
  DomainMetadata d{"dom", "{\"a\":1}", false};
  std::vector<Action> in = {p, m, add, rm, t, d};
  std::string text = SerializeActions(in);
  ASSERT_OK_AND_ASSIGN(auto out, ParseActions(text, "test"));
  ASSERT_EQ(out.size(), in.size());
  EXPECT_EQ(std::get<Protocol>(out[0]), p);
  EXPECT_EQ(std::get<Metadata>(out[1]).partition_columns, m.partition_columns);
  EXPECT_EQ(std::get<Metadata>(out[1]).configuration, m.configuration);
  const auto& a2 = std::get<AddFile>(out[2]);
  EXPECT_EQ(a2.path, add.path);
  EXPECT_EQ(a2.partition_values, add.partition_values);
  EXPECT_EQ(a2.deletion_vector, add.deletion_vector);
  EXPECT_EQ(a2.stats, add.stats);
  EXPECT_EQ(std::get<RemoveFile>(out[3]).deletion_timestamp, 7);
  EXPECT_EQ(std::get<Txn>(out[4]).version, 4);
  EXPECT_EQ(std::get<DomainMetadata>(out[5]).configuration, d.configuration);
  EXPECT_EQ(SerializeActions(out), text);
}

TEST(Actions, EmptyPartitionValueIsNull) {
  ASSERT_OK_AND_ASSIGN(auto out, ParseActions(
      R"({"add":{"path":"f","partitionValues":{"a":"","b":null,"c":"v"},"size":1,"modificationTime":0,"dataChange":true}})",
      "t"));
  const auto& pv = std::get<AddFile>(out[0]).partition_values;
  EXPECT_EQ(pv.at("a"), std::nullopt);
  EXPECT_EQ(pv.at("b"), std::nullopt);
  EXPECT_EQ(pv.at("c"), "v");
}

TEST(Actions, UnknownActionsAndCommitInfoFieldsAreTolerated) {
  ASSERT_OK_AND_ASSIGN(auto out, ParseActions(
      "{\"commitInfo\":{\"timestamp\":\"not a number\",\"weird\":[1,{\"x\":null}]}}\n"
      "{\"someFutureAction\":{\"x\":1}}\n\n",
      "t"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<CommitInfo>(out[0]));
}

TEST(Actions, CorruptLinesNameFileAndLine) {
  auto r = ParseActions("{\"txn\":{\"appId\":\"a\",\"version\":1}}\n{\"add\":{\"path\":", "00.json");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kCorruptLog));
  EXPECT_NE(r.status().message().find("00.json line 2"), std::string::npos) << r.status().message();
  auto r2 = ParseActions("{\"add\":{\"size\":1}}", "01.json");
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("path"), std::string::npos);
  auto r3 = ParseActions("[1,2]", "02.json");
  EXPECT_FALSE(r3.ok());
}

TEST(Paths, PercentEncodingRoundTrips) {
  std::string p = "x=a b%/c=100%25/part 1.parquet";
  EXPECT_EQ(DecodePath(EncodePath(p)), p);
  EXPECT_EQ(DecodePath("a%20b%2Fc"), "a b/c");
  EXPECT_EQ(DecodePath("bad%zz"), "bad%zz");
}

TEST(Partition, HiveEscapingAndNull) {
  EXPECT_EQ(EscapeHivePathName("a/b:c=d%"), "a%2Fb%3Ac%3Dd%25");
  PartitionValues pv{{"p", std::nullopt}, {"q", "x y"}};
  EXPECT_EQ(HivePartitionDir({"p", "q"}, pv), "p=__HIVE_DEFAULT_PARTITION__/q=x y/");
}

TEST(Partition, ValuesRoundTripThroughEveryType) {
  auto ts = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  std::vector<std::shared_ptr<arrow::Scalar>> values = {
      arrow::MakeScalar(int32_t{-5}), arrow::MakeScalar(int64_t{1} << 40), arrow::MakeScalar(true),
      arrow::MakeScalar(std::string("h/é=x")), arrow::MakeScalar(2.5),
      std::make_shared<arrow::Date32Scalar>(19000), std::make_shared<arrow::TimestampScalar>(1700000000123456, ts),
      std::make_shared<arrow::TimestampScalar>(-1, arrow::timestamp(arrow::TimeUnit::MICRO))};
  for (const auto& v : values) {
    ASSERT_OK_AND_ASSIGN(auto s, SerializePartitionValue(*v));
    ASSERT_TRUE(s.has_value());
    ASSERT_OK_AND_ASSIGN(auto back, ParsePartitionValue(s, v->type));
    EXPECT_TRUE(back->Equals(*v)) << v->ToString() << " -> " << *s << " -> " << back->ToString();
  }
  ASSERT_OK_AND_ASSIGN(auto n, ParsePartitionValue(std::nullopt, arrow::int32()));
  EXPECT_FALSE(n->is_valid);
  // Spark's forms of timestamps.
  ASSERT_OK_AND_ASSIGN(auto a, ParsePartitionValue(std::string("2021-01-01 10:00:00"), ts));
  ASSERT_OK_AND_ASSIGN(auto b, ParsePartitionValue(std::string("2021-01-01T10:00:00.000000Z"), ts));
  EXPECT_TRUE(a->Equals(*b));
  EXPECT_FALSE(ParsePartitionValue(std::string("abc"), arrow::int32()).ok());
}

TEST(Schema, JsonRoundTripWithNestedTypesAndMetadata) {
  std::string json =
      R"J({"type":"struct","fields":[{"name":"a","type":"long","nullable":false,"metadata":{"delta.columnMapping.id":1,"delta.columnMapping.physicalName":"col-1"}},)J"
      R"J({"name":"s","type":{"type":"struct","fields":[{"name":"x","type":"decimal(10,2)","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},)J"
      R"J({"name":"l","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}},)J"
      R"J({"name":"m","type":{"type":"map","keyType":"string","valueType":"timestamp","valueContainsNull":true},"nullable":true,"metadata":{}},)J"
      R"J({"name":"t","type":"timestamp_ntz","nullable":true,"metadata":{}}]})J";
  ASSERT_OK_AND_ASSIGN(auto schema, SchemaFromJson(json));
  ASSERT_EQ(schema->num_fields(), 5);
  EXPECT_TRUE(schema->field(0)->type()->Equals(arrow::int64()));
  EXPECT_FALSE(schema->field(0)->nullable());
  EXPECT_EQ(PhysicalName(*schema->field(0), ColumnMappingMode::kName), "col-1");
  EXPECT_EQ(FieldId(*schema->field(0)), 1);
  EXPECT_TRUE(schema->field(4)->type()->Equals(arrow::timestamp(arrow::TimeUnit::MICRO)));
  ASSERT_OK_AND_ASSIGN(auto back, SchemaToJson(*schema));
  ASSERT_OK_AND_ASSIGN(auto again, SchemaFromJson(back));
  EXPECT_TRUE(again->Equals(*schema, /*check_metadata=*/true)) << back;
}

TEST(Schema, UnsupportedTypesAreNamed) {
  auto r = SchemaFromJson(R"({"type":"struct","fields":[{"name":"v","type":"variant","nullable":true,"metadata":{}}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kUnsupportedFeature));
  EXPECT_NE(r.status().message().find("'v'"), std::string::npos);
}

TEST(Schema, ReconcileEnforcesAndMerges) {
  auto table = arrow::schema({arrow::field("id", arrow::int64(), false), arrow::field("x", arrow::int32())});
  auto bad = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("x", arrow::utf8())});
  auto r = ReconcileSchema(*table, *bad, SchemaMode::kStrict);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kSchemaMismatch));
  EXPECT_NE(r.status().message().find("'x'"), std::string::npos);
  EXPECT_NE(r.status().message().find("int32"), std::string::npos);
  EXPECT_NE(r.status().message().find("string"), std::string::npos);
  auto extra = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("y", arrow::float64())});
  EXPECT_FALSE(ReconcileSchema(*table, *extra, SchemaMode::kStrict).ok());
  ASSERT_OK_AND_ASSIGN(auto merged, ReconcileSchema(*table, *extra, SchemaMode::kMerge));
  EXPECT_EQ(merged->num_fields(), 3);
  auto wider = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("x", arrow::int64())});
  EXPECT_FALSE(ReconcileSchema(*table, *wider, SchemaMode::kStrict).ok());
  ASSERT_OK_AND_ASSIGN(auto widened, ReconcileSchema(*table, *wider, SchemaMode::kMerge));
  EXPECT_TRUE(widened->field(1)->type()->Equals(arrow::int64()));
  auto narrower = arrow::schema({arrow::field("id", arrow::int32())});
  ASSERT_OK_AND_ASSIGN(auto ok, ReconcileSchema(*table, *narrower, SchemaMode::kStrict));
  EXPECT_TRUE(ok->field(0)->type()->Equals(arrow::int64()));
  auto missing_required = arrow::schema({arrow::field("x", arrow::int32())});
  EXPECT_FALSE(ReconcileSchema(*table, *missing_required, SchemaMode::kStrict).ok());
}

TEST(Stats, ParseNestedAndTyped) {
  ASSERT_OK_AND_ASSIGN(auto s, ParseFileStats(std::string(
      R"({"numRecords":4,"minValues":{"a":1,"s":{"t":"2021-01-01T00:00:00.000Z"}},"maxValues":{"a":9},"nullCount":{"a":0,"s":{"t":2}}})")));
  EXPECT_EQ(s.num_records, 4);
  EXPECT_EQ(s.min_values.at("a"), "1");
  EXPECT_EQ(s.null_count.at("s.t"), 2);
  auto v = StatValueToScalar(s.min_values.at("s.t"), arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"));
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(static_cast<arrow::TimestampScalar&>(*v).value, 1609459200000000);
  ASSERT_OK_AND_ASSIGN(auto empty, ParseFileStats(std::nullopt));
  EXPECT_FALSE(empty.num_records.has_value());
  ASSERT_OK_AND_ASSIGN(auto garbage, ParseFileStats(std::string("{not json")));
  EXPECT_FALSE(garbage.num_records.has_value());
}

}  // namespace
}  // namespace strata::table

namespace strata::table {
namespace {

// RapidJSON's default number parsing is approximate: a double written by the serializer could
// parse back as a neighbour (found by log_fuzz). Statistics bounds must be exact, or data
// skipping could drop a file holding the boundary value.
TEST(ActionsPrecision, DoublesRoundTripExactly) {
  std::string text = R"({"commitInfo":{"x":156459245645924.25023}})";
  auto a = ParseActions(text, "t");
  ASSERT_TRUE(a.ok());
  std::string once = SerializeActions(*a);
  auto b = ParseActions(once, "t");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(SerializeActions(*b), once);
  auto stats = ParseFileStats(std::string(R"({"numRecords":1,"maxValues":{"v":0.30000000000000004}})"));
  ASSERT_TRUE(stats.ok());
  auto v = StatValueToScalar(stats->max_values.at("v"), arrow::float64());
  ASSERT_TRUE(v && v->is_valid);
  EXPECT_EQ(std::static_pointer_cast<arrow::DoubleScalar>(v)->value, 0.30000000000000004);
}

}  // namespace
}  // namespace strata::table
