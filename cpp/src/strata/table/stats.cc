#include "strata/table/stats.h"

#include <cmath>
#include <ctime>
#include <functional>

#include <arrow/array.h>
#include <arrow/chunked_array.h>
#include <arrow/compute/api.h>
#include <arrow/scalar.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <arrow/util/decimal.h>
#include <parquet/arrow/reader.h>
#include <parquet/metadata.h>
#include <parquet/schema.h>
#include <parquet/statistics.h>

#include "strata/common/json_writer.h"
#include "strata/table/json_util.h"
#include "strata/table/partition.h"

namespace strata::table {

using internal::JsonValue;
using internal::View;

namespace {

void Flatten(const JsonValue& e, const std::string& prefix, std::map<std::string, std::string>* out) {
  if (e.IsObject()) {
    for (const auto& kv : e.GetObject()) {
      std::string name(View(kv.name));
      Flatten(kv.value, prefix.empty() ? name : prefix + "." + name, out);
    }
    return;
  }
  if (e.IsNull()) return;
  (*out)[prefix] = internal::Minify(e);
}

void FlattenCounts(const JsonValue& e, const std::string& prefix, std::map<std::string, int64_t>* out) {
  if (e.IsObject()) {
    for (const auto& kv : e.GetObject()) {
      std::string name(View(kv.name));
      FlattenCounts(kv.value, prefix.empty() ? name : prefix + "." + name, out);
    }
    return;
  }
  if (e.IsInt64()) (*out)[prefix] = e.GetInt64();
}

std::string FormatTimestampMs(int64_t micros, bool utc) {
  // Truncated down to milliseconds, as the protocol requires of timestamp stats.
  int64_t ms = micros >= 0 ? micros / 1000 : -((-micros + 999) / 1000);
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int millis = static_cast<int>(ms - secs * 1000);
  time_t t = static_cast<time_t>(secs);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis, utc ? "Z" : "");
  return buf;
}

std::string FormatDate(int32_t days) {
  time_t t = static_cast<time_t>(days) * 86400;
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

/// Truncates to at most `n` UTF-8 code points.
std::string Utf8Prefix(std::string_view s, int n, bool* truncated) {
  size_t i = 0;
  int cps = 0;
  while (i < s.size() && cps < n) {
    unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    i += len;
    ++cps;
  }
  if (i > s.size()) i = s.size();
  *truncated = i < s.size();
  return std::string(s.substr(0, i));
}

/// Writes the JSON value of a min or max scalar; false when the type has no bound we write.
bool WriteBound(JsonWriter& w, const arrow::Scalar& s, bool is_max) {
  using arrow::Type;
  switch (s.type->id()) {
    case Type::INT8: w.Int(static_cast<const arrow::Int8Scalar&>(s).value); return true;
    case Type::INT16: w.Int(static_cast<const arrow::Int16Scalar&>(s).value); return true;
    case Type::INT32: w.Int(static_cast<const arrow::Int32Scalar&>(s).value); return true;
    case Type::INT64: w.Int(static_cast<const arrow::Int64Scalar&>(s).value); return true;
    case Type::FLOAT: {
      double v = static_cast<const arrow::FloatScalar&>(s).value;
      if (std::isnan(v)) return false;
      w.Double(v);
      return true;
    }
    case Type::DOUBLE: {
      double v = static_cast<const arrow::DoubleScalar&>(s).value;
      if (std::isnan(v)) return false;
      w.Double(v);
      return true;
    }
    case Type::DATE32: w.String(FormatDate(static_cast<const arrow::Date32Scalar&>(s).value)); return true;
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampScalar&>(s);
      const auto& tt = static_cast<const arrow::TimestampType&>(*s.type);
      int64_t micros = ts.value;
      switch (tt.unit()) {
        case arrow::TimeUnit::SECOND: micros *= 1000000; break;
        case arrow::TimeUnit::MILLI: micros *= 1000; break;
        case arrow::TimeUnit::NANO: micros = micros >= 0 ? micros / 1000 : -((-micros + 999) / 1000); break;
        default: break;
      }
      w.String(FormatTimestampMs(micros, !tt.timezone().empty()));
      return true;
    }
    case Type::STRING: case Type::LARGE_STRING: case Type::STRING_VIEW: {
      auto view = static_cast<const arrow::BaseBinaryScalar&>(s).view();
      bool truncated = false;
      std::string prefix = Utf8Prefix(view, kStringStatsPrefix, &truncated);
      if (truncated && is_max) return false;
      w.String(prefix);
      return true;
    }
    case Type::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Scalar&>(s);
      const auto& dt = static_cast<const arrow::Decimal128Type&>(*s.type);
      w.Raw(d.value.ToString(dt.scale()));
      return true;
    }
    default:
      return false;
  }
}

