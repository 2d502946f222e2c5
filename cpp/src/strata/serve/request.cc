// Request bodies are parsed with RapidJSON's SAX reader into a small tree (JsonNode), not with
// simdjson: the pyarrow wheel's libparquet exports its own simdjson's symbols, which interpose on
// Debian's libsimdjson at run time and crash (table/json_util.h tells the same story). Numbers
// arrive as text and are converted with std::from_chars, which is exact; RapidJSON's own
// full-precision strtod reads out of bounds on long fractions (found by
// cpp/fuzz/fuzz_online_request.cc), and its default one may be off by an ulp.

#include "strata/serve/request.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace strata::serve {

namespace {

using features::OnlineRequest;
using online::FeatureValue;
using online::JoinKeyValue;

/// Deeper requests are rejected (Feast's shape nests four levels); it also bounds the recursion
/// of JsonNode's destructor.
constexpr int kMaxDepth = 32;

struct JsonNode {
  enum class Kind { kNull, kBool, kInt, kBigInt, kDouble, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string s;                  // strings
  std::vector<JsonNode> items;    // array elements, object values
  std::vector<std::string> keys;  // object keys, parallel to items
};

/// Builds a JsonNode tree from RapidJSON's SAX events.
class TreeBuilder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TreeBuilder> {
 public:
  JsonNode root;
  std::string error;  // set when a handler stops the parse

  bool Null() { return Add(JsonNode{}); }
  bool Bool(bool b) {
    JsonNode n;
    n.kind = JsonNode::Kind::kBool;
    n.b = b;
    return Add(std::move(n));
  }
  bool RawNumber(const char* str, rapidjson::SizeType len, bool) {
    JsonNode n;
    std::string_view text(str, len);
    const char* end = str + len;
    if (text.find_first_of(".eE") == std::string_view::npos) {
      auto r = std::from_chars(str, end, n.i);
      if (r.ec == std::errc() && r.ptr == end) {
        n.kind = JsonNode::Kind::kInt;
        return Add(std::move(n));
      }
      if (r.ec == std::errc::result_out_of_range) {
        n.kind = JsonNode::Kind::kBigInt;
        return Add(std::move(n));
      }
    }
    auto r = std::from_chars(str, end, n.d);
    if (r.ec == std::errc::result_out_of_range) {
      // Underflow reads as zero (or a subnormal); overflow has no double. strtod tells them apart
      // (the process keeps the C locale's '.').
      n.d = std::strtod(std::string(text).c_str(), nullptr);
      if (std::isinf(n.d)) return Fail("number " + std::string(text.substr(0, 40)) + " is out of range");
    } else if (r.ec != std::errc() || r.ptr != end) {
      return Fail("bad number " + std::string(text.substr(0, 40)));
    }
    n.kind = JsonNode::Kind::kDouble;
    return Add(std::move(n));
  }
  bool String(const char* str, rapidjson::SizeType len, bool) {
    JsonNode n;
    n.kind = JsonNode::Kind::kString;
    n.s.assign(str, len);
    return Add(std::move(n));
  }
  bool Key(const char* str, rapidjson::SizeType len, bool) {
    key_.assign(str, len);
    return true;
  }
  bool StartObject() { return Open(JsonNode::Kind::kObject); }
  bool EndObject(rapidjson::SizeType) { return Close(); }
  bool StartArray() { return Open(JsonNode::Kind::kArray); }
  bool EndArray(rapidjson::SizeType) { return Close(); }

