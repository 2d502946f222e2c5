#include "strata/exec/asof_join.h"

#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/json/from_string.h>

#include "strata/testing/gtest_util.h"

namespace strata::exec {
namespace {

using arrow::json::ArrayFromJSONString;

std::shared_ptr<arrow::Array> J(const std::shared_ptr<arrow::DataType>& type, const std::string& json) {
  auto r = ArrayFromJSONString(type, json);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ValueOrDie();
}

using Columns = std::vector<std::pair<std::string, std::shared_ptr<arrow::Array>>>;

std::shared_ptr<arrow::Table> MakeTable(const Columns& cols) {
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (const auto& [name, arr] : cols) {
    fields.push_back(arrow::field(name, arr->type()));
    arrays.push_back(arr);
  }
  int64_t n = arrays.empty() ? 0 : arrays[0]->length();
  return arrow::Table::Make(arrow::schema(fields), arrays, n);
}

/// A reader over `t` in batches of at most `chunk` rows.
std::shared_ptr<arrow::RecordBatchReader> Reader(const std::shared_ptr<arrow::Table>& t, int64_t chunk = 0) {
  auto r = std::make_shared<arrow::TableBatchReader>(t);
  if (chunk > 0) r->set_chunksize(chunk);
  return r;
}

std::shared_ptr<arrow::Array> Col(const arrow::Table& t, const std::string& name) {
  auto c = t.GetColumnByName(name);
  EXPECT_NE(c, nullptr) << name;
  return *arrow::Concatenate(c->chunks());
}

const auto kUtcMs = arrow::timestamp(arrow::TimeUnit::MILLI, "UTC");
const auto kUs = arrow::timestamp(arrow::TimeUnit::MICRO);

// ---- brute-force reference ---------------------------------------------------------------------

/// Each row's key as text (integers widened first), nullopt when any key column is NULL.
std::vector<std::optional<std::string>> KeyText(const arrow::Table& t, const std::vector<std::string>& cols) {
  std::vector<std::optional<std::string>> out(static_cast<size_t>(t.num_rows()), std::string());
  for (const auto& c : cols) {
    auto a = Col(t, c);
    if (a->type_id() == arrow::Type::DICTIONARY) {
      a = *arrow::compute::Cast(*a, static_cast<const arrow::DictionaryType&>(*a->type()).value_type());
    }
    if (arrow::is_integer(a->type_id())) a = *arrow::compute::Cast(*a, arrow::int64());
    if (a->type_id() != arrow::Type::STRING) {
      auto s = arrow::compute::Cast(*a, arrow::utf8());
      if (s.ok()) a = *s;
    }
    for (int64_t i = 0; i < t.num_rows(); ++i) {
      auto& o = out[static_cast<size_t>(i)];
      if (!o) continue;
      if (a->IsNull(i)) {
        o.reset();
        continue;
      }
      o->append((*a->GetScalar(i))->ToString());
      o->push_back('\x1f');
    }
  }
  return out;
}

/// Timestamps as nanoseconds since the epoch (nullopt for NULL).
std::vector<std::optional<int64_t>> Nanos(const arrow::Table& t, const std::string& col) {
  auto a = Col(t, col);
  const auto& type = static_cast<const arrow::TimestampType&>(*a->type());
  int64_t f = type.unit() == arrow::TimeUnit::SECOND  ? 1000000000
              : type.unit() == arrow::TimeUnit::MILLI ? 1000000
              : type.unit() == arrow::TimeUnit::MICRO ? 1000
                                                      : 1;
  const auto& ts = static_cast<const arrow::TimestampArray&>(*a);
  std::vector<std::optional<int64_t>> out(static_cast<size_t>(a->length()));
  for (int64_t i = 0; i < a->length(); ++i) {
    if (ts.IsValid(i)) out[static_cast<size_t>(i)] = ts.Value(i) * f;
  }
  return out;
}

/// For each entity row, scans every feature row: the index of the answer, or -1.
std::vector<int64_t> BruteForce(const arrow::Table& entity, const std::string& ets, const arrow::Table& rows,
                                const AsOfView& v) {
  auto ekeys = KeyText(entity, v.entity_keys.empty() ? v.join_keys : v.entity_keys);
  auto fkeys = KeyText(rows, v.join_keys);
  auto eT = Nanos(entity, ets);
  auto ft = Nanos(rows, v.timestamp_column);
  std::vector<std::optional<int64_t>> fc(static_cast<size_t>(rows.num_rows()));
  if (!v.created_timestamp_column.empty()) fc = Nanos(rows, v.created_timestamp_column);
  std::vector<int64_t> out(static_cast<size_t>(entity.num_rows()), -1);
  for (size_t e = 0; e < out.size(); ++e) {
    if (!ekeys[e] || !eT[e]) continue;
    int64_t T = *eT[e];
    int64_t best = -1;
    for (size_t f = 0; f < fkeys.size(); ++f) {
      if (!fkeys[f] || !ft[f] || *fkeys[f] != *ekeys[e]) continue;
      int64_t t = *ft[f];
      if (t > T) continue;
      if (v.ttl_us && t < T - *v.ttl_us * 1000) continue;
      if (best >= 0) {
        int64_t bt = *ft[static_cast<size_t>(best)];
        if (t < bt) continue;
        if (t == bt) {
          const auto& bc = fc[static_cast<size_t>(best)];
          const auto& c = fc[f];
          // NULL created loses to any value; full ties go to the later row.
          if (bc && (!c || *c < *bc)) continue;
        }
      }
      best = static_cast<int64_t>(f);
    }
    out[e] = best;
  }
  return out;
}

/// The expected output: the entity frame plus, per view, Take(feature, reference indices).
std::shared_ptr<arrow::Table> Expected(const std::shared_ptr<arrow::Table>& entity, const std::string& ets,
                                       const std::vector<std::pair<std::shared_ptr<arrow::Table>, AsOfView>>& views,
                                       bool full_names) {
  auto fields = entity->schema()->fields();
  auto cols = entity->columns();
  for (const auto& [rows, v] : views) {
    auto idx = BruteForce(*entity, ets, *rows, v);
    arrow::Int64Builder b;
    for (int64_t i : idx) {
      if (i < 0) {
        EXPECT_OK(b.AppendNull());
      } else {
        EXPECT_OK(b.Append(i));
      }
    }
    auto indices = *b.Finish();
    for (size_t f = 0; f < v.features.size(); ++f) {
      auto values = Col(*rows, v.features[f]);
      auto taken = *arrow::compute::Take(*values, *indices);
      std::string name = !v.output_names.empty() ? v.output_names[f]
                         : full_names           ? v.name + "__" + v.features[f]
                                                : v.features[f];
      fields.push_back(arrow::field(name, values->type()));
      cols.push_back(std::make_shared<arrow::ChunkedArray>(taken));
    }
  }
  return arrow::Table::Make(arrow::schema(fields), cols, entity->num_rows());
}

void ExpectSameTable(const arrow::Table& got, const arrow::Table& want, const std::string& what) {
  ASSERT_EQ(got.num_columns(), want.num_columns()) << what;
  ASSERT_EQ(got.num_rows(), want.num_rows()) << what;
  for (int c = 0; c < want.num_columns(); ++c) {
    EXPECT_EQ(got.schema()->field(c)->name(), want.schema()->field(c)->name()) << what;
    const auto& g = *got.column(c);
    const auto& w = *want.column(c);
    if (!g.Equals(w)) {
      auto ga = *arrow::Concatenate(g.chunks());
      auto wa = *arrow::Concatenate(w.chunks());
      for (int64_t i = 0; i < ga->length(); ++i) {
        auto gs = (*ga->GetScalar(i))->ToString();
        auto ws = (*wa->GetScalar(i))->ToString();
        if (gs != ws || ga->IsNull(i) != wa->IsNull(i)) {
          ADD_FAILURE() << what << ": column '" << want.schema()->field(c)->name() << "' row " << i << ": got "
                        << (ga->IsNull(i) ? "null" : gs) << ", want " << (wa->IsNull(i) ? "null" : ws);
          break;
        }
      }
      ADD_FAILURE() << what << ": column '" << want.schema()->field(c)->name() << "' differs";
    }
  }
}

// ---- hand-written cases ------------------------------------------------------------------------

TEST(PointInTimeJoin, SemanticsByHand) {
  // Entity rows (key, T): ties, TTL edges, a missing key, NULL key and T, a duplicate row.
  auto entity = MakeTable({
      {"driver_id", J(arrow::int64(), "[1, 1, 1, 2, 3, null, 1, 1, 2]")},
      {"event_timestamp", J(kUtcMs, "[10000, 20000, 5000, 20000, 20000, 20000, null, 10000, 100000]")},
      {"label", J(arrow::utf8(), R"(["a", "b", "c", "d", "e", "f", "g", "h", "i"])")},
  });
  // Feature rows: key 1 has two rows at t=10s (created 1 and 2) and one at 15s; key 2 one at 20s
  // (exactly T) and one at 50s with a NULL created timestamp.
  auto rows = MakeTable({
      {"driver_id", J(arrow::int64(), "[1, 1, 1, 2, 2, null]")},
      {"ts", J(kUs, "[10000000, 10000000, 15000000, 20000000, 50000000, 1000]")},
      {"created", J(kUs, "[2, 1, 0, 0, null, 0]")},
      {"conv", J(arrow::float64(), "[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]")},
  });
  AsOfView v;
  v.name = "stats";
  v.rows = Reader(rows);
  v.join_keys = {"driver_id"};
  v.timestamp_column = "ts";
  v.created_timestamp_column = "created";
  v.ttl_us = 50'000'000;  // 50 s: at T=100s only rows from 50s on count (50s is the edge, included)
  v.features = {"conv"};
  ASSERT_OK_AND_ASSIGN(auto out, PointInTimeJoin(entity, {v}));
  ASSERT_EQ(out->num_columns(), 4);
  EXPECT_EQ(out->schema()->field(3)->name(), "conv");
  auto got = Col(*out, "conv");
  auto want = J(arrow::float64(), "[0.1, 0.3, null, 0.4, null, null, null, 0.1, 0.5]");
  EXPECT_TRUE(got->Equals(*want)) << got->ToString();
  EXPECT_TRUE(out->column(2)->Equals(*entity->column(2)));

  // Full feature names; a TTL of 0 keeps only rows exactly at T.
  AsOfView z = v;
  z.rows = Reader(rows);
  z.ttl_us = 0;
  AsOfJoinOptions o;
  o.full_feature_names = true;
  ASSERT_OK_AND_ASSIGN(auto out2, PointInTimeJoin(entity, {z}, o));
  EXPECT_EQ(out2->schema()->field(3)->name(), "stats__conv");
  auto want2 = J(arrow::float64(), "[0.1, null, null, 0.4, null, null, null, 0.1, null]");
  EXPECT_TRUE(Col(*out2, "stats__conv")->Equals(*want2)) << Col(*out2, "stats__conv")->ToString();
}

TEST(PointInTimeJoin, FullTiesGoToTheLastRowRead) {
  auto entity = MakeTable({{"k", J(arrow::utf8(), R"(["x"])")}, {"event_timestamp", J(kUs, "[100]")}});
  auto rows = MakeTable({{"k", J(arrow::utf8(), R"(["x", "x", "x"])")},
                         {"t", J(kUs, "[50, 50, 50]")},
                         {"v", J(arrow::int32(), "[1, 2, 3]")}});
  for (int64_t chunk : {0, 1}) {
    AsOfView v;
    v.name = "v";
    v.rows = Reader(rows, chunk);
    v.join_keys = {"k"};
    v.timestamp_column = "t";
    v.features = {"v"};
    ASSERT_OK_AND_ASSIGN(auto out, PointInTimeJoin(entity, {v}));
    EXPECT_TRUE(Col(*out, "v")->Equals(*J(arrow::int32(), "[3]")));
  }
}

TEST(PointInTimeJoin, DictionaryAndViewKeysAndEmptyInputs) {
  auto dict = *arrow::json::DictArrayFromJSONString(arrow::dictionary(arrow::int8(), arrow::utf8()), "[0, 1, null, 0]",
                                              R"(["a", "b"])");
  auto entity = MakeTable({{"k", dict}, {"event_timestamp", J(kUs, "[10, 10, 10, 5]")}});
  auto keys = *arrow::compute::Cast(*J(arrow::utf8(), R"(["a", "b", "a"])"), arrow::utf8_view());
  auto rows = MakeTable({{"k", keys}, {"t", J(arrow::timestamp(arrow::TimeUnit::NANO), "[1000, 2000, 9000]")},
                         {"f", J(arrow::int64(), "[1, 2, 3]")}});
  AsOfView v;
  v.name = "v";
  v.rows = Reader(rows);
  v.join_keys = {"k"};
  v.timestamp_column = "t";
  v.features = {"f"};
  ASSERT_OK_AND_ASSIGN(auto out, PointInTimeJoin(entity, {v}));
  EXPECT_TRUE(Col(*out, "f")->Equals(*J(arrow::int64(), "[3, 2, null, 1]"))) << Col(*out, "f")->ToString();

  // An empty view gives NULLs; an empty entity frame gives an empty result with the columns.
  v.rows = Reader(rows->Slice(0, 0));
  ASSERT_OK_AND_ASSIGN(out, PointInTimeJoin(entity, {v}));
  EXPECT_EQ(Col(*out, "f")->null_count(), 4);
  v.rows = Reader(rows);
  ASSERT_OK_AND_ASSIGN(out, PointInTimeJoin(entity->Slice(0, 0), {v}));
  EXPECT_EQ(out->num_rows(), 0);
  EXPECT_EQ(out->num_columns(), 3);
  // No views: the entity frame unchanged.
  ASSERT_OK_AND_ASSIGN(out, PointInTimeJoin(entity, {}));
  EXPECT_TRUE(out->Equals(*entity));
}

// ---- bad input ---------------------------------------------------------------------------------

void ExpectInvalid(const Result<std::shared_ptr<arrow::Table>>& r, const std::vector<std::string>& words) {
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument)) << r.status().ToString();
  for (const auto& w : words) EXPECT_NE(r.status().message().find(w), std::string::npos) << r.status().message();
}

