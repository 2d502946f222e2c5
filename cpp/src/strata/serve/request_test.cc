// The request parser: Feast's shapes, and an error naming the problem for every malformed input.

#include "strata/serve/request.h"

#include <gtest/gtest.h>

#include "strata/testing/gtest_util.h"

namespace strata::serve {
namespace {

using online::FeatureValue;
using online::JoinKeyValue;

TEST(ParseOnlineRequest, FeastShape) {
  ASSERT_OK_AND_ASSIGN(auto r, ParseOnlineRequest(R"({
      "features": ["driver_stats:conv_rate", "driver_stats:trips"],
      "entities": {"driver_id": [1001, 1002], "customer_id": ["a", "b"]},
      "full_feature_names": true})"));
  EXPECT_EQ(r.features, (std::vector<std::string>{"driver_stats:conv_rate", "driver_stats:trips"}));
  EXPECT_TRUE(r.feature_service.empty());
  EXPECT_TRUE(r.full_feature_names);
  ASSERT_EQ(r.entities.size(), 2u);
  EXPECT_EQ(r.entities[0].first, "driver_id");
  EXPECT_EQ(r.entities[0].second, (std::vector<JoinKeyValue>{int64_t{1001}, int64_t{1002}}));
  EXPECT_EQ(r.entities[1].second, (std::vector<JoinKeyValue>{std::string("a"), std::string("b")}));
  EXPECT_FALSE(r.now_us.has_value());
}

TEST(ParseOnlineRequest, ServiceAndRequestData) {
  ASSERT_OK_AND_ASSIGN(auto r, ParseOnlineRequest(R"({"feature_service": "eta",
      "entities": {"driver_id": [-9223372036854775808], "bonus": [1.5], "flag": [true],
                   "vec": [[1, 2.5]], "maybe": [null]},
      "request_context": {"x": ["s"]}})"));
  EXPECT_EQ(r.feature_service, "eta");
  ASSERT_EQ(r.entities.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(r.entities[0].second[0]), INT64_MIN);
  ASSERT_EQ(r.request_data.size(), 5u);
  EXPECT_EQ(r.request_data[0].first, "bonus");
  EXPECT_EQ(std::get<double>(r.request_data[0].second[0]), 1.5);
  EXPECT_EQ(std::get<bool>(r.request_data[1].second[0]), true);
  EXPECT_EQ(std::get<std::vector<float>>(r.request_data[2].second[0]),
            (std::vector<float>{1.0f, 2.5f}));
  EXPECT_EQ(online::TypeOf(r.request_data[3].second[0]), online::ValueType::kNull);
  EXPECT_EQ(r.request_data[4].first, "x");
  EXPECT_EQ(std::get<std::string>(r.request_data[4].second[0]), "s");
  // Mixed integers and numbers: request data, not a key column.
  ASSERT_OK_AND_ASSIGN(r, ParseOnlineRequest(R"({"features": ["a:b"], "entities": {"v": [1, 2.0]}})"));
  EXPECT_TRUE(r.entities.empty());
  ASSERT_EQ(r.request_data.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(r.request_data[0].second[0]), 1);
}

TEST(ParseOnlineRequest, NumbersAreExact) {
  std::string tiny = "0." + std::string(400, '0') + "1";
  std::string body = R"({"request_data": {"x": [0.1, 1e-400, -2.5e3, 123456789012345678, 1.7976931348623157e308, )" +
                     tiny + ", 0." + std::string(5000, '0') + R"(]}})";
  ASSERT_OK_AND_ASSIGN(auto r, ParseOnlineRequest(body));
  const auto& v = r.request_data[0].second;
  EXPECT_EQ(std::get<double>(v[0]), 0.1);
  EXPECT_EQ(std::get<double>(v[1]), 0.0);
  EXPECT_EQ(std::get<double>(v[2]), -2500.0);
  EXPECT_EQ(std::get<int64_t>(v[3]), 123456789012345678);
  EXPECT_EQ(std::get<double>(v[4]), 1.7976931348623157e308);
  EXPECT_EQ(std::get<double>(v[5]), 0.0);
  EXPECT_EQ(std::get<double>(v[6]), 0.0);
}

void ExpectError(std::string_view body, const std::string& needle) {
  auto r = ParseOnlineRequest(body);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_TRUE(HasCode(r.status(), ErrorCode::kInvalidArgument)) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << "body: " << body << "\nmessage: " << r.status().message();
}

TEST(ParseOnlineRequest, MalformedInputsNameTheProblem) {
  ExpectError("", "malformed JSON");
  ExpectError("{", "malformed JSON");
  ExpectError(R"({"features": ["a:b"],})", "malformed JSON");
  ExpectError("[1, 2]", "must be a JSON object, got a list");
  ExpectError("42", "must be a JSON object");
  ExpectError(R"({"features": "a:b"})", "'features' must be a list of strings, got a string");
  ExpectError(R"({"features": [1]})", "'features'[0] must be a string");
  ExpectError(R"({"features": []})", "'features' is empty");
  ExpectError(R"({"features": [""]})", "'features'[0] is empty");
  ExpectError(R"({"feature_service": 3})", "'feature_service' must be a string");
  ExpectError(R"({"features": ["a:b"], "entities": [1]})", "'entities' must be an object");
  ExpectError(R"({"features": ["a:b"], "entities": {"id": 1}})", "entity 'id' must be a list");
  ExpectError(R"({"features": ["a:b"], "entities": {"id": [{"x": 1}]}})", "is an object");
  ExpectError(R"({"features": ["a:b"], "entities": {"id": [18446744073709551615]}})",
              "out of the int64 range");
  ExpectError(R"({"features": ["a:b"], "entities": {"id": [1], "id": [2]}})",
              "entity 'id' given twice");
  ExpectError(R"({"features": ["a:b"], "features": ["a:c"]})", "field 'features' given twice");
  ExpectError(R"({"features": ["a:b"], "entity": {}})", "unknown field 'entity'");
  ExpectError(R"({"features": ["a:b"], "full_feature_names": "yes"})",
              "'full_feature_names' must be true or false");
  ExpectError(R"({"request_data": {}, "request_context": {}})", "not both");
  ExpectError(R"({"request_data": {"x": [["a"]]}})", "must hold numbers only");
  ExpectError(R"({"request_data": {"x": 1}})", "request data 'x' must be a list");
  ExpectError("{\"features\": [\"a\xff\"]}", "malformed JSON");  // not UTF-8
  std::string deep(5000, '[');
  ExpectError(deep, "nested deeper than 32 levels");
  ExpectError(R"({"request_data": {"x": [1e400]}})", "Number too big");
  ExpectError(R"({"request_data": {"x": [-99999999999999999999]}})", "out of the int64 range");
  std::string many = R"({"entities": {"id": [)";
  for (size_t i = 0; i <= kMaxEntityRows; ++i) many += i ? ",1" : "1";
  many += "]}}";
  ExpectError(many, "at most 100000 entity rows");
}

}  // namespace
}  // namespace strata::serve
