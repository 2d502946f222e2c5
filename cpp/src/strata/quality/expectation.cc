#include "strata/quality/expectation.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "strata/common/json_writer.h"
#include "strata/quality/expectations_internal.h"

namespace strata::quality {

// ---- Value --------------------------------------------------------------------------------

Value Value::Bool(bool v) {
  Value x;
  x.kind_ = Kind::kBool;
  x.b_ = v;
  return x;
}
Value Value::Int(int64_t v) {
  Value x;
  x.kind_ = Kind::kInt;
  x.i_ = v;
  return x;
}
Value Value::Double(double v) {
  Value x;
  x.kind_ = Kind::kDouble;
  x.d_ = v;
  return x;
}
Value Value::String(std::string v) {
  Value x;
  x.kind_ = Kind::kString;
  x.s_ = std::move(v);
  return x;
}
Value Value::MakeList(List v) {
  Value x;
  x.kind_ = Kind::kList;
  x.list_ = std::make_shared<const List>(std::move(v));
  return x;
}
Value Value::MakeMap(Map v) {
  Value x;
  x.kind_ = Kind::kMap;
  x.map_ = std::make_shared<const Map>(std::move(v));
  return x;
}

const Value::List& Value::as_list() const {
  static const List kEmpty;
  return list_ ? *list_ : kEmpty;
}
const Value::Map& Value::as_map() const {
  static const Map kEmpty;
  return map_ ? *map_ : kEmpty;
}

const Value* Value::Find(std::string_view key) const {
  if (kind_ != Kind::kMap) return nullptr;
  for (const auto& [k, v] : as_map()) {
    if (k == key) return &v;
  }
  return nullptr;
}

const char* Value::KindName(Kind kind) {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "a boolean";
    case Kind::kInt: return "an integer";
    case Kind::kDouble: return "a number";
    case Kind::kString: return "a string";
    case Kind::kList: return "a list";
    case Kind::kMap: return "a map";
  }
  return "?";
}

namespace {
std::string FormatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", d);
  // Shortest text that reads back the same value.
  for (int prec = 1; prec <= 17; ++prec) {
    char b2[32];
    std::snprintf(b2, sizeof(b2), "%.*g", prec, d);
    if (std::strtod(b2, nullptr) == d) return b2;
  }
  return buf;
}
}  // namespace

std::string Value::ToString() const {
  switch (kind_) {
    case Kind::kNull: return "null";
    case Kind::kBool: return b_ ? "true" : "false";
    case Kind::kInt: return std::to_string(i_);
    case Kind::kDouble: return FormatDouble(d_);
    case Kind::kString: return s_;
    case Kind::kList: {
      std::string out = "[";
      for (size_t i = 0; i < as_list().size(); ++i) out += (i ? ", " : "") + as_list()[i].ToString();
      return out + "]";
    }
    case Kind::kMap: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : as_map()) {
        out += (first ? "" : ", ") + k + ": " + v.ToString();
        first = false;
      }
      return out + "}";
    }
  }
  return "";
}

void Value::WriteJson(JsonWriter* w) const {
  switch (kind_) {
    case Kind::kNull: w->Null(); break;
    case Kind::kBool: w->Bool(b_); break;
    case Kind::kInt: w->Int(i_); break;
    case Kind::kDouble: w->Double(d_); break;
    case Kind::kString: w->String(s_); break;
    case Kind::kList:
      w->BeginArray();
      for (const auto& v : as_list()) v.WriteJson(w);
      w->EndArray();
      break;
    case Kind::kMap:
      w->BeginObject();
      for (const auto& [k, v] : as_map()) {
        w->Key(k);
        v.WriteJson(w);
      }
      w->EndObject();
      break;
  }
}

std::string Value::ToJson() const {
  JsonWriter w;
  WriteJson(&w);
  return w.Release();
}