TEST(PointInTimeJoin, BadInputIsNamed) {
  auto entity = MakeTable({{"driver_id", J(arrow::int64(), "[1]")},
                           {"sid", J(arrow::utf8(), R"(["1"])")},
                           {"event_timestamp", J(kUs, "[10]")},
                           {"conv", J(arrow::float64(), "[1]")}});
  auto rows = MakeTable({{"driver_id", J(arrow::int64(), "[1]")},
                         {"ts", J(kUs, "[1]")},
                         {"plain", J(arrow::int64(), "[1]")},
                         {"conv", J(arrow::float64(), "[1]")},
                         {"rate", J(arrow::float64(), "[1]")}});
  auto base = [&] {
    AsOfView v;
    v.name = "driver_stats";
    v.rows = Reader(rows);
    v.join_keys = {"driver_id"};
    v.timestamp_column = "ts";
    v.features = {"rate"};
    return v;
  };
  {
    auto v = base();
    v.features = {"nope"};
    ExpectInvalid(PointInTimeJoin(entity, {v}), {"'nope'", "'driver_stats'", "feature"});
  }
  {
    auto v = base();
    v.join_keys = {"missing_key"};
    ExpectInvalid(PointInTimeJoin(entity, {v}), {"'missing_key'", "'driver_stats'", "join key"});
  }
  {
    auto v = base();
    v.entity_keys = {"customer"};
    ExpectInvalid(PointInTimeJoin(entity, {v}), {"entity frame", "'customer'", "'driver_stats'"});
  }
  {
    auto v = base();
    v.entity_keys = {"sid"};  // string in the entity frame, int64 in the view
    ExpectInvalid(PointInTimeJoin(entity, {v}), {"'driver_id'", "'sid'", "'driver_stats'", "int64", "string"});
  }
  {
    auto v = base();
    v.timestamp_column = "plain";
    ExpectInvalid(PointInTimeJoin(entity, {v}), {"'plain'", "'driver_stats'", "not a timestamp"});
  }
  {
    auto v = base();
    v.created_timestamp_column = "created";
    ExpectInvalid(PointInTimeJoin(entity, {v}), {"'created'", "created timestamp"});
  }
  {
    auto v = base();
    v.ttl_us = -1;
    ExpectInvalid(PointInTimeJoin(entity, {v}), {"'driver_stats'", "ttl"});
  }
  {
    auto v = base();
    v.features = {"conv"};  // clashes with the entity frame's column
    ExpectInvalid(PointInTimeJoin(entity, {v}), {"'conv'", "'driver_stats'"});
    AsOfJoinOptions o;
    o.full_feature_names = true;
    v.rows = Reader(rows);
    EXPECT_OK(PointInTimeJoin(entity, {v}, o));
  }
  {
    // Seconds that do not fit in microseconds (the unit the join compares in).
    auto far = MakeTable({{"driver_id", J(arrow::int64(), "[1]")},
                          {"event_timestamp", J(arrow::timestamp(arrow::TimeUnit::SECOND), "[9000000000000000]")}});
    ExpectInvalid(PointInTimeJoin(far, {base()}), {"'event_timestamp'"});
  }
  {
    AsOfJoinOptions o;
    o.entity_timestamp_column = "when";
    ExpectInvalid(PointInTimeJoin(entity, {base()}, o), {"'when'", "entity frame"});
    o.entity_timestamp_column = "driver_id";
    ExpectInvalid(PointInTimeJoin(entity, {base()}, o), {"'driver_id'", "not a timestamp"});
  }
}

