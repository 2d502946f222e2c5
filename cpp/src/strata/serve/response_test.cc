// The response renderer: Feast's shape, exact doubles, timestamps and escaping.

#include "strata/serve/response.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>

#include <gtest/gtest.h>

namespace strata::serve {
namespace {

using online::FeatureStatus;
using online::FeatureValue;

std::string Str(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

std::string Dbl(double d) {
  std::string out;
  AppendJsonDouble(d, &out);
  return out;
}

std::string Ts(int64_t us) {
  std::string out;
  AppendIsoTimestamp(us, &out);
  return out;
}

TEST(Response, FeastShape) {
  features::OnlineResponse r;
  r.num_rows = 2;
  r.num_entity_columns = 1;
  r.feature_names = {"driver_id", "conv_rate"};
  features::OnlineResponse::Column id;
  id.values = {FeatureValue(int64_t{1001}), FeatureValue(int64_t{1002})};
  id.statuses = {FeatureStatus::kPresent, FeatureStatus::kPresent};
  id.event_ts_us = {0, 0};
  features::OnlineResponse::Column conv;
  conv.values = {FeatureValue(0.5), std::nullopt};
  conv.statuses = {FeatureStatus::kPresent, FeatureStatus::kOutsideMaxAge};
  conv.event_ts_us = {1767225600000000, 1767225600123456};
  r.columns = {id, conv};
  std::string out;
  RenderOnlineResponse(r, &out);
  EXPECT_EQ(out,
            R"({"metadata":{"feature_names":["driver_id","conv_rate"]},"results":[)"
            R"({"values":[1001,1002],"statuses":["PRESENT","PRESENT"],)"
            R"("event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},)"
            R"({"values":[0.5,null],"statuses":["PRESENT","OUTSIDE_MAX_AGE"],)"
            R"("event_timestamps":["2026-01-01T00:00:00Z","2026-01-01T00:00:00.123456Z"]}]})");
}

TEST(Response, Values) {
  std::string out;
  AppendJsonValue(FeatureValue{}, &out);
  AppendJsonValue(FeatureValue(true), &out);
  AppendJsonValue(FeatureValue(INT64_MIN), &out);
  AppendJsonValue(FeatureValue(std::vector<float>{1.0f, 0.1f, std::nanf("")}), &out);
  EXPECT_EQ(out, "nulltrue-9223372036854775808[1.0,0.1,null]");
  EXPECT_EQ(Dbl(2.0), "2.0");
  EXPECT_EQ(Dbl(-0.0), "-0.0");
  EXPECT_EQ(Dbl(1e300), "1e+300");
  EXPECT_EQ(Dbl(std::nan("")), "null");
  EXPECT_EQ(Dbl(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(Dbl(-std::numeric_limits<double>::infinity()), "null");
}

TEST(Response, DoublesRoundTrip) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    if (!std::isfinite(d)) continue;
    std::string s = Dbl(d);
    double back = std::strtod(s.c_str(), nullptr);
    ASSERT_EQ(std::memcmp(&back, &d, sizeof(d)), 0) << s;
  }
}

TEST(Response, Strings) {
  EXPECT_EQ(Str("plain"), "\"plain\"");
  EXPECT_EQ(Str("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\u0001")");
  EXPECT_EQ(Str("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(Str("bad\xff"), R"("bad\ufffd")");
  EXPECT_EQ(Str("\xc0\xaf"), R"("\ufffd\ufffd")");         // overlong
  EXPECT_EQ(Str("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a surrogate
  EXPECT_EQ(Str("\xe2\x82"), R"("\ufffd\ufffd")");          // truncated
  EXPECT_EQ(Str(std::string("a\0b", 3)), R"("a\u0000b")");
  EXPECT_EQ(RenderError("bad \"x\""), R"({"error":"bad \"x\""})");
}

TEST(Response, Timestamps) {
  EXPECT_EQ(Ts(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(Ts(1), "1970-01-01T00:00:00.000001Z");
  EXPECT_EQ(Ts(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(Ts(951782400LL * 1000000), "2000-02-29T00:00:00Z");
  EXPECT_EQ(Ts(253402300799LL * 1000000), "9999-12-31T23:59:59Z");
  EXPECT_EQ(Ts(-62135596800LL * 1000000), "0001-01-01T00:00:00Z");
  // Extremes do not crash.
  EXPECT_FALSE(Ts(INT64_MIN).empty());
  EXPECT_FALSE(Ts(INT64_MAX).empty());
}

TEST(Response, ManyTimestampsRenderAlike) {
  // The renderer caches formatted timestamps; every one must still come out as formatted alone.
  std::mt19937_64 rng(3);
  features::OnlineResponse r;
  r.num_rows = 2000;
  r.feature_names = {"x"};
  features::OnlineResponse::Column c;
  std::string want = R"({"metadata":{"feature_names":["x"]},"results":[{"values":[)";
  for (size_t i = 0; i < r.num_rows; ++i) {
    c.values.emplace_back(std::nullopt);
    c.statuses.push_back(FeatureStatus::kNotFound);
    int64_t ts = static_cast<int64_t>(rng() % 4) == 0 ? static_cast<int64_t>(rng())
                                                      : 1767225600000000 + static_cast<int64_t>(rng() % 1000);
    c.event_ts_us.push_back(ts);
    want += i ? ",null" : "null";
  }
  want += R"(],"statuses":[)";
  for (size_t i = 0; i < r.num_rows; ++i) want += i ? ",\"NOT_FOUND\"" : "\"NOT_FOUND\"";
  want += R"(],"event_timestamps":[)";
  for (size_t i = 0; i < r.num_rows; ++i) want += (i ? ",\"" : "\"") + Ts(c.event_ts_us[i]) + "\"";
  want += "]}]}";
  r.columns = {c};
  std::string out;
  RenderOnlineResponse(r, &out);
  EXPECT_EQ(out, want);
}

}  // namespace
}  // namespace strata::serve
