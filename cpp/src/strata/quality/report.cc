#include "strata/quality/report.h"

#include <cmath>
#include <cstdio>

#include <arrow/api.h>

#include "strata/common/json_writer.h"

namespace strata::quality {

namespace {

std::string Hex(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

/// "2026-01-02 03:04:05.000000Z" (Arrow's rendering) as ISO-8601 "2026-01-02T03:04:05.000000Z".
std::string IsoTemporal(const arrow::Scalar& s) {
  std::string text = s.ToString();
  if (s.type->id() == arrow::Type::TIMESTAMP || s.type->id() == arrow::Type::DATE64) {
    auto sp = text.find(' ');
    if (sp != std::string::npos && sp == 10) text[sp] = 'T';
  }
  return text;
}

}  // namespace

Value ScalarToValue(const arrow::Scalar& s) {
  if (!s.is_valid) return Value();
  switch (s.type->id()) {
    case arrow::Type::BOOL: return Value::Bool(static_cast<const arrow::BooleanScalar&>(s).value);
    case arrow::Type::INT8: return Value::Int(static_cast<const arrow::Int8Scalar&>(s).value);
    case arrow::Type::INT16: return Value::Int(static_cast<const arrow::Int16Scalar&>(s).value);
    case arrow::Type::INT32: return Value::Int(static_cast<const arrow::Int32Scalar&>(s).value);
    case arrow::Type::INT64: return Value::Int(static_cast<const arrow::Int64Scalar&>(s).value);
    case arrow::Type::UINT8: return Value::Int(static_cast<const arrow::UInt8Scalar&>(s).value);
    case arrow::Type::UINT16: return Value::Int(static_cast<const arrow::UInt16Scalar&>(s).value);
    case arrow::Type::UINT32: return Value::Int(static_cast<const arrow::UInt32Scalar&>(s).value);
    case arrow::Type::UINT64: {
      uint64_t v = static_cast<const arrow::UInt64Scalar&>(s).value;
      return v <= static_cast<uint64_t>(INT64_MAX) ? Value::Int(static_cast<int64_t>(v)) : Value::Double(static_cast<double>(v));
    }
    case arrow::Type::HALF_FLOAT:
      return Value::Double(std::strtod(s.ToString().c_str(), nullptr));
    case arrow::Type::FLOAT: return Value::Double(static_cast<const arrow::FloatScalar&>(s).value);
    case arrow::Type::DOUBLE: return Value::Double(static_cast<const arrow::DoubleScalar&>(s).value);
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
      return Value::String(std::string(static_cast<const arrow::BaseBinaryScalar&>(s).view()));
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::BINARY_VIEW:
    case arrow::Type::FIXED_SIZE_BINARY:
      return Value::String(Hex(static_cast<const arrow::BaseBinaryScalar&>(s).view()));
    case arrow::Type::DECIMAL32:
    case arrow::Type::DECIMAL64:
    case arrow::Type::DECIMAL128:
    case arrow::Type::DECIMAL256:
      return Value::Double(std::strtod(s.ToString().c_str(), nullptr));
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
    case arrow::Type::TIMESTAMP:
    case arrow::Type::TIME32:
    case arrow::Type::TIME64:
      return Value::String(IsoTemporal(s));
    case arrow::Type::STRUCT: {
      const auto& st = static_cast<const arrow::StructScalar&>(s);
      Value::Map m;
      for (size_t i = 0; i < st.value.size(); ++i) {
        m.emplace_back(st.type->field(static_cast<int>(i))->name(), ScalarToValue(*st.value[i]));
      }
      return Value::MakeMap(std::move(m));
    }
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::FIXED_SIZE_LIST: {
      const auto& ls = static_cast<const arrow::BaseListScalar&>(s);
      Value::List l;
      for (auto& v : ArrayToValues(*ls.value)) l.push_back(std::move(v));
      return Value::MakeList(std::move(l));
    }
    case arrow::Type::DICTIONARY: {
      auto decoded = static_cast<const arrow::DictionaryScalar&>(s).GetEncodedValue();
      return decoded.ok() ? ScalarToValue(**decoded) : Value::String(s.ToString());
    }
    default:
      return Value::String(s.ToString());
  }
}

std::vector<Value> ArrayToValues(const arrow::Array& array) {
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(array.length()));
  for (int64_t i = 0; i < array.length(); ++i) {
    auto s = array.GetScalar(i);
    out.push_back(s.ok() ? ScalarToValue(**s) : Value());
  }
  return out;
}

int64_t Report::num_failed() const {
  int64_t n = 0;
  for (const auto& r : results) n += !r.success;
  return n;
}

std::string Report::ToJson() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("suite").String(suite_name);
  w.Key("success").Bool(success);
  w.Key("row_count").Int(row_count);
  w.Key("statistics").BeginObject();
  w.Key("evaluated").Int(static_cast<int64_t>(results.size()));
  w.Key("successful").Int(static_cast<int64_t>(results.size()) - num_failed());
  w.Key("unsuccessful").Int(num_failed());
  w.EndObject();
  if (!table_path.empty()) {
    w.Key("table").BeginObject();
    w.Key("path").String(table_path);
    w.Key("version");
    if (table_version) w.Int(*table_version);
    else w.Null();
    w.EndObject();
  }
  w.Key("elapsed_seconds").Double(elapsed_seconds);
  w.Key("results").BeginArray();
  for (const auto& r : results) {
    w.BeginObject();
    w.Key("type").String(r.type);
    w.Key("name").String(r.name);
    w.Key("column");
    if (r.column.empty()) w.Null();
    else w.String(r.column);
    w.Key("columns").BeginArray();
    for (const auto& c : r.columns) w.String(c);
    w.EndArray();
    w.Key("kwargs");
    r.kwargs.WriteJson(&w);
    w.Key("origin");
    if (r.origin.empty()) w.Null();
    else w.String(r.origin);
    w.Key("success").Bool(r.success);
    w.Key("element_count");
    if (r.element_count) w.Int(*r.element_count);
    else w.Null();
    w.Key("unexpected_count");
    if (r.unexpected_count) w.Int(*r.unexpected_count);
    else w.Null();
    w.Key("unexpected_percent");
    if (r.unexpected_percent) w.Double(*r.unexpected_percent);
    else w.Null();
    w.Key("observed_value");
    r.observed_value.WriteJson(&w);
    w.Key("unexpected_samples").BeginArray();
    if (r.unexpected_samples) {
      for (const auto& v : ArrayToValues(*r.unexpected_samples)) v.WriteJson(&w);
    }
    w.EndArray();
    w.Key("error");
    if (r.error.empty()) w.Null();
    else w.String(r.error);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Release();
}

std::string Report::ToString() const {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "suite %s: %s (%lld of %zu expectations failed) - %lld rows, %.3f s\n",
                suite_name.empty() ? "(unnamed)" : suite_name.c_str(), success ? "PASSED" : "FAILED",
                static_cast<long long>(num_failed()), results.size(), static_cast<long long>(row_count), elapsed_seconds);
  out += buf;
  if (!table_path.empty()) {
    out += "table " + table_path + (table_version ? " at version " + std::to_string(*table_version) : "") + "\n";
  }
  size_t width = 10;
  for (const auto& r : results) width = std::max(width, r.name.size());
  width = std::min<size_t>(width, 60);
  for (const auto& r : results) {
    std::string line = std::string("  ") + (r.success ? "PASS " : "FAIL ") + r.name;
    if (line.size() < width + 7) line.append(width + 7 - line.size(), ' ');
    line += "  ";
    if (!r.error.empty()) {
      line += "error: " + r.error;
    } else if (r.unexpected_count) {
      std::snprintf(buf, sizeof(buf), "%lld unexpected of %lld (%.2f%%)", static_cast<long long>(*r.unexpected_count),
                    static_cast<long long>(r.element_count.value_or(0)), r.unexpected_percent.value_or(0));
      line += buf;
      if (r.unexpected_samples && r.unexpected_samples->length() > 0) {
        line += "  e.g. ";
        auto vals = ArrayToValues(*r.unexpected_samples);
        for (size_t i = 0; i < vals.size(); ++i) line += (i ? ", " : "") + vals[i].ToString();
      }
    } else {
      line += "observed " + r.observed_value.ToString();
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace strata::quality
