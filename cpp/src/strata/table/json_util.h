// Internal: reading JSON with RapidJSON (header-only). simdjson was the first choice, but the
// pyarrow wheel's libarrow/libparquet export their own simdjson symbols, which interpose on
// Debian's libsimdjson at run time and crash; RapidJSON compiles into our code and cannot clash
// (Arrow's vendored copy lives in its own namespace).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace strata::table::internal {

using JsonValue = rapidjson::Value;
using JsonDocument = rapidjson::Document;

/// Parses `text`; false on a syntax error (message in `error` when given).
inline bool ParseJson(JsonDocument* doc, std::string_view text, std::string* error = nullptr) {
  doc->Parse<rapidjson::kParseNanAndInfFlag | rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
  if (doc->HasParseError()) {
    if (error) {
      *error = std::string(rapidjson::GetParseError_En(doc->GetParseError())) + " at offset " +
               std::to_string(doc->GetErrorOffset());
    }
    return false;
  }
  return true;
}

inline std::string_view View(const JsonValue& v) { return {v.GetString(), v.GetStringLength()}; }

/// A member of an object, or null when absent, JSON null, or `obj` is not an object.
inline const JsonValue* Field(const JsonValue& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(rapidjson::Value(rapidjson::StringRef(key.data(), key.size())));
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

inline std::optional<std::string> OptString(const JsonValue& obj, std::string_view key) {
  auto* e = Field(obj, key);
  if (!e || !e->IsString()) return std::nullopt;
  return std::string(View(*e));
}

inline std::optional<int64_t> AsInt(const JsonValue& e) {
  if (e.IsInt64()) return e.GetInt64();
  if (e.IsUint64()) return static_cast<int64_t>(e.GetUint64());
  if (e.IsDouble()) return static_cast<int64_t>(e.GetDouble());
  if (e.IsString()) {  // some writers put numbers in strings
    try {
      size_t used = 0;
      std::string s(View(e));
      int64_t v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (...) {
    }
  }
  return std::nullopt;
}

inline std::optional<int64_t> OptInt(const JsonValue& obj, std::string_view key) {
  auto* e = Field(obj, key);
  if (!e) return std::nullopt;
  return AsInt(*e);
}

inline std::optional<bool> OptBool(const JsonValue& obj, std::string_view key) {
  auto* e = Field(obj, key);
  if (!e || !e->IsBool()) return std::nullopt;
  return e->GetBool();
}

/// Compact JSON text of a value.
inline std::string Minify(const JsonValue& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                    rapidjson::kWriteNanAndInfFlag>
      w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace strata::table::internal
