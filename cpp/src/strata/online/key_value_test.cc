// The entity key and row encodings: stability, order-independence, and robustness against
// malformed bytes.

#include <algorithm>
#include <limits>
#include <random>
#include <set>

#include "strata/online/key.h"
#include "strata/online/layout_internal.h"
#include "strata/online/online_test_util.h"
#include "strata/online/value.h"
#include "strata/testing/gtest_util.h"

namespace strata::online {
namespace {

std::string Hex(std::string_view s) { return internal::Printable(s); }

TEST(EntityKey, GoldenBytes) {
  // Stored data depends on these bytes: a change here is a format change.
  EXPECT_EQ(Hex(EncodeEntityKey("id", int64_t{1})), "0x0269640180000000000000" "01");
  EXPECT_EQ(Hex(EncodeEntityKey("id", int64_t{-1})), "0x02696401" "7fffffffffffffff");
  EXPECT_EQ(Hex(EncodeEntityKey("k", "ab")), "0x016b02026162");
  ASSERT_OK_AND_ASSIGN(auto two, EncodeEntityKey(std::vector<JoinKey>{{"b", int64_t{0}}, {"a", std::string("x")}}));
  EXPECT_EQ(Hex(two), "0x01610201780162018000000000000000");
}

TEST(EntityKey, IndependentOfColumnOrder) {
  std::vector<JoinKey> cols = {{"driver_id", int64_t{1001}}, {"city", std::string("Paris")}, {"day", int64_t{-3}}};
  ASSERT_OK_AND_ASSIGN(auto a, EncodeEntityKey(cols));
  std::sort(cols.begin(), cols.end(), [](const JoinKey& x, const JoinKey& y) { return x.name > y.name; });
  ASSERT_OK_AND_ASSIGN(auto b, EncodeEntityKey(cols));
  EXPECT_EQ(a, b);
  ASSERT_OK_AND_ASSIGN(auto enc, EntityKeyEncoder::Make({"day", "driver_id", "city"}));
  std::string c;
  std::vector<JoinKeyValue> values = {int64_t{-3}, int64_t{1001}, std::string("Paris")};
  enc.Encode(values, &c);
  EXPECT_EQ(a, c);
  ASSERT_OK_AND_ASSIGN(auto decoded, DecodeEntityKey(a));
  ASSERT_EQ(decoded.size(), 3u);
  EXPECT_EQ(decoded[0], (JoinKey{"city", std::string("Paris")}));
  EXPECT_EQ(decoded[1], (JoinKey{"day", int64_t{-3}}));
  EXPECT_EQ(decoded[2], (JoinKey{"driver_id", int64_t{1001}}));
}

TEST(EntityKey, DistinguishesNamesTypesAndBoundaries) {
  std::set<std::string> keys = {
      EncodeEntityKey("id", int64_t{1}), EncodeEntityKey("id", "1"), EncodeEntityKey("di", int64_t{1}),
      EncodeEntityKey("id", ""), EncodeEntityKey("i", "d"),
  };
  ASSERT_OK_AND_ASSIGN(auto ab, EncodeEntityKey(std::vector<JoinKey>{{"a", std::string("b")}, {"c", std::string("")}}));
  ASSERT_OK_AND_ASSIGN(auto a_bc, EncodeEntityKey(std::vector<JoinKey>{{"a", std::string("")}, {"bc", std::string("")}}));
  keys.insert(ab);
  keys.insert(a_bc);
  EXPECT_EQ(keys.size(), 7u);
}

TEST(EntityKey, RejectsBadColumns) {
  EXPECT_TRUE(HasCode(EncodeEntityKey(std::vector<JoinKey>{}).status(), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(EncodeEntityKey(std::vector<JoinKey>{{"", int64_t{1}}}).status(), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(EncodeEntityKey(std::vector<JoinKey>{{"a", int64_t{1}}, {"a", int64_t{2}}}).status(),
                      ErrorCode::kInvalidArgument));
  EXPECT_FALSE(EntityKeyEncoder::Make({}).ok());
  EXPECT_FALSE(EntityKeyEncoder::Make({"x", "x"}).ok());
}

TEST(EntityKey, DecodeNeverCrashesOnMalformedBytes) {
  ASSERT_OK_AND_ASSIGN(auto good, EncodeEntityKey(std::vector<JoinKey>{{"a", int64_t{5}}, {"b", std::string("xyz")}}));
  for (size_t n = 0; n < good.size(); ++n) {
    // Cut at the column boundary, the bytes are the one-column key {a: 5}.
    auto r = DecodeEntityKey(good.substr(0, n));
    EXPECT_EQ(r.ok(), good.substr(0, n) == EncodeEntityKey("a", int64_t{5})) << n;
  }
  // Columns out of order, unknown type, overlong varint.
  EXPECT_FALSE(DecodeEntityKey(EncodeEntityKey("b", int64_t{1}) + EncodeEntityKey("a", int64_t{1})).ok());
  EXPECT_FALSE(DecodeEntityKey(std::string("\x01" "a\x09", 3)).ok());
  EXPECT_FALSE(DecodeEntityKey(std::string(11, '\xff')).ok());
  std::mt19937 rng(1);
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 24, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 4 == 0 ? rng() % 4 : rng());
    auto r = DecodeEntityKey(s);
    if (r.ok()) {
      // Whatever decodes re-encodes to the same bytes.
      ASSERT_OK_AND_ASSIGN(auto again, EncodeEntityKey(*r));
      EXPECT_EQ(again, s);
    }
  }
}

std::string Row(RowVersion v, const std::vector<std::string>& names, const std::vector<FeatureValue>& values) {
  std::string out;
  EncodeRow(v, names, values, &out);
  return out;
}

TEST(RowCodec, RoundTrip) {
  std::vector<std::string> names = {"n", "b", "i", "d", "s", "fl"};
  std::vector<FeatureValue> values = {FeatureValue{}, true, int64_t{-77}, 3.25, std::string("h\0i", 3),
                                      std::vector<float>{1.f, 2.5f}};
  std::string bytes = Row({123, 45}, names, values);
  ASSERT_OK_AND_ASSIGN(auto row, DecodeRow(bytes));
  EXPECT_EQ(row.version.event_ts, 123);
  EXPECT_EQ(row.version.created_ts, std::optional<int64_t>(45));
  EXPECT_EQ(row.names, names);
  ASSERT_EQ(row.values.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_TRUE(SameValue(row.values[i], values[i])) << i;
  ASSERT_OK_AND_ASSIGN(auto v, DecodeRowVersion(bytes));
  EXPECT_EQ(v.Compare({123, 45}), 0);
  ASSERT_OK_AND_ASSIGN(row, DecodeRow(Row({-1, std::nullopt}, {}, {})));
  EXPECT_EQ(row.version.event_ts, -1);
  EXPECT_FALSE(row.version.created_ts.has_value());
  EXPECT_TRUE(row.names.empty());
}

TEST(RowCodec, SelectiveDecode) {
  std::string bytes = Row({1, {}}, {"a", "b", "c"}, {int64_t{1}, int64_t{2}, int64_t{3}});
  std::vector<std::string> wanted = {"c", "zz", "a"};
  std::vector<std::optional<FeatureValue>> out(3);
  ASSERT_OK(DecodeRowFeatures(bytes, wanted, out.data()));
  EXPECT_TRUE(SameOptional(out[0], int64_t{3}));
  EXPECT_FALSE(out[1].has_value());
  EXPECT_TRUE(SameOptional(out[2], int64_t{1}));
}

TEST(RowCodec, HeaderSortsLikeTheVersion) {
  // Redis compares versions on the raw header bytes: the byte order must be the version order.
  std::mt19937_64 rng(3);
  const std::vector<int64_t> special = {std::numeric_limits<int64_t>::min() + 1, -1, 0, 1,
                                        std::numeric_limits<int64_t>::max()};
  auto random_ts = [&]() -> int64_t {
    if (rng() % 3 == 0) return special[rng() % special.size()];
    return static_cast<int64_t>(rng()) >> (rng() % 60);
  };
  for (int i = 0; i < 20000; ++i) {
    RowVersion a{random_ts(), rng() % 4 == 0 ? std::nullopt : std::optional<int64_t>(random_ts())};
    RowVersion b{rng() % 2 ? a.event_ts : random_ts(),
                 rng() % 4 == 0 ? std::nullopt : std::optional<int64_t>(random_ts())};
    std::string ha = Row(a, {}, {}).substr(0, kRowHeaderSize);
    std::string hb = Row(b, {}, {}).substr(0, kRowHeaderSize);
    int bytes = ha < hb ? -1 : ha > hb ? 1 : 0;
    ASSERT_EQ(bytes, a.Compare(b)) << a.event_ts << " " << b.event_ts;
  }
}

TEST(RowCodec, MalformedRowsAreErrorsNotCrashes) {
  std::string good = Row({5, 6}, {"s", "fl", "i", "b"},
                         {std::string("hello"), std::vector<float>{1.f, 2.f}, int64_t{9}, true});
  std::vector<std::string> wanted = {"i", "s", "fl", "b"};
  std::vector<std::optional<FeatureValue>> out(wanted.size());
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(DecodeRow(good.substr(0, n)).ok()) << n;
    EXPECT_FALSE(DecodeRowFeatures(good.substr(0, n), wanted, out.data()).ok()) << n;
  }
  EXPECT_FALSE(DecodeRow(good + "x").ok());  // trailing bytes
  std::string bad_version = good;
  bad_version[kRowHeaderSize] = 9;
  EXPECT_FALSE(DecodeRow(bad_version).ok());
  // Random corruption of every byte: decoding either fails or yields some row.
  std::mt19937 rng(5);
  for (int i = 0; i < 50000; ++i) {
    std::string s = good;
    for (int j = 0, n = 1 + static_cast<int>(rng() % 3); j < n; ++j) s[rng() % s.size()] = static_cast<char>(rng());
    (void)DecodeRow(s);
    (void)DecodeRowFeatures(s, wanted, out.data());
  }
  // A huge claimed float list or feature count is rejected before allocating.
  std::string huge = Row({1, {}}, {}, {});
  huge.resize(kRowHeaderSize + 1);
  huge += std::string("\xff\xff\xff\xff\x0f", 5);
  EXPECT_FALSE(DecodeRow(huge).ok());
}

TEST(Varint, EdgeCases) {
  for (uint64_t v : {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{1} << 35,
                     std::numeric_limits<uint64_t>::max()}) {
    std::string s;
    internal::PutVarint(v, &s);
    std::string_view in = s;
    uint64_t got = 0;
    ASSERT_TRUE(internal::GetVarint(&in, &got));
    EXPECT_EQ(got, v);
    EXPECT_TRUE(in.empty());
  }
  std::string_view overlong("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
  uint64_t v;
  EXPECT_FALSE(internal::GetVarint(&overlong, &v));
  std::string_view non_minimal("\x80\x00", 2);
  EXPECT_FALSE(internal::GetVarint(&non_minimal, &v));
  std::string_view truncated("\x80", 1);
  EXPECT_FALSE(internal::GetVarint(&truncated, &v));
}

}  // namespace
}  // namespace strata::online
