#include "strata/table/partition.h"

#include <cstdio>
#include <ctime>

#include <arrow/scalar.h>
#include <arrow/type.h>
#include <arrow/util/decimal.h>

namespace strata::table {

namespace {

std::string FormatMicros(int64_t micros, bool utc) {
  int64_t secs = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
  int64_t frac = micros - secs * 1000000;
  time_t t = static_cast<time_t>(secs);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  if (utc) {
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
  } else {
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%06lld", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
  }
  return buf;
}

int64_t ToMicros(int64_t v, arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND: return v * 1000000;
    case arrow::TimeUnit::MILLI: return v * 1000;
    case arrow::TimeUnit::NANO: return v / 1000;
    default: return v;
  }
}

}  // namespace

Result<std::optional<std::string>> SerializePartitionValue(const arrow::Scalar& value) {
  if (!value.is_valid) return std::nullopt;
  using arrow::Type;
  switch (value.type->id()) {
    case Type::STRING: case Type::LARGE_STRING: case Type::STRING_VIEW: {
      auto v = std::string(static_cast<const arrow::BaseBinaryScalar&>(value).view());
      if (v.empty()) return std::nullopt;  // the protocol cannot tell "" from null
      return v;
    }
    case Type::BOOL: return std::string(static_cast<const arrow::BooleanScalar&>(value).value ? "true" : "false");
    case Type::DATE32: case Type::INT8: case Type::INT16: case Type::INT32: case Type::INT64:
    case Type::UINT8: case Type::UINT16: case Type::UINT32: case Type::FLOAT: case Type::DOUBLE:
      return value.ToString();
    case Type::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Scalar&>(value);
      return d.value.ToString(static_cast<const arrow::Decimal128Type&>(*value.type).scale());
    }
    case Type::TIMESTAMP: {
      const auto& tt = static_cast<const arrow::TimestampType&>(*value.type);
      int64_t us = ToMicros(static_cast<const arrow::TimestampScalar&>(value).value, tt.unit());
      return FormatMicros(us, !tt.timezone().empty());
    }
    case Type::DICTIONARY: {
      const auto& ds = static_cast<const arrow::DictionaryScalar&>(value);
      ARROW_ASSIGN_OR_RAISE(auto dec, ds.GetEncodedValue());
      return SerializePartitionValue(*dec);
    }
    default:
      return Error(ErrorCode::kSchemaMismatch, "cannot partition by a column of type ", value.type->ToString());
  }
}

Result<std::shared_ptr<arrow::Scalar>> ParseDecimal(const std::string& text,
                                                   const std::shared_ptr<arrow::DataType>& type) {
  const auto& dt = static_cast<const arrow::Decimal128Type&>(*type);
  arrow::Decimal128 value;
  int32_t precision = 0, scale = 0;
  ARROW_RETURN_NOT_OK(arrow::Decimal128::FromString(text, &value, &precision, &scale));
  if (scale != dt.scale()) {
    ARROW_ASSIGN_OR_RAISE(value, value.Rescale(scale, dt.scale()));
  }
  if (!value.FitsInPrecision(dt.precision())) {
    return Status::Invalid("decimal ", text, " does not fit ", type->ToString());
  }
  return std::make_shared<arrow::Decimal128Scalar>(value, type);
}

Result<std::shared_ptr<arrow::Scalar>> ParsePartitionValue(const std::optional<std::string>& value,
                                                           const std::shared_ptr<arrow::DataType>& type) {
  if (!value || value->empty()) return arrow::MakeNullScalar(type);
  std::string v = *value;
  if (type->id() == arrow::Type::STRING || type->id() == arrow::Type::LARGE_STRING) {
    return arrow::MakeScalar(type, v);
  }
  if (type->id() == arrow::Type::BINARY) return arrow::MakeScalar(type, v);
  if (type->id() == arrow::Type::DECIMAL128) {
    auto r = ParseDecimal(v, type);
    if (r.ok()) return r;
    return Error(ErrorCode::kCorruptLog, "partition value '", *value, "' is not a valid ", type->ToString());
  }
  if (type->id() == arrow::Type::TIMESTAMP) {
    if (v.size() > 10 && v[10] == ' ') v[10] = 'T';
    auto r = arrow::Scalar::Parse(type, v);
    if (!r.ok() && !v.empty() && v.back() == 'Z') r = arrow::Scalar::Parse(type, v.substr(0, v.size() - 1));
    if (r.ok()) return r;
  } else {
    auto r = arrow::Scalar::Parse(type, v);
    if (r.ok()) return r;
  }
  return Error(ErrorCode::kCorruptLog, "partition value '", *value, "' is not a valid ", type->ToString());
}

std::string EscapeHivePathName(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    bool esc = c < 0x20 || c == 0x7F || c == '"' || c == '#' || c == '%' || c == '\'' || c == '*' ||
               c == '/' || c == ':' || c == '=' || c == '?' || c == '\\' || c == '{' || c == '[' ||
               c == ']' || c == '^';
    if (esc) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string HivePartitionDir(const std::vector<std::string>& columns, const PartitionValues& values) {
  std::string out;
  for (const auto& c : columns) {
    auto it = values.find(c);
    std::string v = (it == values.end() || !it->second) ? "__HIVE_DEFAULT_PARTITION__" : EscapeHivePathName(*it->second);
    out += EscapeHivePathName(c) + "=" + v + "/";
  }
  return out;
}

}  // namespace strata::table