// ---- random data against the brute-force reference ---------------------------------------------

struct RandomCase {
  std::shared_ptr<arrow::Table> entity;
  std::vector<std::pair<std::shared_ptr<arrow::Table>, AsOfView>> views;
};

template <typename Builder, typename Gen>
std::shared_ptr<arrow::Array> Build(Builder b, int64_t n, double null_p, std::mt19937_64& rng, Gen gen) {
  std::bernoulli_distribution is_null(null_p);
  for (int64_t i = 0; i < n; ++i) {
    if (is_null(rng)) {
      EXPECT_OK(b.AppendNull());
    } else {
      EXPECT_OK(b.Append(gen()));
    }
  }
  return *b.Finish();
}

RandomCase MakeCase(uint64_t seed, int64_t max_entity, int64_t max_rows) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const int64_t keys = uni(1, 40);
  const int64_t span = uni(5, 120);  // seconds: a short span means many ties
  auto sec_ts = [&](int64_t factor) {
    // Mostly whole seconds (ties), sometimes a fraction of one.
    return [&, factor] { return uni(0, span) * factor + (uni(0, 3) == 0 ? uni(0, factor - 1) : 0); };
  };
  auto key_s = [&] { return "s" + std::to_string(uni(0, keys)); };

  RandomCase c;
  int64_t ne = uni(0, max_entity);
  auto base = MakeTable({
      {"driver_id", Build(arrow::Int64Builder(), ne, 0.05, rng, [&] { return uni(0, keys + 5); })},
      {"sid", Build(arrow::StringBuilder(), ne, 0.05, rng, key_s)},
      {"ea", Build(arrow::Int64Builder(), ne, 0.03, rng, [&] { return uni(0, 4); })},
      {"eb", Build(arrow::StringBuilder(), ne, 0.03, rng, [&] { return "b" + std::to_string(uni(0, 4)); })},
      {"event_timestamp", Build(arrow::TimestampBuilder(kUtcMs, arrow::default_memory_pool()), ne, 0.05, rng,
                                sec_ts(1000))},
      {"label", Build(arrow::DoubleBuilder(), ne, 0.1, rng, [&] { return static_cast<double>(uni(0, 1000)); })},
  });
  // Duplicate entity rows: draw rows with repetition.
  arrow::Int64Builder pick;
  for (int64_t i = 0; i < ne + ne / 4; ++i) EXPECT_OK(pick.Append(uni(0, std::max<int64_t>(0, ne - 1))));
  auto picked = *pick.Finish();
  c.entity = ne == 0 ? base : (*arrow::compute::Take(base, picked)).table();

  std::optional<int64_t> ttls[] = {std::nullopt, 0, 1'000'000, 10'000'000, 30'500'000};
  auto ttl = [&] { return ttls[uni(0, 4)]; };
  {  // int key (int32 in the view, int64 in the entity frame), created ts with NULLs and ties
    int64_t n = uni(0, max_rows);
    auto rows = MakeTable({
        {"driver_id", Build(arrow::Int32Builder(), n, 0.03, rng, [&] { return static_cast<int32_t>(uni(0, keys)); })},
        {"ts", Build(arrow::TimestampBuilder(arrow::timestamp(arrow::TimeUnit::MICRO, "America/New_York"),
                                             arrow::default_memory_pool()),
                     n, 0.03, rng, sec_ts(1'000'000))},
        {"created", Build(arrow::TimestampBuilder(arrow::timestamp(arrow::TimeUnit::SECOND),
                                                  arrow::default_memory_pool()),
                          n, 0.2, rng, [&] { return uni(0, 3); })},
        {"conv", Build(arrow::DoubleBuilder(), n, 0.1, rng, [&] { return uni(0, 1'000'000) / 1e3; })},
        {"trips", Build(arrow::Int64Builder(), n, 0.0, rng, [&] { return uni(0, 1'000'000); })},
    });
    AsOfView v;
    v.name = "driver_stats";
    v.join_keys = {"driver_id"};
    v.timestamp_column = "ts";
    v.created_timestamp_column = "created";
    v.ttl_us = ttl();
    v.features = {"conv", "trips"};
    c.views.emplace_back(rows, v);
  }
  {  // string key (large_string in the view), nanosecond timestamps, no created ts
    int64_t n = uni(0, max_rows);
    auto rows = MakeTable({
        {"sid", *arrow::compute::Cast(*Build(arrow::StringBuilder(), n, 0.03, rng, key_s), arrow::large_utf8())},
        {"t", Build(arrow::TimestampBuilder(arrow::timestamp(arrow::TimeUnit::NANO), arrow::default_memory_pool()), n,
                    0.03, rng, sec_ts(1'000'000'000))},
        {"name", Build(arrow::StringBuilder(), n, 0.1, rng, [&] { return "n" + std::to_string(uni(0, 100000)); })},
    });
    AsOfView v;
    v.name = "store";
    v.join_keys = {"sid"};
    v.timestamp_column = "t";
    v.ttl_us = ttl();
    v.features = {"name"};
    c.views.emplace_back(rows, v);
  }
  {  // two key columns with other names than the entity frame's, second timestamps, ms created
    int64_t n = uni(0, max_rows);
    auto rows = MakeTable({
        {"a", Build(arrow::Int16Builder(), n, 0.03, rng, [&] { return static_cast<int16_t>(uni(0, 4)); })},
        {"b", Build(arrow::StringBuilder(), n, 0.03, rng, [&] { return "b" + std::to_string(uni(0, 4)); })},
        {"when", Build(arrow::TimestampBuilder(arrow::timestamp(arrow::TimeUnit::SECOND, "+05:30"),
                                               arrow::default_memory_pool()),
                       n, 0.03, rng, [&] { return uni(0, span); })},
        {"made", Build(arrow::TimestampBuilder(arrow::timestamp(arrow::TimeUnit::MILLI), arrow::default_memory_pool()),
                       n, 0.1, rng, [&] { return uni(0, 2); })},
        {"v", Build(arrow::Int32Builder(), n, 0.1, rng, [&] { return static_cast<int32_t>(uni(0, 1000)); })},
    });
    AsOfView v;
    v.name = "pair";
    v.join_keys = {"a", "b"};
    v.entity_keys = {"ea", "eb"};
    v.timestamp_column = "when";
    v.created_timestamp_column = "made";
    v.ttl_us = ttl();
    v.features = {"v", "a", "when"};
    v.output_names = {"pair_v", "pair_a", "pair_when"};
    c.views.emplace_back(rows, v);
  }
  return c;
}

std::vector<AsOfView> Views(const RandomCase& c, int64_t chunk) {
  std::vector<AsOfView> out;
  for (const auto& [rows, v] : c.views) {
    AsOfView w = v;
    w.rows = Reader(rows, chunk);
    out.push_back(std::move(w));
  }
  return out;
}

TEST(PointInTimeJoin, RandomAgainstBruteForce) {
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto c = MakeCase(seed, 300, 1500);
    bool full = seed % 2 == 0;
    auto want = Expected(c.entity, "event_timestamp", c.views, full);
    AsOfJoinOptions o;
    o.full_feature_names = full;
    // In memory, all threads.
    ASSERT_OK_AND_ASSIGN(auto got, PointInTimeJoin(c.entity, Views(c, seed % 3 == 0 ? 0 : 97), o));
    ExpectSameTable(*got, *want, "in memory");
    // One thread, one partition.
    o.parallelism = 1;
    o.partitions = 1;
    ASSERT_OK_AND_ASSIGN(got, PointInTimeJoin(c.entity, Views(c, 0), o));
    ExpectSameTable(*got, *want, "one partition");
    // Spilled: a one-byte budget spills every view.
    o.parallelism = 2;
    o.partitions = 4;
    o.memory_budget_bytes = 1;
    AsOfJoinStats stats;
    ASSERT_OK_AND_ASSIGN(got, PointInTimeJoin(c.entity, Views(c, 113), o, &stats));
    ExpectSameTable(*got, *want, "spilled");
    int nonempty = 0;
    for (const auto& [rows, v] : c.views) nonempty += rows->num_rows() > 0 ? 1 : 0;
    EXPECT_EQ(stats.views_spilled, nonempty);
    if (HasFailure()) return;
  }
}

TEST(PointInTimeJoin, SpillingSplitsOversizedPartitionsAgain) {
  auto c = MakeCase(4242, 2000, 0);
  // A bigger view than MakeCase draws: enough rows that a partition exceeds its share of the budget.
  std::mt19937_64 rng(5);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int64_t n = 60000;
  auto rows = MakeTable({
      {"driver_id", Build(arrow::Int64Builder(), n, 0.01, rng, [&] { return uni(0, 40); })},
      {"ts", Build(arrow::TimestampBuilder(kUs, arrow::default_memory_pool()), n, 0.01, rng,
                   [&] { return uni(0, 120) * 1'000'000; })},
      {"created", Build(arrow::TimestampBuilder(kUs, arrow::default_memory_pool()), n, 0.1, rng,
                        [&] { return uni(0, 3); })},
      {"x", Build(arrow::Int64Builder(), n, 0.0, rng, [&] { return uni(0, 1 << 30); })},
  });
  AsOfView v;
  v.name = "big";
  v.join_keys = {"driver_id"};
  v.timestamp_column = "ts";
  v.created_timestamp_column = "created";
  v.ttl_us = 20'000'000;
  v.features = {"x"};
  auto want = Expected(c.entity, "event_timestamp", {{rows, v}}, false);
  for (int partitions : {2, 16}) {
    AsOfJoinOptions o;
    o.partitions = partitions;
    o.memory_budget_bytes = 1;
    AsOfJoinStats stats;
    v.rows = Reader(rows, 1000);
    ASSERT_OK_AND_ASSIGN(auto got, PointInTimeJoin(c.entity, {v}, o, &stats));
    ExpectSameTable(*got, *want, "partitions " + std::to_string(partitions));
    EXPECT_EQ(stats.views_spilled, 1);
    EXPECT_GE(stats.max_spill_depth, 2) << "the 2-way split should have been split again";
    EXPECT_GT(stats.spill_bytes, 0);
    EXPECT_EQ(stats.feature_rows, n);
  }
  // A single key: hashing cannot split it, and it is joined in one piece.
  auto one = MakeTable({{"driver_id", J(arrow::int64(), "[7]")}, {"event_timestamp", J(kUtcMs, "[60000]")}});
  std::vector<int64_t> sevens(static_cast<size_t>(n), 7);
  arrow::Int64Builder b;
  ASSERT_OK(b.AppendValues(sevens));
  auto rows7 = MakeTable({{"driver_id", *b.Finish()},
                          {"ts", Col(*rows, "ts")},
                          {"created", Col(*rows, "created")},
                          {"x", Col(*rows, "x")}});
  want = Expected(one, "event_timestamp", {{rows7, v}}, false);
  AsOfJoinOptions o;
  o.partitions = 2;
  o.memory_budget_bytes = 1;
  v.rows = Reader(rows7, 5000);
  ASSERT_OK_AND_ASSIGN(auto got, PointInTimeJoin(one, {v}, o));
  ExpectSameTable(*got, *want, "one key");
}

TEST(PointInTimeJoin, LargerInputsAgreeAcrossPaths) {
  // Too big for the brute force: the in-memory result (checked above on small data) must equal
  // the single-threaded and the spilled ones, string keys included.
  std::mt19937_64 rng(17);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const int64_t ne = 40000, nf = 400000, keys = 5000;
  auto skey = [&](int64_t k) { return "driver-" + std::to_string(k); };
  auto entity = MakeTable({
      {"k", Build(arrow::StringBuilder(), ne, 0.01, rng, [&] { return skey(uni(0, keys + 50)); })},
      {"event_timestamp", Build(arrow::TimestampBuilder(kUs, arrow::default_memory_pool()), ne, 0.01, rng,
                                [&] { return uni(0, 1'000'000'000); })},
  });
  auto rows = MakeTable({
      {"k", Build(arrow::StringBuilder(), nf, 0.01, rng, [&] { return skey(uni(0, keys)); })},
      {"t", Build(arrow::TimestampBuilder(kUs, arrow::default_memory_pool()), nf, 0.01, rng,
                  [&] { return uni(0, 1'000'000'000); })},
      {"c", Build(arrow::TimestampBuilder(kUs, arrow::default_memory_pool()), nf, 0.3, rng, [&] { return uni(0, 3); })},
      {"f", Build(arrow::DoubleBuilder(), nf, 0.05, rng, [&] { return uni(0, 1000) / 8.0; })},
      {"s", Build(arrow::StringBuilder(), nf, 0.05, rng, [&] { return std::to_string(uni(0, 1000)); })},
  });
  AsOfView v;
  v.name = "v";
  v.join_keys = {"k"};
  v.timestamp_column = "t";
  v.created_timestamp_column = "c";
  v.ttl_us = 50'000'000;
  v.features = {"f", "s"};
  v.rows = Reader(rows, 30000);
  ASSERT_OK_AND_ASSIGN(auto want, PointInTimeJoin(entity, {v}));
  EXPECT_GT(want->column(2)->null_count(), 0);
  EXPECT_LT(want->column(2)->null_count(), ne / 2);
  AsOfJoinOptions one;
  one.parallelism = 1;
  one.partitions = 1;
  v.rows = Reader(rows);
  ASSERT_OK_AND_ASSIGN(auto got, PointInTimeJoin(entity, {v}, one));
  ExpectSameTable(*got, *want, "one thread");
  for (int64_t budget : {int64_t{1}, int64_t{4} << 20}) {
    AsOfJoinOptions o;
    o.memory_budget_bytes = budget;
    AsOfJoinStats stats;
    v.rows = Reader(rows, 7777);
    ASSERT_OK_AND_ASSIGN(got, PointInTimeJoin(entity, {v}, o, &stats));
    ExpectSameTable(*got, *want, "spilled, budget " + std::to_string(budget));
    EXPECT_EQ(stats.views_spilled, 1);
  }
}

/// Yields `good` batches of `t`, then fails.
class FailingReader : public arrow::RecordBatchReader {
 public:
  FailingReader(std::shared_ptr<arrow::Table> t, int good) : inner_(Reader(t, 10)), good_(good) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    if (good_-- <= 0) return arrow::Status::IOError("disk on fire");
    return inner_->ReadNext(batch);
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  int good_;
};

TEST(PointInTimeJoin, SpillFilesAreRemovedAndReadErrorsNamed) {
  auto c = MakeCase(11, 300, 0);
  std::mt19937_64 rng(3);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int64_t n = 5000;
  auto rows = MakeTable({
      {"driver_id", Build(arrow::Int64Builder(), n, 0.0, rng, [&] { return uni(0, 40); })},
      {"ts", Build(arrow::TimestampBuilder(kUs, arrow::default_memory_pool()), n, 0.0, rng,
                   [&] { return uni(0, 120) * 1'000'000; })},
      {"x", Build(arrow::Int64Builder(), n, 0.0, rng, [&] { return uni(0, 1 << 30); })},
  });
  AsOfView v;
  v.name = "spilled";
  v.join_keys = {"driver_id"};
  v.timestamp_column = "ts";
  v.features = {"x"};
  testing::TempDir dir;
  AsOfJoinOptions o;
  o.memory_budget_bytes = 1;
  o.spill_dir = dir.path();
  for (int good : {1000, 50, 0}) {
    v.rows = std::make_shared<FailingReader>(rows, good);
    auto r = PointInTimeJoin(c.entity, {v}, o);
    if (good == 1000) {
      ASSERT_OK(r.status());
      ExpectSameTable(**r, *Expected(c.entity, "event_timestamp", {{rows, v}}, false), "spilled");
    } else {
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("feature view 'spilled'"), std::string::npos) << r.status().ToString();
      EXPECT_NE(r.status().message().find("disk on fire"), std::string::npos) << r.status().ToString();
    }
    EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "spill files left behind (" << good << ")";
  }
}

TEST(PointInTimeJoin, ReaderInputKeepsEntityChunks) {
  auto c = MakeCase(9, 500, 800);
  auto want = Expected(c.entity, "event_timestamp", c.views, false);
  ASSERT_OK_AND_ASSIGN(auto got, PointInTimeJoin(Reader(c.entity, 37), Views(c, 0)));
  ExpectSameTable(*got, *want, "entity reader");
}

}  // namespace
}  // namespace strata::exec
