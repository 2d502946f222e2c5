/// \file
/// A minimal JSON builder for the commit path (actions, commitInfo, stats). Parsing uses
/// RapidJSON; this keeps writing free of its allocator/handler plumbing at every call site.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace strata {

/// Appends `s` to `out` as a JSON string literal (quotes included, UTF-8 passed through).
void AppendJsonString(std::string* out, std::string_view s);

/// Builds one JSON value. Commas between members/elements are inserted automatically.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view v);
  JsonWriter& Int(int64_t v);
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  /// Inserts already-serialized JSON as a value.
  JsonWriter& Raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  void Separator();
  std::string out_;
  bool need_comma_ = false;
};

}  // namespace strata
