#include "strata/quality/profile.h"

#include <cmath>
#include <map>
#include <random>
#include <set>

#include <arrow/api.h>

#include "strata/ops/delete.h"
#include "strata/ops/write.h"
#include "strata/storage/local_store.h"
#include "strata/testing/gtest_util.h"

namespace strata::quality {
namespace {

std::shared_ptr<arrow::Schema> TestSchema() {
  return arrow::schema({arrow::field("i", arrow::int64()), arrow::field("f", arrow::float64()),
                        arrow::field("s", arrow::utf8()), arrow::field("b", arrow::boolean()),
                        arrow::field("t", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
                        arrow::field("n", arrow::int32()), arrow::field("small", arrow::int32())});
}

/// Rows [start, start + n): i has nulls every 7th row, f has NaN every 11th and nulls every 13th,
/// s is unicode with nulls every 5th, n is all null, small has 5 distinct values.
std::shared_ptr<arrow::RecordBatch> Rows(int64_t start, int64_t n, uint64_t seed = 1) {
  std::mt19937_64 rng(seed + start);
  std::normal_distribution<double> normal(100, 15);
  arrow::Int64Builder i;
  arrow::DoubleBuilder f;
  arrow::StringBuilder s;
  arrow::BooleanBuilder b;
  arrow::TimestampBuilder t(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  arrow::Int32Builder nn, small;
  const char* words[] = {"αβγ", "naïve", "日本語", "plain", "emoji 🎉", ""};
  for (int64_t r = start; r < start + n; ++r) {
    if (r % 7 == 0) (void)i.AppendNull(); else (void)i.Append(static_cast<int64_t>(rng() % 100000) - 50000);
    if (r % 13 == 0) {
      (void)f.AppendNull();
    } else if (r % 11 == 0) {
      (void)f.Append(std::nan(""));
    } else {
      (void)f.Append(normal(rng));
    }
    if (r % 5 == 0) (void)s.AppendNull(); else (void)s.Append(std::string(words[rng() % 6]) + std::to_string(rng() % 50));
    (void)b.Append(rng() % 3 == 0);
    (void)t.Append(1'700'000'000'000'000LL + r * 1000);
    (void)nn.AppendNull();
    (void)small.Append(static_cast<int32_t>(r % 5) * 10);
  }
  return arrow::RecordBatch::Make(TestSchema(), n,
                                  {*i.Finish(), *f.Finish(), *s.Finish(), *b.Finish(), *t.Finish(), *nn.Finish(),
                                   *small.Finish()});
}

std::shared_ptr<arrow::RecordBatchReader> Reader(std::vector<std::shared_ptr<arrow::RecordBatch>> batches) {
  return *arrow::RecordBatchReader::Make(std::move(batches), TestSchema());
}

/// Brute-force statistics of a column, for comparison.
struct Exact {
  int64_t count = 0, nulls = 0, nans = 0;
  std::vector<double> values;
  std::set<std::string> distinct_strings;
  std::map<std::string, int64_t> string_counts;
  std::string smin, smax;
};

Exact Compute(const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches, const std::string& col) {
  Exact e;
  for (const auto& batch : batches) {
    auto arr = batch->GetColumnByName(col);
    for (int64_t r = 0; r < arr->length(); ++r) {
      ++e.count;
      if (arr->IsNull(r)) {
        ++e.nulls;
        continue;
      }
      auto scalar = *arr->GetScalar(r);
      if (arr->type_id() == arrow::Type::STRING) {
        std::string v = std::static_pointer_cast<arrow::StringScalar>(scalar)->ToString();
        if (e.distinct_strings.empty() || v < e.smin) e.smin = v;
        if (e.distinct_strings.empty() || v > e.smax) e.smax = v;
        e.distinct_strings.insert(v);
        ++e.string_counts[v];
        continue;
      }
      double v;
      if (arr->type_id() == arrow::Type::DOUBLE) {
        v = std::static_pointer_cast<arrow::DoubleScalar>(scalar)->value;
      } else if (arr->type_id() == arrow::Type::INT64) {
        v = static_cast<double>(std::static_pointer_cast<arrow::Int64Scalar>(scalar)->value);
      } else {
        v = static_cast<double>(std::static_pointer_cast<arrow::Int32Scalar>(scalar)->value);
      }
      if (std::isnan(v)) {
        ++e.nans;
        continue;
      }
      e.values.push_back(v);
    }
  }
  return e;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}
double Stdev(const std::vector<double>& v) {
  double m = Mean(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / (v.size() - 1));
}

void ExpectSameExactFields(const Profile& a, const Profile& b) {
  ASSERT_EQ(a.num_rows(), b.num_rows());
  ASSERT_EQ(a.columns().size(), b.columns().size());
  for (size_t i = 0; i < a.columns().size(); ++i) {
    const auto& x = a.columns()[i];
    const auto& y = b.columns()[i];
    SCOPED_TRACE(x.name());
    EXPECT_EQ(x.name(), y.name());
    EXPECT_EQ(x.kind(), y.kind());
    EXPECT_EQ(x.count(), y.count());
    EXPECT_EQ(x.null_count(), y.null_count());
    EXPECT_EQ(x.nan_count(), y.nan_count());
    EXPECT_EQ(x.min(), y.min());
    EXPECT_EQ(x.max(), y.max());
    EXPECT_EQ(x.min_length(), y.min_length());
    EXPECT_EQ(x.max_length(), y.max_length());
    EXPECT_EQ(x.mean().has_value(), y.mean().has_value());
    if (x.mean()) {
      EXPECT_NEAR(*x.mean(), *y.mean(), 1e-9 * std::max(1.0, std::abs(*x.mean())));
    }
    if (x.stdev()) {
      EXPECT_NEAR(*x.stdev(), *y.stdev(), 1e-9 * std::max(1.0, *x.stdev()));
    }
    if (x.distinct_exact() && y.distinct_exact()) {
      EXPECT_EQ(x.distinct(), y.distinct());
    }
    if (x.top_values_exact() && y.top_values_exact()) {
      auto tx = x.TopValues(100), ty = y.TopValues(100);
      ASSERT_EQ(tx.size(), ty.size());
      for (size_t k = 0; k < tx.size(); ++k) {
        EXPECT_EQ(tx[k].value, ty[k].value);
        EXPECT_EQ(tx[k].count, ty[k].count);
      }
    }
  }
}

TEST(ProfileTest, MatchesBruteForce) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches = {Rows(0, 30000), Rows(30000, 1), Rows(30001, 20000)};
  auto reader = Reader(batches);
  ASSERT_OK_AND_ASSIGN(auto p, ProfileStream(*reader));
  EXPECT_EQ(p.num_rows(), 50001);

  const auto* f = p.column("f");
  ASSERT_NE(f, nullptr);
  auto ef = Compute(batches, "f");
  EXPECT_EQ(f->kind(), ColumnKind::kFloat);
  EXPECT_EQ(f->count(), ef.count);
  EXPECT_EQ(f->null_count(), ef.nulls);
  EXPECT_EQ(f->nan_count(), ef.nans);
  EXPECT_EQ(f->valid_count(), static_cast<int64_t>(ef.values.size()));
  EXPECT_EQ(std::get<double>(f->min()), *std::min_element(ef.values.begin(), ef.values.end()));
  EXPECT_EQ(std::get<double>(f->max()), *std::max_element(ef.values.begin(), ef.values.end()));
  EXPECT_NEAR(*f->mean(), Mean(ef.values), 1e-9);
  EXPECT_NEAR(*f->stdev(), Stdev(ef.values), 1e-9);
  EXPECT_NEAR(*f->distinct() / ef.values.size(), 1.0, 0.04);  // all distinct
  std::sort(ef.values.begin(), ef.values.end());
  for (double q : {0.1, 0.5, 0.9}) {
    double v = *f->Quantile(q);
    double rank = (std::lower_bound(ef.values.begin(), ef.values.end(), v) - ef.values.begin()) /
                  static_cast<double>(ef.values.size());
    EXPECT_NEAR(rank, q, 0.02);
  }
  auto hist = f->Histogram(10);
  ASSERT_EQ(hist.size(), 10u);
  int64_t total = 0;
  for (const auto& bin : hist) total += bin.count;
  EXPECT_EQ(total, f->valid_count());
  EXPECT_EQ(hist.front().lower, std::get<double>(f->min()));
  EXPECT_EQ(hist.back().upper, std::get<double>(f->max()));
  for (const auto& bin : hist) {
    auto lo = std::lower_bound(ef.values.begin(), ef.values.end(), bin.lower);
    auto hi = &bin == &hist.back() ? ef.values.end() : std::lower_bound(ef.values.begin(), ef.values.end(), bin.upper);
    EXPECT_NEAR(bin.count, hi - lo, 0.03 * ef.values.size());
  }

  const auto* i = p.column("i");
  auto ei = Compute(batches, "i");
  EXPECT_EQ(i->kind(), ColumnKind::kInteger);
  EXPECT_EQ(i->null_count(), ei.nulls);
  EXPECT_EQ(std::get<int64_t>(i->min()), static_cast<int64_t>(*std::min_element(ei.values.begin(), ei.values.end())));
  EXPECT_EQ(std::get<int64_t>(i->max()), static_cast<int64_t>(*std::max_element(ei.values.begin(), ei.values.end())));
  EXPECT_NEAR(*i->mean(), Mean(ei.values), 1e-6);
  std::set<double> di(ei.values.begin(), ei.values.end());
  EXPECT_NEAR(*i->distinct() / di.size(), 1.0, 0.04);

  const auto* s = p.column("s");
  auto es = Compute(batches, "s");
  EXPECT_EQ(s->kind(), ColumnKind::kString);
  EXPECT_EQ(s->null_count(), es.nulls);
  EXPECT_EQ(std::get<std::string>(s->min()), es.smin);
  EXPECT_EQ(std::get<std::string>(s->max()), es.smax);
  EXPECT_TRUE(s->distinct_exact());
  EXPECT_EQ(*s->distinct(), static_cast<double>(es.distinct_strings.size()));
  EXPECT_TRUE(s->top_values_exact());
  auto top = s->TopValues(5);
  ASSERT_EQ(top.size(), 5u);
  for (const auto& tv : top) EXPECT_EQ(tv.count, es.string_counts[std::get<std::string>(tv.value)]);
  EXPECT_FALSE(s->Quantile(0.5).has_value());

  const auto* b = p.column("b");
  EXPECT_EQ(b->kind(), ColumnKind::kBoolean);
  EXPECT_EQ(*b->distinct(), 2);
  auto btop = b->TopValues();
  ASSERT_EQ(btop.size(), 2u);
  EXPECT_EQ(std::get<bool>(btop[0].value), false);
  EXPECT_EQ(btop[0].count + btop[1].count, 50001);
  EXPECT_NEAR(*b->mean(), static_cast<double>(btop[1].count) / 50001, 1e-12);

  const auto* t = p.column("t");
  EXPECT_EQ(t->kind(), ColumnKind::kTemporal);
  EXPECT_EQ(std::get<int64_t>(t->min()), 1'700'000'000'000'000LL);
  EXPECT_EQ(std::get<int64_t>(t->max()), 1'700'000'000'000'000LL + 50000 * 1000);
  EXPECT_TRUE(t->TopValues().empty());

  const auto* n = p.column("n");
  EXPECT_EQ(n->null_count(), 50001);
  EXPECT_EQ(n->valid_count(), 0);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(n->min()));
  EXPECT_FALSE(n->mean().has_value());
  EXPECT_EQ(*n->distinct(), 0);
  EXPECT_TRUE(n->Histogram().empty());

  const auto* small = p.column("small");
  EXPECT_TRUE(small->top_values_exact());
  auto stop = small->TopValues();
  ASSERT_EQ(stop.size(), 5u);
  for (const auto& tv : stop) EXPECT_NEAR(tv.count, 10000, 1);
  EXPECT_EQ(*small->distinct(), 5);
}

TEST(ProfileTest, MergeEqualsWholeAndThreadsDoNotMatter) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> all;
  for (int k = 0; k < 6; ++k) all.push_back(Rows(k * 20000, 20000, 3));
  ProfileOptions single;
  single.threads = 1;
  auto r1 = Reader(all);
  ASSERT_OK_AND_ASSIGN(auto whole, ProfileStream(*r1, single));
  ProfileOptions parallel;
  parallel.threads = 3;
  parallel.slice_rows = 7000;
  auto r2 = Reader(all);
  ASSERT_OK_AND_ASSIGN(auto threaded, ProfileStream(*r2, parallel));
  ExpectSameExactFields(whole, threaded);

  auto ra = Reader({all[0], all[1]});
  auto rb = Reader({all[2], all[3], all[4], all[5]});
  ASSERT_OK_AND_ASSIGN(auto a, ProfileStream(*ra));
  ASSERT_OK_AND_ASSIGN(auto b, ProfileStream(*rb));
  ASSERT_OK(a.Merge(b));
  ExpectSameExactFields(whole, a);
  for (const char* col : {"f", "i"}) {
    const auto* x = whole.column(col);
    const auto* y = a.column(col);
    EXPECT_NEAR(*y->distinct() / *x->distinct(), 1.0, 0.03);
    EXPECT_NEAR(*y->Quantile(0.5), *x->Quantile(0.5), 0.05 * *x->stdev());
  }
}

TEST(ProfileTest, MergeWithMissingColumnCountsNulls) {
  auto schema_a = arrow::schema({arrow::field("x", arrow::int64())});
  auto schema_b = arrow::schema({arrow::field("x", arrow::int64()), arrow::field("y", arrow::utf8())});
  arrow::Int64Builder xb;
  (void)xb.AppendValues({1, 2, 3});
  arrow::StringBuilder yb;
  (void)yb.AppendValues({"a", "b", "c"});
  ASSERT_OK_AND_ASSIGN(auto a, Profile::Make(*schema_a));
  ASSERT_OK(a.Update(*arrow::RecordBatch::Make(schema_a, 3, {*xb.Finish()})));
  (void)xb.AppendValues({4, 5, 6});
  ASSERT_OK_AND_ASSIGN(auto b, Profile::Make(*schema_b));
  ASSERT_OK(b.Update(*arrow::RecordBatch::Make(schema_b, 3, {*xb.Finish(), *yb.Finish()})));
  ASSERT_OK(a.Merge(b));
  EXPECT_EQ(a.num_rows(), 6);
  EXPECT_EQ(std::get<int64_t>(a.column("x")->max()), 6);
  EXPECT_EQ(a.column("y")->count(), 6);
  EXPECT_EQ(a.column("y")->null_count(), 3);

  // Kinds must agree.
  auto schema_c = arrow::schema({arrow::field("x", arrow::utf8())});
  ASSERT_OK_AND_ASSIGN(auto c, Profile::Make(*schema_c));
  EXPECT_TRUE(HasCode(a.Merge(c), ErrorCode::kSchemaMismatch));
  // Sketch parameters must agree.
  ProfileOptions o;
  o.kll_k = 100;
  ASSERT_OK_AND_ASSIGN(auto d, Profile::Make(*schema_a, o));
  EXPECT_TRUE(HasCode(a.Merge(d), ErrorCode::kInvalidArgument));
  EXPECT_EQ(a.num_rows(), 6);  // a failed merge changes nothing
}

TEST(ProfileTest, JsonRoundTrip) {
  auto reader = Reader({Rows(0, 40000, 9)});
  ASSERT_OK_AND_ASSIGN(auto p, ProfileStream(*reader));
  p.set_table_version(7);
  std::string json = p.ToJson();
  ASSERT_OK_AND_ASSIGN(auto back, Profile::FromJson(json));
  EXPECT_EQ(back.ToJson(), json);
  EXPECT_EQ(back.table_version(), 7);
  ExpectSameExactFields(p, back);
  // A deserialized profile still merges.
  auto more = Reader({Rows(40000, 1000, 9)});
  ASSERT_OK_AND_ASSIGN(auto q, ProfileStream(*more));
  ASSERT_OK(back.Merge(q));
  EXPECT_EQ(back.num_rows(), 41000);

  EXPECT_FALSE(Profile::FromJson("{").ok());
  EXPECT_FALSE(Profile::FromJson("{\"format\":\"other\"}").ok());
  std::string broken = json;
  broken.replace(broken.find("\"kll\":\"") + 7, 4, "AAAA");
  EXPECT_FALSE(Profile::FromJson(broken).ok());
}

TEST(ProfileTest, UnknownColumnAndTypes) {
  ProfileOptions o;
  o.columns = {"nope"};
  auto reader = Reader({Rows(0, 10)});
  EXPECT_TRUE(HasCode(ProfileStream(*reader, o).status(), ErrorCode::kInvalidArgument));

  // Dictionary, decimal, uint64, date and empty inputs.
  arrow::StringDictionaryBuilder dict;
  for (const char* v : {"x", "y", "x", "x"}) (void)dict.Append(v);
  arrow::Decimal128Builder dec(arrow::decimal128(10, 2));
  for (int v : {125, -300, 1000, 5}) (void)dec.Append(arrow::Decimal128(v));
  arrow::UInt64Builder u;
  (void)u.AppendValues({1, 2, 18446744073709551615ULL, 4});
  arrow::Date32Builder d;
  (void)d.AppendValues({10, 20, 30, 40});
  std::shared_ptr<arrow::Array> dict_arr = *dict.Finish();
  auto schema = arrow::schema({arrow::field("d", dict_arr->type()), arrow::field("m", arrow::decimal128(10, 2)),
                               arrow::field("u", arrow::uint64()), arrow::field("day", arrow::date32())});
  auto batch = arrow::RecordBatch::Make(schema, 4, {dict_arr, *dec.Finish(), *u.Finish(), *d.Finish()});
  ASSERT_OK_AND_ASSIGN(auto p, Profile::Make(*schema));
  ASSERT_OK(p.Update(*batch));
  EXPECT_EQ(p.column("d")->kind(), ColumnKind::kString);
  EXPECT_EQ(std::get<std::string>(p.column("d")->TopValues()[0].value), "x");
  EXPECT_EQ(p.column("d")->TopValues()[0].count, 3);
  EXPECT_EQ(p.column("m")->kind(), ColumnKind::kDecimal);
  EXPECT_DOUBLE_EQ(std::get<double>(p.column("m")->min()), -3.0);
  EXPECT_DOUBLE_EQ(std::get<double>(p.column("m")->max()), 10.0);
  EXPECT_EQ(p.column("u")->kind(), ColumnKind::kFloat);
  EXPECT_DOUBLE_EQ(std::get<double>(p.column("u")->max()), 18446744073709551615.0);
  EXPECT_EQ(std::get<int64_t>(p.column("day")->max()), 40);

  auto empty = Reader({});
  ASSERT_OK_AND_ASSIGN(auto e, ProfileStream(*empty));
  EXPECT_EQ(e.num_rows(), 0);
  EXPECT_EQ(e.columns().size(), 7u);
  EXPECT_EQ(e.column("f")->count(), 0);
  ASSERT_OK_AND_ASSIGN(auto e2, Profile::FromJson(e.ToJson()));
  EXPECT_EQ(e2.ToJson(), e.ToJson());
}

// ---------------------------------------------------------------------------------------------
// Table profiles
// ---------------------------------------------------------------------------------------------

class TableProfileTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = *storage::MakeLocalStore(dir_.path()); }
  Status Append(int64_t start, int64_t n) {
    auto reader = Reader({Rows(start, n, 5)});
    return ops::WriteTable(store_, reader, {}).status();
  }
  testing::TempDir dir_;
  std::shared_ptr<storage::ObjectStore> store_;
};

TEST_F(TableProfileTest, StoredIncrementalAndFull) {
  ASSERT_OK(Append(0, 30000));
  ASSERT_OK_AND_ASSIGN(auto p0, ProfileTable(store_, std::nullopt));
  EXPECT_EQ(p0.version, 0);
  EXPECT_EQ(p0.source, ProfileSource::kFull);
  EXPECT_EQ(p0.profile.num_rows(), 30000);
  ASSERT_OK_AND_ASSIGN(auto stored, ListStoredProfiles(*store_));
  EXPECT_EQ(stored, std::vector<int64_t>{0});

  ASSERT_OK_AND_ASSIGN(auto again, ProfileTable(store_, std::nullopt));
  EXPECT_EQ(again.source, ProfileSource::kStored);
  ExpectSameExactFields(p0.profile, again.profile);

  // Two appends: the stored profile of version 0 is extended with the new files only.
  ASSERT_OK(Append(30000, 10000));
  ASSERT_OK(Append(40000, 5000));
  ASSERT_OK_AND_ASSIGN(auto p2, ProfileTable(store_, std::nullopt));
  EXPECT_EQ(p2.version, 2);
  EXPECT_EQ(p2.source, ProfileSource::kIncremental);
  EXPECT_EQ(p2.base_version, 0);
  EXPECT_EQ(p2.files_scanned, 2);
  EXPECT_EQ(p2.rows_scanned, 15000);
  EXPECT_EQ(p2.profile.table_version(), 2);
  TableProfileOptions fresh;
  fresh.use_stored = false;
  fresh.store = false;
  ASSERT_OK_AND_ASSIGN(auto full2, ProfileTable(store_, std::nullopt, fresh));
  EXPECT_EQ(full2.source, ProfileSource::kFull);
  ExpectSameExactFields(full2.profile, p2.profile);
  for (const char* col : {"f", "i"}) {
    EXPECT_NEAR(*p2.profile.column(col)->distinct() / *full2.profile.column(col)->distinct(), 1.0, 0.03);
    EXPECT_NEAR(*p2.profile.column(col)->Quantile(0.5), *full2.profile.column(col)->Quantile(0.5),
                0.05 * *full2.profile.column(col)->stdev());
  }

  // Time travel reads the stored profile of that version.
  ASSERT_OK_AND_ASSIGN(auto old, ProfileTable(store_, 0));
  EXPECT_EQ(old.source, ProfileSource::kStored);
  EXPECT_EQ(old.profile.num_rows(), 30000);

  // A DELETE is not an append: the next profile is recomputed.
  ASSERT_OK(ops::DeleteRows(store_, "i > 0").status());
  ASSERT_OK_AND_ASSIGN(auto p3, ProfileTable(store_, std::nullopt));
  EXPECT_EQ(p3.version, 3);
  EXPECT_EQ(p3.source, ProfileSource::kFull);
  EXPECT_LE(std::get<int64_t>(p3.profile.column("i")->max()), 0);

  // A column subset reads the stored profile or scans, and stores nothing.
  TableProfileOptions subset;
  subset.profile.columns = {"s", "i"};
  ASSERT_OK_AND_ASSIGN(auto sub, ProfileTable(store_, 2, subset));
  EXPECT_EQ(sub.source, ProfileSource::kStored);
  ASSERT_EQ(sub.profile.columns().size(), 2u);
  EXPECT_EQ(sub.profile.columns()[0].name(), "s");
  ASSERT_OK(Append(45000, 100));
  ASSERT_OK_AND_ASSIGN(auto sub4, ProfileTable(store_, std::nullopt, subset));
  EXPECT_EQ(sub4.source, ProfileSource::kFull);
  ASSERT_OK_AND_ASSIGN(stored, ListStoredProfiles(*store_));
  EXPECT_EQ(stored, (std::vector<int64_t>{0, 2, 3}));
}

TEST_F(TableProfileTest, CorruptStoredProfileIsRecomputed) {
  ASSERT_OK(Append(0, 1000));
  ASSERT_OK(store_->Write(StoredProfilePath(0), "not json"));
  ASSERT_OK_AND_ASSIGN(auto p, ProfileTable(store_, std::nullopt));
  EXPECT_EQ(p.source, ProfileSource::kFull);
  ASSERT_OK_AND_ASSIGN(auto back, ReadStoredProfile(*store_, 0));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->num_rows(), 1000);
}

}  // namespace
}  // namespace strata::quality
