/// libFuzzer harness for the feature server's request path: arbitrary bytes as a
/// `POST /get-online-features` body go through the parser, then (when they parse) through online
/// retrieval against a small RocksDB store, and the answer is rendered. Nothing may crash; every
/// rejection must be a request error (never a store error), and the rendered JSON, error or
/// response, must be valid JSON. The string escaper gets the raw bytes too: its output must parse
/// and, for valid UTF-8, give back the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "strata/features/online_serving.h"
#include "strata/online/rocksdb_store.h"
#include "strata/serve/request.h"
#include "strata/serve/response.h"

namespace {

using namespace strata;

features::Field F(std::string name, features::FeatureType type) { return {std::move(name), type, ""}; }

std::shared_ptr<const features::OnlineServing> MakeServing() {
  auto repo = std::make_shared<features::Repository>();
  repo->project = "fuzz";
  repo->entities = {features::Entity{"customer", {F("customer_id", features::FeatureType::kString)}, "", {}},
                    features::Entity{"driver", {F("driver_id", features::FeatureType::kInt64)}, "", {}}};
  features::FeatureView v;
  v.name = "driver_stats";
  v.entities = {"driver"};
  v.source = "s";
  v.ttl_us = 3600LL * 1000000;
  v.features = {F("conv_rate", features::FeatureType::kFloat64), F("trips", features::FeatureType::kInt64),
                F("name", features::FeatureType::kString), F("vec", features::FeatureType::kFloatList)};
  features::FeatureView c;
  c.name = "customer_profile";
  c.entities = {"customer"};
  c.source = "s";
  c.features = {F("age", features::FeatureType::kInt32)};
  repo->feature_views = {c, v};
  features::OnDemandFeatureView od;
  od.name = "adjusted";
  od.sources = {"driver_stats"};
  od.request = {F("bonus", features::FeatureType::kFloat64)};
  od.features = {features::OnDemandFeature{"score", features::FeatureType::kFloat64, "conv_rate * 2 + bonus"},
                 features::OnDemandFeature{"ratio", features::FeatureType::kInt32, "trips / bonus"}};
  repo->on_demand_views = {od};
  repo->feature_services = {features::FeatureService{"svc", {"driver_stats", "adjusted:score"}, "", "", {}}};

  static std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strata-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    return tmpl;
  }();
  online::RocksDbOptions o;
  o.path = dir + "/online";
  auto store = online::OpenRocksDbStore(o);
  if (!store.ok()) std::abort();
  online::RowBatch b;
  b.feature_names = {"conv_rate", "trips", "name", "vec"};
  const int64_t now = 1767225600LL * 1000000;
  for (int64_t id = 0; id < 8; ++id) {
    b.rows.push_back(online::OnlineRow{online::EncodeEntityKey("driver_id", id), now - id * 1000000000LL, {},
                                       {0.5 * static_cast<double>(id), id - 3, std::string("n\xff") + std::to_string(id),
                                        std::vector<float>{1.0f, static_cast<float>(id)}}});
  }
  if (!(*store)->WriteBatch("driver_stats", b).ok()) std::abort();
  auto serving = features::OnlineServing::Make(repo, std::shared_ptr<online::OnlineStore>(std::move(*store)));
  if (!serving.ok()) std::abort();
  return std::move(*serving);
}

void CheckJson(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (doc.HasParseError()) std::abort();
}

bool ValidUtf8(std::string_view s) {
  rapidjson::Document doc;
  std::string quoted = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == '"' || c == '\\') return false;  // keep the check to UTF-8 validity
    quoted.push_back(ch);
  }
  quoted.push_back('"');
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(quoted.data(), quoted.size());
  return !doc.HasParseError();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const features::OnlineServing> serving = MakeServing();
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // The escaper: always valid JSON; exact for valid UTF-8 text.
  std::string escaped;
  serve::AppendJsonString(bytes, &escaped);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(escaped.data(), escaped.size());
  if (doc.HasParseError() || !doc.IsString()) std::abort();
  if (ValidUtf8(bytes) && std::string_view(doc.GetString(), doc.GetStringLength()) != bytes) std::abort();

  auto request = serve::ParseOnlineRequest(bytes);
  if (!request.ok()) {
    if (!HasCode(request.status(), ErrorCode::kInvalidArgument)) std::abort();
    CheckJson(serve::RenderError(request.status().message()));
    return 0;
  }
  request->now_us = 1767225600LL * 1000000;
  auto response = serving->Get(*request);
  if (!response.ok()) {
    if (!features::IsRequestError(response.status())) std::abort();
    CheckJson(serve::RenderError(response.status().message()));
    return 0;
  }
  std::string out;
  serve::RenderOnlineResponse(*response, &out);
  CheckJson(out);
  return 0;
}