struct LeafStats {
  std::string path;
  std::shared_ptr<arrow::Scalar> min, max;
  int64_t null_count = 0;
};

void CollectLeaves(const std::shared_ptr<arrow::ChunkedArray>& col, const std::string& path,
                   std::vector<LeafStats>* out, int* budget) {
  if (*budget == 0) return;
  const auto& type = col->type();
  if (type->id() == arrow::Type::STRUCT) {
    for (int i = 0; i < type->num_fields(); ++i) {
      arrow::ArrayVector children;
      for (const auto& chunk : col->chunks()) {
        auto st = std::static_pointer_cast<arrow::StructArray>(chunk);
        auto f = st->GetFlattenedField(i);
        if (f.ok()) children.push_back(*f);
      }
      auto child = std::make_shared<arrow::ChunkedArray>(children, type->field(i)->type());
      CollectLeaves(child, path + "." + type->field(i)->name(), out, budget);
    }
    return;
  }
  if (*budget > 0) --*budget;
  LeafStats ls;
  ls.path = path;
  ls.null_count = col->null_count();
  bool bounded = type->id() != arrow::Type::BOOL && type->id() != arrow::Type::BINARY &&
                 type->id() != arrow::Type::LIST && type->id() != arrow::Type::MAP &&
                 type->id() != arrow::Type::LARGE_BINARY && type->id() != arrow::Type::NA;
  if (bounded && ls.null_count < col->length()) {
    auto mm = arrow::compute::MinMax(col, arrow::compute::ScalarAggregateOptions(/*skip_nulls=*/true));
    if (mm.ok()) {
      const auto& st = static_cast<const arrow::StructScalar&>(*mm->scalar());
      if (st.value[0]->is_valid) ls.min = st.value[0];
      if (st.value[1]->is_valid) ls.max = st.value[1];
    }
  }
  out->push_back(std::move(ls));
}

void WriteNested(JsonWriter& w, const std::vector<std::pair<std::string, const LeafStats*>>& items,
                 const std::function<bool(JsonWriter&, const LeafStats&)>& value) {
  // Items are (dotted path, leaf); nesting is rebuilt from the paths, which share prefixes in
  // schema order.
  w.BeginObject();
  size_t i = 0;
  while (i < items.size()) {
    const std::string& p = items[i].first;
    auto dot = p.find('.');
    if (dot == std::string::npos) {
      // Leaf at this level: write key only if the value is writable.
      JsonWriter tmp;
      if (value(tmp, *items[i].second)) w.Key(p).Raw(tmp.str());
      ++i;
      continue;
    }
    std::string head = p.substr(0, dot);
    std::vector<std::pair<std::string, const LeafStats*>> sub;
    while (i < items.size() && items[i].first.compare(0, dot + 1, head + ".") == 0) {
      sub.emplace_back(items[i].first.substr(dot + 1), items[i].second);
      ++i;
    }
    JsonWriter nested;
    WriteNested(nested, sub, value);
    if (nested.str() != "{}") w.Key(head).Raw(nested.str());
  }
  w.EndObject();
}

/// The stats JSON for leaf statistics (null_count < 0: unknown, omitted).
std::string StatsJson(int64_t num_records, const std::vector<LeafStats>& leaves) {
  std::vector<std::pair<std::string, const LeafStats*>> items;
  for (const auto& l : leaves) items.emplace_back(l.path, &l);
  JsonWriter w;
  w.BeginObject().Key("numRecords").Int(num_records);
  w.Key("minValues");
  WriteNested(w, items, [](JsonWriter& o, const LeafStats& l) { return l.min && WriteBound(o, *l.min, false); });
  w.Key("maxValues");
  WriteNested(w, items, [](JsonWriter& o, const LeafStats& l) { return l.max && WriteBound(o, *l.max, true); });
  w.Key("nullCount");
  WriteNested(w, items, [](JsonWriter& o, const LeafStats& l) {
    if (l.null_count < 0) return false;
    o.Int(l.null_count);
    return true;
  });
  w.EndObject();
  return w.Release();
}

}  // namespace

Result<FileStats> ParseFileStats(const std::optional<std::string>& json) {
  FileStats out;
  if (!json || json->empty()) return out;
  internal::JsonDocument doc;
  if (!internal::ParseJson(&doc, *json) || !doc.IsObject()) return out;
  const JsonValue& obj = doc;
  out.num_records = internal::OptInt(obj, "numRecords");
  out.tight_bounds = internal::OptBool(obj, "tightBounds").value_or(true);
  if (auto* e = internal::Field(obj, "minValues")) Flatten(*e, "", &out.min_values);
  if (auto* e = internal::Field(obj, "maxValues")) Flatten(*e, "", &out.max_values);
  if (auto* e = internal::Field(obj, "nullCount")) FlattenCounts(*e, "", &out.null_count);
  return out;
}