bool Value::operator==(const Value& o) const {
  if (is_number() && o.is_number()) {
    if (kind_ == Kind::kInt && o.kind_ == Kind::kInt) return i_ == o.i_;
    return as_double() == o.as_double();
  }
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kNull: return true;
    case Kind::kBool: return b_ == o.b_;
    case Kind::kString: return s_ == o.s_;
    case Kind::kList: return as_list() == o.as_list();
    case Kind::kMap: return as_map() == o.as_map();
    default: return false;
  }
}

ExpectationSpec ExpectationSpec::Make(std::string type, Value::Map args) {
  ExpectationSpec s;
  s.type = std::move(type);
  s.args = Value::MakeMap(std::move(args));
  return s;
}

// ---- catalogue ----------------------------------------------------------------------------

namespace {

using K = ExpectationKind;

ArgumentInfo Req(std::string name, std::string type, std::string doc) { return {std::move(name), std::move(type), true, std::move(doc)}; }
ArgumentInfo Opt(std::string name, std::string type, std::string doc) { return {std::move(name), std::move(type), false, std::move(doc)}; }

std::vector<ArgumentInfo> Range(std::vector<ArgumentInfo> more = {}) {
  std::vector<ArgumentInfo> a = {Opt("min", "number", "lower bound (inclusive unless strict_min)"),
                                 Opt("max", "number", "upper bound (inclusive unless strict_max)"),
                                 Opt("strict_min", "bool", "exclude the lower bound"),
                                 Opt("strict_max", "bool", "exclude the upper bound")};
  a.insert(a.begin(), more.begin(), more.end());
  return a;
}

const std::vector<ExpectationTypeInfo>& Catalogue() {
  static const std::vector<ExpectationTypeInfo> kTypes = [] {
    auto col = Req("column", "column", "the column checked");
    std::vector<ExpectationTypeInfo> t = {
        {"not_null", K::kRow, "values are not null (the only expectation that counts nulls)", {col}},
        {"unique", K::kRow, "no value occurs twice; every row of a repeated value is unexpected", {col}},
        {"compound_unique", K::kRow, "no combination of the columns occurs twice (rows with a null are ignored)",
         {Req("columns", "list of columns", "two or more columns")}},
        {"between", K::kRow, "min <= value <= max (NaN fails); numbers, or dates/timestamps as text",
         Range({col})},
        {"in_set", K::kRow, "values are in the list", {col, Req("values", "list", "allowed values")}},
        {"not_in_set", K::kRow, "values are not in the list", {col, Req("values", "list", "forbidden values")}},
        {"regex", K::kRow, "values contain a match of the RE2 pattern (anchor with ^...$)",
         {col, Req("pattern", "string", "RE2 regular expression")}},
        {"not_regex", K::kRow, "values contain no match of the RE2 pattern",
         {col, Req("pattern", "string", "RE2 regular expression")}},
        {"string_length_between", K::kRow, "length in characters (UTF-8 code points) within [min, max]",
         {col, Opt("min", "integer", "shortest length"), Opt("max", "integer", "longest length")}},
        {"increasing", K::kRow, "each value >= the previous non-null value (> with strict); NaN fails",
         {col, Opt("strict", "bool", "require strictly increasing values")}},
        {"decreasing", K::kRow, "each value <= the previous non-null value (< with strict); NaN fails",
         {col, Opt("strict", "bool", "require strictly decreasing values")}},
        {"column_pair_less", K::kRow, "column_a < column_b (<= with or_equal) on rows where both are set",
         {Req("column_a", "column", "left column"), Req("column_b", "column", "right column"),
          Opt("or_equal", "bool", "allow equality")}},
        {"column_pair_equal", K::kRow, "column_a == column_b on rows where both are set",
         {Req("column_a", "column", "left column"), Req("column_b", "column", "right column")}},
        {"multicolumn_sum_equal", K::kRow, "the columns add up to total on rows where all are set",
         {Req("columns", "list of columns", "columns to add"), Req("total", "number", "expected sum")}},
        {"exists_in", K::kRow, "values occur in a column of another strata table (referential integrity)",
         {col, Req("table", "string", "path of the referenced table (relative to the suite file)"),
          Req("table_column", "column", "column of the referenced table"),
          Opt("version", "integer", "version of the referenced table (latest by default)")}},
        {"expression", K::kRow, "a SQL boolean expression over the row is true (NULL is not unexpected)",
         {Req("expr", "string", "SQL boolean expression")}},
        {"row_count_between", K::kAggregate, "the number of rows is within [min, max]", Range()},
        {"column_count_between", K::kSchema, "the number of columns is within [min, max]", Range()},
        {"schema_equals", K::kSchema, "the columns are exactly these (names and types)",
         {Req("columns", "map or list", "{name: type, ...}, or a list of names"),
          Opt("ordered", "bool", "the order must match too")}},
        {"column_exists", K::kSchema, "the column exists", {col}},
        {"values_of_type", K::kSchema, "the column has this type (int64, string, timestamp[us], ...)",
         {col, Req("value_type", "string or list", "type name, or a list of accepted names")}},
        {"mean_between", K::kAggregate, "the mean of the non-null values is within range", Range({col})},
        {"median_between", K::kAggregate, "the median of the non-null values is within range", Range({col})},
        {"stdev_between", K::kAggregate, "the sample standard deviation (n-1) is within range", Range({col})},
        {"sum_between", K::kAggregate, "the sum of the non-null values is within range", Range({col})},
        {"min_between", K::kAggregate, "the smallest value is within range", Range({col})},
        {"max_between", K::kAggregate, "the largest value is within range", Range({col})},
        {"quantiles_between", K::kAggregate, "each quantile (linear interpolation) is within its range",
         {col, Req("quantiles", "list of numbers", "quantiles in [0, 1]"),
          Req("ranges", "list of [min, max]", "one range per quantile; null for no bound")}},
        {"distinct_count_between", K::kAggregate, "the number of distinct non-null values is within range",
         Range({col})},
        {"unique_proportion_between", K::kAggregate, "distinct values / non-null values is within range",
         Range({col})},
        {"null_proportion_between", K::kAggregate, "null rows / rows is within range", Range({col})},
        {"most_common_value_in_set", K::kAggregate, "the most common value(s) are in the list",
         {col, Req("values", "list", "allowed values"),
          Opt("ties_okay", "bool", "with ties, succeed when any most common value is in the list")}},
        {"freshness", K::kAggregate, "the newest timestamp is at most max_age old",
         {col, Req("max_age", "duration", "e.g. 30s, 15m, 2h, 1d")}},
    };
    return t;
  }();
  return kTypes;
}

}  // namespace

