#include "strata/common/json_writer.h"

#include <cmath>
#include <cstdio>

namespace strata {

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void JsonWriter::Separator() {
  if (need_comma_) out_.push_back(',');
}

JsonWriter& JsonWriter::BeginObject() {
  Separator();
  out_.push_back('{');
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::EndObject() {
  out_.push_back('}');
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::BeginArray() {
  Separator();
  out_.push_back('[');
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::EndArray() {
  out_.push_back(']');
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::Key(std::string_view key) {
  Separator();
  AppendJsonString(&out_, key);
  out_.push_back(':');
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::String(std::string_view v) {
  Separator();
  AppendJsonString(&out_, v);
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::Int(int64_t v) {
  Separator();
  out_.append(std::to_string(v));
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::Double(double v) {
  Separator();
  if (std::isnan(v)) {
    out_.append("\"NaN\"");
  } else if (std::isinf(v)) {
    out_.append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    out_.append(buf);
  }
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::Bool(bool v) {
  Separator();
  out_.append(v ? "true" : "false");
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::Null() {
  Separator();
  out_.append("null");
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::Raw(std::string_view json) {
  Separator();
  out_.append(json);
  need_comma_ = true;
  return *this;
}

}  // namespace strata