 private:
  bool Fail(std::string message) {
    error = std::move(message);
    return false;
  }
  bool Add(JsonNode n) {
    if (stack_.empty()) {
      root = std::move(n);
      return true;
    }
    JsonNode* top = stack_.back();
    if (top->kind == JsonNode::Kind::kObject) top->keys.push_back(std::move(key_));
    top->items.push_back(std::move(n));
    return true;
  }
  bool Open(JsonNode::Kind kind) {
    if (static_cast<int>(stack_.size()) >= kMaxDepth) {
      return Fail("nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    JsonNode n;
    n.kind = kind;
    // A container is added to its parent when opened; the parent does not grow while it is open,
    // so the pointer stays valid.
    if (stack_.empty()) {
      root = std::move(n);
      stack_.push_back(&root);
    } else {
      Add(std::move(n));
      stack_.push_back(&stack_.back()->items.back());
    }
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  std::vector<JsonNode*> stack_;
  std::string key_;
};

Status Bad(std::string msg) { return MakeError(ErrorCode::kInvalidArgument, std::move(msg)); }

const char* Kind(const JsonNode& v) {
  switch (v.kind) {
    case JsonNode::Kind::kArray: return "a list";
    case JsonNode::Kind::kObject: return "an object";
    case JsonNode::Kind::kInt:
    case JsonNode::Kind::kBigInt: return "an integer";
    case JsonNode::Kind::kDouble: return "a number";
    case JsonNode::Kind::kString: return "a string";
    case JsonNode::Kind::kBool: return "a boolean";
    case JsonNode::Kind::kNull: return "null";
  }
  return "null";
}

/// `name` quoted for a message, cut when long (names come from the client).
std::string Quote(std::string_view name) {
  std::string out = "'";
  if (name.size() > 80) {
    out.append(name.substr(0, 80)).append("...");
  } else {
    out.append(name);
  }
  return out + "'";
}

Result<FeatureValue> ToValue(const JsonNode& e, const std::string& where) {
  switch (e.kind) {
    case JsonNode::Kind::kNull: return FeatureValue{};
    case JsonNode::Kind::kBool: return FeatureValue(e.b);
    case JsonNode::Kind::kInt: return FeatureValue(e.i);
    case JsonNode::Kind::kBigInt: return Bad(where + " is out of the int64 range");
    case JsonNode::Kind::kDouble: return FeatureValue(e.d);
    case JsonNode::Kind::kString: return FeatureValue(e.s);
    case JsonNode::Kind::kArray: {
      std::vector<float> out;
      out.reserve(e.items.size());
      for (size_t i = 0; i < e.items.size(); ++i) {
        const JsonNode& x = e.items[i];
        if (x.kind == JsonNode::Kind::kInt) {
          out.push_back(static_cast<float>(x.i));
        } else if (x.kind == JsonNode::Kind::kDouble) {
          out.push_back(static_cast<float>(x.d));
        } else {
          return Bad(where + "[" + std::to_string(i) + "] is " + Kind(x) +
                     "; a list value must hold numbers only");
        }
      }
      return FeatureValue(std::move(out));
    }
    case JsonNode::Kind::kObject: break;
  }
  return Bad(where + " is an object; expected a value");
}

Status CheckRows(size_t n, const std::string& where) {
  if (n > kMaxEntityRows) {
    return Bad(where + " has " + std::to_string(n) + " values; at most " +
               std::to_string(kMaxEntityRows) + " entity rows per request");
  }
  return Status::OK();
}

Result<std::vector<FeatureValue>> ToValues(const JsonNode& arr, const std::string& what) {
  std::vector<FeatureValue> values;
  values.reserve(arr.items.size());
  for (size_t i = 0; i < arr.items.size(); ++i) {
    auto v = ToValue(arr.items[i], what + " value " + std::to_string(i));
    if (!v.ok()) return v.status();
    values.push_back(std::move(*v));
  }
  return values;
}

/// "entities": {name: [values]}.
/// Moves string values out of `e` (the tree is thrown away after parsing).
Status ParseEntities(JsonNode& e, OnlineRequest* out) {
  if (e.kind != JsonNode::Kind::kObject) {
    return Bad(std::string("'entities' must be an object of lists, got ") + Kind(e));
  }
  std::set<std::string_view> seen;
  for (size_t k = 0; k < e.items.size(); ++k) {
    std::string name = e.keys[k];
    if (!seen.insert(e.keys[k]).second) return Bad("entity " + Quote(name) + " given twice");
    JsonNode& arr = e.items[k];
    if (arr.kind != JsonNode::Kind::kArray) {
      return Bad("entity " + Quote(name) + " must be a list of values, got " + Kind(arr));
    }
    ARROW_RETURN_NOT_OK(CheckRows(arr.items.size(), "entity " + Quote(name)));
    bool all_int = true, all_string = true;
    for (const auto& x : arr.items) {
      all_int &= x.kind == JsonNode::Kind::kInt;
      all_string &= x.kind == JsonNode::Kind::kString;
    }
    if (arr.items.empty()) {
      // Kept as an entity column so that retrieval's error names it.
      out->entities.emplace_back(std::move(name), std::vector<JoinKeyValue>{});
    } else if (all_int || all_string) {
      std::vector<JoinKeyValue> values;
      values.reserve(arr.items.size());
      for (auto& x : arr.items) {
        if (all_int) {
          values.emplace_back(x.i);
        } else {
          values.emplace_back(std::move(x.s));
        }
      }
      out->entities.emplace_back(std::move(name), std::move(values));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto values, ToValues(arr, "entity " + Quote(name)));
      out->request_data.emplace_back(std::move(name), std::move(values));
    }
  }
  return Status::OK();
}

Status ParseRequestData(const JsonNode& e, const char* key, OnlineRequest* out) {
  if (e.kind != JsonNode::Kind::kObject) {
    return Bad(std::string("'") + key + "' must be an object of lists, got " + Kind(e));
  }
  std::set<std::string_view> seen;
  for (size_t k = 0; k < e.items.size(); ++k) {
    std::string name = e.keys[k];
    if (!seen.insert(e.keys[k]).second) return Bad("request data " + Quote(name) + " given twice");
    const JsonNode& arr = e.items[k];
    if (arr.kind != JsonNode::Kind::kArray) {
      return Bad("request data " + Quote(name) + " must be a list of values, got " + Kind(arr));
    }
    ARROW_RETURN_NOT_OK(CheckRows(arr.items.size(), "request data " + Quote(name)));
    ARROW_ASSIGN_OR_RAISE(auto values, ToValues(arr, "request data " + Quote(name)));
    out->request_data.emplace_back(std::move(name), std::move(values));
  }
  return Status::OK();
}

}  // namespace

Result<features::OnlineRequest> ParseOnlineRequest(std::string_view body) {
  // Iterative (no recursion on deep nesting), strict UTF-8, numbers as text (see the top).
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseNumbersAsStringsFlag;
  TreeBuilder tree;
  rapidjson::Reader reader;
  rapidjson::MemoryStream stream(body.data(), body.size());
  rapidjson::ParseResult ok = reader.Parse<kFlags>(stream, tree);
  if (!ok) {
    std::string why = !tree.error.empty() ? tree.error : rapidjson::GetParseError_En(ok.Code());
    return Bad("malformed JSON: " + why + " at offset " + std::to_string(ok.Offset()));
  }
  JsonNode& doc = tree.root;
  if (doc.kind != JsonNode::Kind::kObject) {
    return Bad(std::string("the request body must be a JSON object, got ") + Kind(doc));
  }
  OnlineRequest out;
  std::set<std::string_view> seen;
  bool have_request_data = false;
  for (size_t k = 0; k < doc.items.size(); ++k) {
    const std::string_view key = doc.keys[k];
    if (!seen.insert(key).second) return Bad("field " + Quote(key) + " given twice");
    JsonNode& v = doc.items[k];
    if (key == "features") {
      if (v.kind != JsonNode::Kind::kArray) {
        return Bad(std::string("'features' must be a list of strings, got ") + Kind(v));
      }
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (v.items[i].kind != JsonNode::Kind::kString) {
          return Bad("'features'[" + std::to_string(i) + "] must be a string like \"view:feature\", got " +
                     Kind(v.items[i]));
        }
        if (v.items[i].s.empty()) return Bad("'features'[" + std::to_string(i) + "] is empty");
        out.features.push_back(std::move(v.items[i].s));
      }
      if (out.features.empty()) return Bad("'features' is empty");
    } else if (key == "feature_service") {
      if (v.kind != JsonNode::Kind::kString) {
        return Bad(std::string("'feature_service' must be a string, got ") + Kind(v));
      }
      if (v.s.empty()) return Bad("'feature_service' is empty");
      out.feature_service = std::move(v.s);
    } else if (key == "entities") {
      ARROW_RETURN_NOT_OK(ParseEntities(v, &out));
    } else if (key == "request_data" || key == "request_context") {
      if (have_request_data) return Bad("give either 'request_data' or 'request_context', not both");
      have_request_data = true;
      ARROW_RETURN_NOT_OK(ParseRequestData(v, key == "request_data" ? "request_data" : "request_context", &out));
    } else if (key == "full_feature_names") {
      if (v.kind != JsonNode::Kind::kBool) {
        return Bad(std::string("'full_feature_names' must be true or false, got ") + Kind(v));
      }
      out.full_feature_names = v.b;
    } else {
      return Bad("unknown field " + Quote(key) +
                 " (expected features, feature_service, entities, request_data, full_feature_names)");
    }
  }
  return out;
}

}  // namespace strata::serve