const std::vector<ExpectationTypeInfo>& ExpectationTypes() { return Catalogue(); }

const ExpectationTypeInfo* FindExpectationType(std::string_view type) {
  for (const auto& t : Catalogue()) {
    if (t.name == type) return &t;
  }
  return nullptr;
}

// ---- internal helpers ---------------------------------------------------------------------

namespace internal {

Result<int64_t> BoundExpectation::FailRows(const arrow::RecordBatch&, uint8_t*) const {
  return Status::NotImplemented("not a row-level expectation");
}

std::string Expectation::Context() const {
  std::string out = spec.origin.empty() ? "" : spec.origin + ": ";
  out += "expectation " + std::to_string(index) + " (" + spec.type;
  if (!column.empty()) {
    out += " on '" + column + "'";
  } else if (!columns.empty()) {
    out += " on ";
    for (size_t i = 0; i < columns.size(); ++i) out += (i ? ", '" : "'") + columns[i] + "'";
  }
  return out + ")";
}

Status ContextError(const std::string& context, const Status& status) {
  if (GetDetail(status) != nullptr && !HasCode(status, ErrorCode::kInvalidArgument)) {
    return WithContext(status, context);
  }
  return MakeError(ErrorCode::kInvalidArgument, context + ": " + status.message());
}

Result<int> BindContext::AddAccumulator(const std::string& key,
                                        const std::function<Result<std::shared_ptr<Accumulator>>()>& make) {
  auto it = accumulator_keys.find(key);
  if (it != accumulator_keys.end()) {
    uses.push_back(it->second);
    return it->second;
  }
  ARROW_ASSIGN_OR_RAISE(auto acc, make());
  accumulators.push_back(std::move(acc));
  int idx = static_cast<int>(accumulators.size()) - 1;
  accumulator_keys[key] = idx;
  uses.push_back(idx);
  return idx;
}

Result<int> BindContext::Column(const std::string& name) const {
  int i = schema->GetFieldIndex(name);
  if (i >= 0) return i;
  std::string names;
  for (const auto& f : (full_schema ? full_schema : schema)->fields()) names += (names.empty() ? "" : ", ") + f->name();
  if (schema->GetFieldIndex(name) == -1 && !schema->GetAllFieldIndices(name).empty()) {
    return Error(ErrorCode::kInvalidArgument, "column '", name, "' is ambiguous (several columns have that name)");
  }
  return Error(ErrorCode::kInvalidArgument, "column '", name, "' is not in the data (columns: ", names, ")");
}

Args::Args(const ExpectationSpec& spec, std::string context) : spec_(spec), context_(std::move(context)) {}

const Value* Args::Get(std::string_view key) {
  used_.emplace_back(key);
  const Value* v = spec_.args.Find(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

Status Args::Error(std::string_view key, const std::string& message) const {
  std::string where;
  const Value* v = spec_.args.Find(key);
  if (v != nullptr && v->line() > 0) {
    auto colon = spec_.origin.rfind(':');
    std::string origin_line = colon == std::string::npos ? "" : spec_.origin.substr(colon + 1);
    if (origin_line != std::to_string(v->line())) where = " (line " + std::to_string(v->line()) + ")";
  }
  return strata::Error(ErrorCode::kInvalidArgument, context_, ": argument '", key, "'", where, ": ", message);
}

Result<std::string> Args::RequiredString(std::string_view key) {
  const Value* v = Get(key);
  if (v == nullptr) return Error(key, "is required");
  if (!v->is_string()) return Error(key, std::string("expected a string, got ") + Value::KindName(v->kind()));
  if (v->as_string().empty()) return Error(key, "must not be empty");
  return v->as_string();
}

Result<std::optional<std::string>> Args::OptionalString(std::string_view key) {
  const Value* v = Get(key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return Error(key, std::string("expected a string, got ") + Value::KindName(v->kind()));
  return std::optional<std::string>(v->as_string());
}

Result<std::optional<double>> Args::OptionalNumber(std::string_view key) {
  const Value* v = Get(key);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return Error(key, std::string("expected a number, got ") + Value::KindName(v->kind()));
  return std::optional<double>(v->as_double());
}

Result<double> Args::RequiredNumber(std::string_view key) {
  ARROW_ASSIGN_OR_RAISE(auto v, OptionalNumber(key));
  if (!v) return Error(key, "is required");
  return *v;
}

Result<std::optional<int64_t>> Args::OptionalInt(std::string_view key) {
  const Value* v = Get(key);
  if (v == nullptr) return std::optional<int64_t>();
  if (!v->is_int()) return Error(key, std::string("expected an integer, got ") + Value::KindName(v->kind()));
  return std::optional<int64_t>(v->as_int());
}

Result<bool> Args::OptionalBool(std::string_view key, bool def) {
  const Value* v = Get(key);
  if (v == nullptr) return def;
  if (!v->is_bool()) return Error(key, std::string("expected true or false, got ") + Value::KindName(v->kind()));
  return v->as_bool();
}

Result<std::vector<std::string>> Args::StringList(std::string_view key, size_t min_size) {
  const Value* v = Get(key);
  if (v == nullptr) return Error(key, "is required");
  if (!v->is_list()) return Error(key, std::string("expected a list of column names, got ") + Value::KindName(v->kind()));
  std::vector<std::string> out;
  for (const auto& x : v->as_list()) {
    if (!x.is_string() || x.as_string().empty()) return Error(key, "expected a list of column names, got " + v->ToString());
    out.push_back(x.as_string());
  }
  if (out.size() < min_size) return Error(key, "needs at least " + std::to_string(min_size) + " columns");
  return out;
}

Result<Value> Args::OptionalBound(std::string_view key) {
  const Value* v = Get(key);
  if (v == nullptr) return Value();
  if (!v->is_number() && !v->is_string()) {
    return Error(key, std::string("expected a number (or a date/timestamp as text), got ") + Value::KindName(v->kind()));
  }
  if (v->kind() == Value::Kind::kDouble && std::isnan(v->as_double())) return Error(key, "must not be NaN");
  return *v;
}

Result<Value> Args::RequiredList(std::string_view key) {
  const Value* v = Get(key);
  if (v == nullptr) return Error(key, "is required");
  if (!v->is_list()) return Error(key, std::string("expected a list, got ") + Value::KindName(v->kind()));
  return *v;
}

Status Args::Finish() {
  for (const auto& [k, v] : spec_.args.as_map()) {
    if (std::find(used_.begin(), used_.end(), k) != used_.end()) continue;
    std::string allowed;
    std::vector<std::string> sorted = used_;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    for (const auto& u : sorted) allowed += (allowed.empty() ? "" : ", ") + u;
    std::string where = v.line() > 0 ? " (line " + std::to_string(v.line()) + ")" : "";
    return strata::Error(ErrorCode::kInvalidArgument, context_, ": unknown key '", k, "'", where, " (allowed: ", allowed,
                         ")");
  }
  return Status::OK();
}

bool IsTemporal(const arrow::DataType& t) {
  switch (t.id()) {
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
    case arrow::Type::TIMESTAMP:
    case arrow::Type::TIME32:
    case arrow::Type::TIME64:
    case arrow::Type::DURATION:
      return true;
    default:
      return false;
  }
}

bool IsNumericLike(const arrow::DataType& t) {
  return arrow::is_integer(t.id()) || t.id() == arrow::Type::FLOAT || t.id() == arrow::Type::DOUBLE || IsTemporal(t);
}

bool IsStringLike(const arrow::DataType& t) {
  return t.id() == arrow::Type::STRING || t.id() == arrow::Type::LARGE_STRING;
}

int64_t TemporalPhysical(const arrow::Scalar& s) {
  switch (s.type->id()) {
    case arrow::Type::DATE32: return static_cast<const arrow::Date32Scalar&>(s).value;
    case arrow::Type::DATE64: return static_cast<const arrow::Date64Scalar&>(s).value;
    case arrow::Type::TIMESTAMP: return static_cast<const arrow::TimestampScalar&>(s).value;
    case arrow::Type::TIME32: return static_cast<const arrow::Time32Scalar&>(s).value;
    case arrow::Type::TIME64: return static_cast<const arrow::Time64Scalar&>(s).value;
    case arrow::Type::DURATION: return static_cast<const arrow::DurationScalar&>(s).value;
    default: return 0;
  }
}

Result<std::optional<long double>> ParseBound(const Value& bound, const arrow::DataType& type, std::string_view what) {
  if (bound.is_null()) return std::optional<long double>();
  if (bound.is_int()) return std::optional<long double>(static_cast<long double>(bound.as_int()));
  if (bound.is_number()) return std::optional<long double>(bound.as_double());
  if (!IsTemporal(type)) {
    return Status::Invalid(what, " is ", bound.ToString(), " (text) but column type ", TypeName(type),
                           " needs a number");
  }
  auto in = std::make_shared<arrow::StringScalar>(bound.as_string());
  std::shared_ptr<arrow::DataType> target = type.GetSharedPtr();
  auto cast = arrow::compute::Cast(arrow::Datum(in), target);
  if (!cast.ok() && type.id() == arrow::Type::TIMESTAMP) {
    const auto& ts = static_cast<const arrow::TimestampType&>(type);
    // Text without a zone offset is read as UTC.
    cast = arrow::compute::Cast(arrow::Datum(in), arrow::timestamp(ts.unit()));
  }
  if (!cast.ok()) {
    return Status::Invalid(what, " '", bound.as_string(), "' is not a valid ", TypeName(type), ": ",
                           cast.status().message());
  }
  return std::optional<long double>(static_cast<long double>(TemporalPhysical(*cast->scalar())));
}

std::string TypeName(const arrow::DataType& type) { return type.ToString(); }

namespace {
std::string Canon(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}
}  // namespace

bool TypeMatches(std::string_view declared_in, const arrow::DataType& actual) {
  std::string d = Canon(declared_in);
  std::string a = Canon(actual.ToString());
  if (d == a) return true;
  using T = arrow::Type;
  auto id = actual.id();
  if (d == "string" || d == "str" || d == "utf8" || d == "text") {
    return id == T::STRING || id == T::LARGE_STRING || id == T::STRING_VIEW;
  }
  if (d == "binary" || d == "bytes") return id == T::BINARY || id == T::LARGE_BINARY || id == T::BINARY_VIEW;
  if (d == "bool" || d == "boolean") return id == T::BOOL;
  if (d == "long" || d == "bigint") return id == T::INT64;
  if (d == "int" || d == "integer") return id == T::INT32;
  if (d == "short" || d == "smallint") return id == T::INT16;
  if (d == "byte" || d == "tinyint") return id == T::INT8;
  if (d == "float64") return id == T::DOUBLE;
  if (d == "float32" || d == "real") return id == T::FLOAT;
  if (d == "date") return id == T::DATE32 || id == T::DATE64;
  if (d == "timestamp" || d == "datetime") return id == T::TIMESTAMP;
  if (d == "timestamp_ntz") {
    return id == T::TIMESTAMP && static_cast<const arrow::TimestampType&>(actual).timezone().empty();
  }
  if (d == "decimal") return id == T::DECIMAL128 || id == T::DECIMAL256;
  if (id == T::TIMESTAMP && d.rfind("timestamp[", 0) == 0 && d.find(',') == std::string::npos) {
    // timestamp[us] matches any zone
    auto unit = d.substr(10, d.size() - 11);
    return a.rfind("timestamp[" + unit, 0) == 0;
  }
  if (id == T::DATE32 && d == "date32") return true;
  if (id == T::DECIMAL128 && d.rfind("decimal(", 0) == 0) return "decimal128" + d.substr(7) == a;
  if (d == "integer_any" || d == "integral") return arrow::is_integer(id);
  if (d == "floating") return arrow::is_floating(id);
  if (d == "numeric") return arrow::is_integer(id) || arrow::is_floating(id) || arrow::is_decimal(id);
  return false;
}

Result<std::shared_ptr<arrow::Array>> TakeRows(const arrow::RecordBatch& batch, const std::vector<int>& columns,
                                               const std::vector<int64_t>& rows) {
  arrow::Int64Builder ib;
  ARROW_RETURN_NOT_OK(ib.AppendValues(rows));
  ARROW_ASSIGN_OR_RAISE(auto idx, ib.Finish());
  arrow::ArrayVector taken;
  std::vector<std::string> names;
  for (int c : columns) {
    ARROW_ASSIGN_OR_RAISE(auto d, arrow::compute::Take(batch.column(c), idx));
    taken.push_back(d.make_array());
    names.push_back(batch.schema()->field(c)->name());
  }
  if (taken.size() == 1) return taken[0];
  ARROW_ASSIGN_OR_RAISE(auto st, arrow::StructArray::Make(taken, names));
  return std::static_pointer_cast<arrow::Array>(st);
}

Result<std::shared_ptr<arrow::Array>> ValuesToArray(const Value::List& values, const std::shared_ptr<arrow::DataType>& type,
                                                    std::string_view what) {
  bool any_string = false, any_double = false, any_bool = false, any_int = false;
  for (const auto& v : values) {
    switch (v.kind()) {
      case Value::Kind::kNull: break;
      case Value::Kind::kString: any_string = true; break;
      case Value::Kind::kDouble: any_double = true; break;
      case Value::Kind::kInt: any_int = true; break;
      case Value::Kind::kBool: any_bool = true; break;
      default:
        return Status::Invalid(what, " must hold plain values, got ", v.ToString());
    }
  }
  if (any_string + (any_double || any_int) + any_bool > 1) {
    return Status::Invalid(what, " mixes kinds of values: ", Value::MakeList(values).ToString());
  }
  const auto& t = *type;
  bool target_string = IsStringLike(t) || t.id() == arrow::Type::BINARY || t.id() == arrow::Type::LARGE_BINARY;
  if (any_string && !(target_string || IsTemporal(t) || arrow::is_decimal(t.id()))) {
    return Status::Invalid(what, " are text but the column is ", TypeName(t));
  }
  if ((any_int || any_double) && !(arrow::is_integer(t.id()) || arrow::is_floating(t.id()) || IsTemporal(t) ||
                                   arrow::is_decimal(t.id()))) {
    return Status::Invalid(what, " are numbers but the column is ", TypeName(t));
  }
  if (any_bool && t.id() != arrow::Type::BOOL) return Status::Invalid(what, " are booleans but the column is ", TypeName(t));
  std::shared_ptr<arrow::Array> arr;
  if (any_string) {
    arrow::StringBuilder b;
    for (const auto& v : values) {
      if (v.is_string()) ARROW_RETURN_NOT_OK(b.Append(v.as_string()));
    }
    ARROW_ASSIGN_OR_RAISE(arr, b.Finish());
  } else if (any_double) {
    arrow::DoubleBuilder b;
    for (const auto& v : values) {
      if (v.is_number()) ARROW_RETURN_NOT_OK(b.Append(v.as_double()));
    }
    ARROW_ASSIGN_OR_RAISE(arr, b.Finish());
  } else if (any_bool) {
    arrow::BooleanBuilder b;
    for (const auto& v : values) {
      if (v.is_bool()) ARROW_RETURN_NOT_OK(b.Append(v.as_bool()));
    }
    ARROW_ASSIGN_OR_RAISE(arr, b.Finish());
  } else {
    arrow::Int64Builder b;
    for (const auto& v : values) {
      if (v.is_int()) ARROW_RETURN_NOT_OK(b.Append(v.as_int()));
    }
    ARROW_ASSIGN_OR_RAISE(arr, b.Finish());
  }
  if (arr->type()->Equals(t)) return arr;
  if (IsTemporal(t) && !any_string && t.id() != arrow::Type::DATE32 && t.id() != arrow::Type::TIME32) {
    // numbers for a temporal column are its physical values
    ARROW_ASSIGN_OR_RAISE(auto as64, arrow::compute::Cast(*arr, arrow::int64()));
    return as64->View(type);
  }
  auto cast = arrow::compute::Cast(*arr, type);
  if (!cast.ok() && t.id() == arrow::Type::TIMESTAMP && any_string) {
    const auto& ts = static_cast<const arrow::TimestampType&>(t);
    auto naive = arrow::compute::Cast(*arr, arrow::timestamp(ts.unit()));
    if (naive.ok()) return (*naive)->View(type);
  }
  if (!cast.ok()) {
    return Status::Invalid(what, " ", Value::MakeList(values).ToString(), " do not fit the column type ", TypeName(t),
                           ": ", cast.status().message());
  }
  return *cast;
}

void SetRowOutcome(int64_t element_count, int64_t unexpected_count, double mostly, ExpectationResult* out) {
  out->element_count = element_count;
  out->unexpected_count = unexpected_count;
  out->unexpected_percent = element_count == 0 ? 0.0 : 100.0 * static_cast<double>(unexpected_count) / element_count;
  if (element_count == 0) {
    out->observed_value = Value();
    out->success = true;
    return;
  }
  double pass = static_cast<double>(element_count - unexpected_count) / static_cast<double>(element_count);
  out->observed_value = Value::Double(pass);
  out->success = unexpected_count == 0 || pass >= mostly - 1e-12;
}

namespace {
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

Result<std::shared_ptr<const Expectation>> Compile(const ExpectationSpec& spec, int index, const std::string& base_dir) {
  std::string ctx = (spec.origin.empty() ? "" : spec.origin + ": ") + "expectation " + std::to_string(index);
  if (spec.type.empty()) {
    return Error(ErrorCode::kInvalidArgument, ctx, ": missing 'type' (e.g. type: not_null)");
  }
  const ExpectationTypeInfo* info = FindExpectationType(spec.type);
  if (info == nullptr) {
    std::string names, hint;
    size_t best = 4;
    for (const auto& t : ExpectationTypes()) {
      names += (names.empty() ? "" : ", ") + t.name;
      size_t d = EditDistance(spec.type, t.name);
      if (d < best) {
        best = d;
        hint = " (did you mean '" + t.name + "'?)";
      }
    }
    return Error(ErrorCode::kInvalidArgument, ctx, ": unknown expectation type '", spec.type, "'", hint, "; known: ", names);
  }
  if (!spec.args.is_map()) return Error(ErrorCode::kInvalidArgument, ctx, ": arguments must be a map");
  // A context with the column, for the messages about arguments.
  std::string col_ctx = ctx + " (" + spec.type;
  const Value* c = spec.args.Find("column");
  if (c != nullptr && c->is_string()) col_ctx += " on '" + c->as_string() + "'";
  col_ctx += ")";
  Args args(spec, col_ctx);
  // Unknown keys first: a misspelt argument would otherwise show up as a missing one.
  {
    std::vector<std::string> allowed = {"name", "meta", "description"};
    if (info->kind == ExpectationKind::kRow) allowed.push_back("mostly");
    for (const auto& a : info->arguments) allowed.push_back(a.name);
    for (const auto& [k, v] : spec.args.as_map()) {
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      std::string list, hint;
      size_t best = 3;
      for (const auto& a : allowed) {
        list += (list.empty() ? "" : ", ") + a;
        size_t d = EditDistance(k, a);
        if (d < best) {
          best = d;
          hint = " (did you mean '" + a + "'?)";
        }
      }
      std::string where = v.line() > 0 ? " (line " + std::to_string(v.line()) + ")" : "";
      return Error(ErrorCode::kInvalidArgument, col_ctx, ": unknown key '", k, "'", where, hint, "; allowed: ", list);
    }
  }

  static const std::set<std::string> kHashed = {"unique", "compound_unique", "distinct_count_between",
                                                "unique_proportion_between", "most_common_value_in_set", "exists_in"};
  std::shared_ptr<Expectation> e;
  if (kHashed.count(spec.type)) {
    ARROW_ASSIGN_OR_RAISE(e, CompileHashed(spec, &args, base_dir));
  } else if (info->kind == ExpectationKind::kRow) {
    ARROW_ASSIGN_OR_RAISE(e, CompileRow(spec, &args, base_dir));
  } else {
    ARROW_ASSIGN_OR_RAISE(e, CompileAggregate(spec, &args));
  }
  e->spec = spec;
  e->index = index;
  e->kind = info->kind;
  if (info->kind == ExpectationKind::kRow) {
    ARROW_ASSIGN_OR_RAISE(auto mostly, args.OptionalNumber("mostly"));
    if (mostly) {
      if (!(*mostly >= 0 && *mostly <= 1)) return args.Error("mostly", "must be between 0 and 1, got " + Value::Double(*mostly).ToString());
      e->mostly = *mostly;
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto name, args.OptionalString("name"));
  args.Get("meta");
  args.Get("description");
  ARROW_RETURN_NOT_OK(args.Finish());
  if (name && !name->empty()) {
    e->display_name = *name;
  } else {
    std::string cols = e->column;
    if (cols.empty()) {
      for (size_t i = 0; i < e->columns.size(); ++i) cols += (i ? ", " : "") + e->columns[i];
    }
    e->display_name = spec.type + "(" + cols + ")";
  }
  return std::shared_ptr<const Expectation>(std::move(e));
}

}  // namespace internal

}  // namespace strata::quality