std::shared_ptr<arrow::Scalar> StatValueToScalar(const std::string& json_value,
                                                 const std::shared_ptr<arrow::DataType>& type) {
  std::string text = json_value;
  bool quoted = text.size() >= 2 && text.front() == '"' && text.back() == '"';
  if (quoted) {
    internal::JsonDocument d;
    if (!internal::ParseJson(&d, json_value) || !d.IsString()) return nullptr;
    text = std::string(View(d));
  }
  using arrow::Type;
  switch (type->id()) {
    case Type::STRING: case Type::LARGE_STRING:
      if (!quoted) return nullptr;
      return arrow::MakeScalar(type, text).ValueOr(nullptr);
    case Type::TIMESTAMP: {
      // Accept "2026-01-01T00:00:00.000Z", "...+00:00", and zone-less forms.
      std::string t = text;
      if (t.size() > 10 && t[10] == ' ') t[10] = 'T';
      auto parsed = arrow::Scalar::Parse(type, t);
      if (!parsed.ok() && !t.empty() && t.back() == 'Z') parsed = arrow::Scalar::Parse(type, t.substr(0, t.size() - 1));
      return parsed.ValueOr(nullptr);
    }
    case Type::DECIMAL128:
      return ParseDecimal(text, type).ValueOr(nullptr);
    case Type::INT8: case Type::INT16: case Type::INT32: case Type::INT64: case Type::FLOAT:
    case Type::DOUBLE: case Type::DATE32: case Type::BOOL:
      return arrow::Scalar::Parse(type, text).ValueOr(nullptr);
    default:
      return nullptr;
  }
}

Result<std::string> ComputeStatsJson(const arrow::Table& data, int num_indexed_cols) {
  std::vector<LeafStats> leaves;
  int budget = num_indexed_cols;
  for (int i = 0; i < data.num_columns(); ++i) {
    CollectLeaves(data.column(i), data.schema()->field(i)->name(), &leaves, &budget);
  }
  return StatsJson(data.num_rows(), leaves);
}

namespace {

bool Less(const std::shared_ptr<arrow::Scalar>& a, const std::shared_ptr<arrow::Scalar>& b) {
  auto r = arrow::compute::CallFunction("less", {a, b});
  if (!r.ok() || !r->is_scalar()) return false;
  const auto& s = static_cast<const arrow::BooleanScalar&>(*r->scalar());
  return s.is_valid && s.value;
}

}  // namespace

Result<std::string> StatsJsonFromParquet(const parquet::FileMetaData& md, int num_indexed_cols) {
  std::vector<LeafStats> leaves;
  const auto* schema = md.schema();
  int budget = num_indexed_cols;
  for (int c = 0; c < schema->num_columns() && budget != 0; ++c) {
    const auto* col = schema->Column(c);
    if (col->max_repetition_level() > 0) continue;  // inside a list or map: no Delta stats
    if (budget > 0) --budget;
    LeafStats ls;
    ls.path = col->path()->ToDotString();
    bool nulls_known = true, bounds_known = true;
    for (int rg = 0; rg < md.num_row_groups(); ++rg) {
      auto rgmd = md.RowGroup(rg);
      auto chunk = rgmd->ColumnChunk(c);
      auto stats = chunk->is_stats_set() ? chunk->statistics() : nullptr;
      if (!stats) {
        nulls_known = bounds_known = false;
        break;
      }
      if (stats->HasNullCount()) ls.null_count += stats->null_count(); else nulls_known = false;
      int64_t values = rgmd->num_rows() - (stats->HasNullCount() ? stats->null_count() : 0);
      if (values == 0) continue;  // an all-null row group bounds nothing
      if (!stats->HasMinMax()) {
        bounds_known = false;
        continue;
      }
      std::shared_ptr<arrow::Scalar> mn, mx;
      if (!parquet::arrow::StatisticsAsScalars(*stats, &mn, &mx).ok() || !mn || !mx) {
        bounds_known = false;
        continue;
      }
      if (!ls.min || Less(mn, ls.min)) ls.min = mn;
      if (!ls.max || Less(ls.max, mx)) ls.max = mx;
    }
    if (!bounds_known) ls.min = ls.max = nullptr;
    if (!nulls_known) ls.null_count = -1;
    leaves.push_back(std::move(ls));
  }
  return StatsJson(md.num_rows(), leaves);
}

}  // namespace strata::table
