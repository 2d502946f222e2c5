#include "strata/table/schema.h"

#include <unordered_map>

#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

#include "strata/common/json_writer.h"
#include "strata/table/json_util.h"

namespace strata::table {

using internal::JsonValue;
using internal::View;

namespace {

Result<std::shared_ptr<arrow::DataType>> TypeFromJson(const JsonValue& e, const std::string& column);

Result<std::shared_ptr<arrow::Field>> FieldFromJson(const JsonValue& obj, const std::string& parent) {
  if (!obj.IsObject()) return Status::Invalid("schema field is not an object");
  auto name = internal::OptString(obj, "name");
  if (!name) return Status::Invalid("schema field without a name under '", parent, "'");
  std::string path = parent.empty() ? *name : parent + "." + *name;
  auto* type_e = internal::Field(obj, "type");
  if (!type_e) return Status::Invalid("schema field '", path, "' has no type");
  ARROW_ASSIGN_OR_RAISE(auto type, TypeFromJson(*type_e, path));
  bool nullable = internal::OptBool(obj, "nullable").value_or(true);
  std::shared_ptr<arrow::KeyValueMetadata> md;
  if (auto* m = internal::Field(obj, "metadata")) {
    if (m->IsObject() && m->MemberCount() > 0) {
      md = std::make_shared<arrow::KeyValueMetadata>();
      for (const auto& kv : m->GetObject()) md->Append(std::string(View(kv.name)), internal::Minify(kv.value));
    }
  }
  return arrow::field(*name, std::move(type), nullable, std::move(md));
}

Result<std::shared_ptr<arrow::DataType>> PrimitiveFromName(std::string_view n, const std::string& column) {
  if (n == "string") return arrow::utf8();
  if (n == "long") return arrow::int64();
  if (n == "integer") return arrow::int32();
  if (n == "short") return arrow::int16();
  if (n == "byte") return arrow::int8();
  if (n == "float") return arrow::float32();
  if (n == "double") return arrow::float64();
  if (n == "boolean") return arrow::boolean();
  if (n == "binary") return arrow::binary();
  if (n == "date") return arrow::date32();
  if (n == "timestamp") return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  if (n == "timestamp_ntz") return arrow::timestamp(arrow::TimeUnit::MICRO);
  if (n == "void") return arrow::null();
  if (n.rfind("decimal", 0) == 0) {
    int p = 10, s = 0;
    if (n != "decimal" && std::sscanf(std::string(n).c_str(), "decimal(%d,%d)", &p, &s) != 2 &&
        std::sscanf(std::string(n).c_str(), "decimal(%d, %d)", &p, &s) != 2) {
      return Status::Invalid("bad decimal type '", n, "' for column '", column, "'");
    }
    if (p < 1 || p > 38 || s < 0 || s > p) {
      return Status::Invalid("bad decimal precision/scale in '", n, "' for column '", column, "'");
    }
    return arrow::decimal128(p, s);
  }
  if (n == "variant") {
    return Error(ErrorCode::kUnsupportedFeature, "column '", column,
                 "' has type 'variant' (table feature variantType), which strata does not read yet");
  }
  return Error(ErrorCode::kUnsupportedFeature, "column '", column, "' has unsupported type '", n, "'");
}

Result<std::shared_ptr<arrow::DataType>> TypeFromJson(const JsonValue& e, const std::string& column) {
  if (e.IsString()) return PrimitiveFromName(View(e), column);
  if (!e.IsObject()) return Status::Invalid("bad type for column '", column, "'");
  const JsonValue& obj = e;
  auto kind = internal::OptString(obj, "type").value_or("");
  if (kind == "struct") {
    auto* fields_e = internal::Field(obj, "fields");
    if (!fields_e || !fields_e->IsArray()) {
      return Status::Invalid("struct without fields at '", column, "'");
    }
    arrow::FieldVector fields;
    for (const auto& f : fields_e->GetArray()) {
      ARROW_ASSIGN_OR_RAISE(auto field, FieldFromJson(f, column));
      if (field->type()->id() == arrow::Type::NA) continue;  // void columns are dropped on read
      fields.push_back(std::move(field));
    }
    return arrow::struct_(fields);
  }
  if (kind == "array") {
    auto* el = internal::Field(obj, "elementType");
    if (!el) return Status::Invalid("array without elementType at '", column, "'");
    ARROW_ASSIGN_OR_RAISE(auto et, TypeFromJson(*el, column + ".element"));
    bool contains_null = internal::OptBool(obj, "containsNull").value_or(true);
    return arrow::list(arrow::field("element", et, contains_null));
  }
  if (kind == "map") {
    auto* k = internal::Field(obj, "keyType");
    auto* v = internal::Field(obj, "valueType");
    if (!k || !v) return Status::Invalid("map without keyType/valueType at '", column, "'");
    ARROW_ASSIGN_OR_RAISE(auto kt, TypeFromJson(*k, column + ".key"));
    ARROW_ASSIGN_OR_RAISE(auto vt, TypeFromJson(*v, column + ".value"));
    bool vnull = internal::OptBool(obj, "valueContainsNull").value_or(true);
    return std::make_shared<arrow::MapType>(arrow::field("key", kt, false), arrow::field("value", vt, vnull));
  }
  if (kind == "variant") return PrimitiveFromName("variant", column);
  return Error(ErrorCode::kUnsupportedFeature, "column '", column, "' has unsupported type '", kind, "'");
}

Status WriteType(JsonWriter& w, const arrow::DataType& t, const std::string& column);

Status WriteField(JsonWriter& w, const arrow::Field& f, const std::string& parent) {
  std::string path = parent.empty() ? f.name() : parent + "." + f.name();
  w.BeginObject();
  w.Key("name").String(f.name());
  w.Key("type");
  ARROW_RETURN_NOT_OK(WriteType(w, *f.type(), path));
  w.Key("nullable").Bool(f.nullable());
  w.Key("metadata").BeginObject();
  if (f.metadata()) {
    for (int64_t i = 0; i < f.metadata()->size(); ++i) {
      const auto& k = f.metadata()->key(i);
      if (k.rfind("PARQUET:", 0) == 0 || k.rfind("ARROW:", 0) == 0) continue;
      const auto& v = f.metadata()->value(i);
      // Values are raw JSON; a plain string set by a user is written as a JSON string.
      internal::JsonDocument tmp;
      if (internal::ParseJson(&tmp, v)) {
        w.Key(k).Raw(v);
      } else {
        w.Key(k).String(v);
      }
    }
  }
  w.EndObject();
  w.EndObject();
  return Status::OK();
}

Status WriteType(JsonWriter& w, const arrow::DataType& t, const std::string& column) {
  using arrow::Type;
  switch (t.id()) {
    case Type::STRING: case Type::LARGE_STRING: case Type::STRING_VIEW: w.String("string"); break;
    case Type::INT64: case Type::UINT32: w.String("long"); break;
    case Type::INT32: case Type::UINT16: w.String("integer"); break;
    case Type::INT16: case Type::UINT8: w.String("short"); break;
    case Type::INT8: w.String("byte"); break;
    case Type::FLOAT: case Type::HALF_FLOAT: w.String("float"); break;
    case Type::DOUBLE: w.String("double"); break;
    case Type::BOOL: w.String("boolean"); break;
    case Type::BINARY: case Type::LARGE_BINARY: case Type::FIXED_SIZE_BINARY: case Type::BINARY_VIEW:
      w.String("binary"); break;
    case Type::DATE32: case Type::DATE64: w.String("date"); break;
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(t);
      w.String(ts.timezone().empty() ? "timestamp_ntz" : "timestamp");
      break;
    }
    case Type::DECIMAL32: case Type::DECIMAL64: case Type::DECIMAL128: {
      const auto& d = static_cast<const arrow::DecimalType&>(t);
      w.String("decimal(" + std::to_string(d.precision()) + "," + std::to_string(d.scale()) + ")");
      break;
    }
    case Type::STRUCT: {
      w.BeginObject().Key("type").String("struct").Key("fields").BeginArray();
      for (const auto& f : t.fields()) ARROW_RETURN_NOT_OK(WriteField(w, *f, column));
      w.EndArray().EndObject();
      break;
    }
    case Type::LIST: case Type::LARGE_LIST: case Type::LIST_VIEW: case Type::FIXED_SIZE_LIST: {
      const auto& vf = t.field(0);
      w.BeginObject().Key("type").String("array").Key("elementType");
      ARROW_RETURN_NOT_OK(WriteType(w, *vf->type(), column + ".element"));
      w.Key("containsNull").Bool(vf->nullable()).EndObject();
      break;
    }
    case Type::MAP: {
      const auto& m = static_cast<const arrow::MapType&>(t);
      w.BeginObject().Key("type").String("map").Key("keyType");
      ARROW_RETURN_NOT_OK(WriteType(w, *m.key_type(), column + ".key"));
      w.Key("valueType");
      ARROW_RETURN_NOT_OK(WriteType(w, *m.item_type(), column + ".value"));
      w.Key("valueContainsNull").Bool(m.item_field()->nullable()).EndObject();
      break;
    }
    case Type::DICTIONARY: {
      const auto& d = static_cast<const arrow::DictionaryType&>(t);
      return WriteType(w, *d.value_type(), column);
    }
    default:
      return Error(ErrorCode::kSchemaMismatch, "column '", column, "' has Arrow type ", t.ToString(),
                   ", which a Delta table cannot store");
  }
  return Status::OK();
}

int IntRank(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::INT8: return 1;
    case arrow::Type::INT16: return 2;
    case arrow::Type::INT32: return 3;
    case arrow::Type::INT64: return 4;
    default: return 0;
  }
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Result<std::shared_ptr<arrow::DataType>> ReconcileType(const std::shared_ptr<arrow::DataType>& table,
                                                       const std::shared_ptr<arrow::DataType>& data,
                                                       SchemaMode mode, const std::string& column);

Result<arrow::FieldVector> ReconcileFields(const arrow::FieldVector& table, const arrow::FieldVector& data,
                                           SchemaMode mode, const std::string& parent) {
  arrow::FieldVector out = table;
  std::unordered_map<std::string, size_t> by_lower;
  for (size_t i = 0; i < table.size(); ++i) by_lower[Lower(table[i]->name())] = i;
  for (const auto& df : data) {
    std::string path = parent.empty() ? df->name() : parent + "." + df->name();
    auto it = by_lower.find(Lower(df->name()));
    if (it == by_lower.end()) {
      if (mode != SchemaMode::kMerge) {
        return Error(ErrorCode::kSchemaMismatch, "column '", path,
                     "' is not in the table schema (write with schema_mode=\"merge\" to add it)");
      }
      ARROW_ASSIGN_OR_RAISE(auto nt, NormalizeType(df->type()));
      out.push_back(arrow::field(df->name(), nt, true));
      by_lower[Lower(df->name())] = out.size() - 1;
      continue;
    }
    auto& tf = out[it->second];
    ARROW_ASSIGN_OR_RAISE(auto t, ReconcileType(tf->type(), df->type(), mode, path));
    if (!t->Equals(*tf->type())) tf = tf->WithType(t);
  }
  return out;
}

Result<std::shared_ptr<arrow::DataType>> ReconcileType(const std::shared_ptr<arrow::DataType>& table,
                                                       const std::shared_ptr<arrow::DataType>& data_raw,
                                                       SchemaMode mode, const std::string& column) {
  ARROW_ASSIGN_OR_RAISE(auto data, NormalizeType(data_raw));
  if (data->id() == arrow::Type::NA) return table;  // an all-null column fits any type
  if (table->id() == arrow::Type::STRUCT && data->id() == arrow::Type::STRUCT) {
    ARROW_ASSIGN_OR_RAISE(auto fields, ReconcileFields(table->fields(), data->fields(), mode, column));
    return arrow::struct_(fields);
  }
  if (table->id() == arrow::Type::LIST && data->id() == arrow::Type::LIST) {
    ARROW_ASSIGN_OR_RAISE(auto et, ReconcileType(table->field(0)->type(), data->field(0)->type(), mode,
                                                 column + ".element"));
    return arrow::list(table->field(0)->WithType(et));
  }
  if (table->Equals(*data, /*check_metadata=*/false)) return table;
  if (table->id() == arrow::Type::MAP && data->id() == arrow::Type::MAP) {
    const auto& tm = static_cast<const arrow::MapType&>(*table);
    const auto& dm = static_cast<const arrow::MapType&>(*data);
    if (tm.key_type()->Equals(*dm.key_type()) && tm.item_type()->Equals(*dm.item_type())) return table;
  }
  if (CanWiden(*data, *table)) return table;  // narrower data is upcast on write
  if (mode == SchemaMode::kMerge && CanWiden(*table, *data)) return data;  // type widening
  return Error(ErrorCode::kSchemaMismatch, "column '", column, "' has type ", table->ToString(),
               " in the table but ", data_raw->ToString(), " in the data");
}

}  // namespace

Result<ColumnMappingMode> ParseColumnMappingMode(const std::string& value) {
  if (value.empty() || value == "none") return ColumnMappingMode::kNone;
  if (value == "name") return ColumnMappingMode::kName;
  if (value == "id") return ColumnMappingMode::kId;
  return Error(ErrorCode::kUnsupportedFeature, "unknown delta.columnMapping.mode '", value, "'");
}

Result<std::shared_ptr<arrow::Schema>> SchemaFromJson(const std::string& schema_json) {
  internal::JsonDocument doc;
  std::string err;
  if (!internal::ParseJson(&doc, schema_json, &err)) {
    return Error(ErrorCode::kCorruptLog, "schemaString is not valid JSON: ", err);
  }
  auto type = TypeFromJson(doc, "");
  if (!type.ok()) {
    if (GetDetail(type.status())) return type.status();
    return Error(ErrorCode::kCorruptLog, "bad schemaString: ", type.status().message());
  }
  if ((*type)->id() != arrow::Type::STRUCT) return Error(ErrorCode::kCorruptLog, "schemaString is not a struct");
  return arrow::schema((*type)->fields());
}

Result<std::string> SchemaToJson(const arrow::Schema& schema) {
  JsonWriter w;
  w.BeginObject().Key("type").String("struct").Key("fields").BeginArray();
  for (const auto& f : schema.fields()) ARROW_RETURN_NOT_OK(WriteField(w, *f, ""));
  w.EndArray().EndObject();
  return w.Release();
}

Result<std::string> TypeToJson(const arrow::DataType& type) {
  JsonWriter w;
  ARROW_RETURN_NOT_OK(WriteType(w, type, ""));
  return w.Release();
}

Result<std::shared_ptr<arrow::DataType>> NormalizeType(const std::shared_ptr<arrow::DataType>& t) {
  using arrow::Type;
  switch (t->id()) {
    case Type::LARGE_STRING: case Type::STRING_VIEW: return arrow::utf8();
    case Type::LARGE_BINARY: case Type::BINARY_VIEW: case Type::FIXED_SIZE_BINARY: return arrow::binary();
    case Type::UINT8: return arrow::int16();
    case Type::UINT16: return arrow::int32();
    case Type::UINT32: return arrow::int64();
    case Type::HALF_FLOAT: return arrow::float32();
    case Type::DATE64: return arrow::date32();
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(*t);
      return arrow::timestamp(arrow::TimeUnit::MICRO, ts.timezone().empty() ? "" : "UTC");
    }
    case Type::DECIMAL32: case Type::DECIMAL64: {
      const auto& d = static_cast<const arrow::DecimalType&>(*t);
      return arrow::decimal128(d.precision(), d.scale());
    }
    case Type::DICTIONARY: return NormalizeType(static_cast<const arrow::DictionaryType&>(*t).value_type());
    case Type::STRUCT: {
      arrow::FieldVector fs;
      for (const auto& f : t->fields()) {
        ARROW_ASSIGN_OR_RAISE(auto ft, NormalizeType(f->type()));
        fs.push_back(f->WithType(ft));
      }
      return arrow::struct_(fs);
    }
    case Type::LARGE_LIST: case Type::LIST_VIEW: case Type::LIST: case Type::FIXED_SIZE_LIST: {
      ARROW_ASSIGN_OR_RAISE(auto et, NormalizeType(t->field(0)->type()));
      return arrow::list(arrow::field("element", et, t->field(0)->nullable()));
    }
    case Type::MAP: {
      const auto& m = static_cast<const arrow::MapType&>(*t);
      ARROW_ASSIGN_OR_RAISE(auto kt, NormalizeType(m.key_type()));
      ARROW_ASSIGN_OR_RAISE(auto vt, NormalizeType(m.item_type()));
      return std::make_shared<arrow::MapType>(arrow::field("key", kt, false),
                                              arrow::field("value", vt, m.item_field()->nullable()));
    }
    case Type::UINT64:
      return Error(ErrorCode::kSchemaMismatch, "uint64 has no lossless Delta type; cast it to int64 or decimal(20,0)");
    default:
      return t;
  }
}

std::string PhysicalName(const arrow::Field& field, ColumnMappingMode mode) {
  if (mode == ColumnMappingMode::kNone || !field.metadata()) return field.name();
  auto v = field.metadata()->Get(kPhysicalNameKey);
  if (!v.ok()) return field.name();
  std::string s = *v;
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::optional<int32_t> FieldId(const arrow::Field& field) {
  if (!field.metadata()) return std::nullopt;
  auto v = field.metadata()->Get(kFieldIdKey);
  if (!v.ok()) return std::nullopt;
  try {
    return static_cast<int32_t>(std::stol(*v));
  } catch (...) {
    return std::nullopt;
  }
}

bool CanWiden(const arrow::DataType& from, const arrow::DataType& to) {
  using arrow::Type;
  if (from.Equals(to)) return true;
  int rf = IntRank(from.id()), rt = IntRank(to.id());
  if (rf && rt) return rf <= rt;
  if (from.id() == Type::FLOAT && to.id() == Type::DOUBLE) return true;
  if (rf && rf <= 3 && to.id() == Type::DOUBLE) return true;
  if (from.id() == Type::DATE32 && to.id() == Type::TIMESTAMP &&
      static_cast<const arrow::TimestampType&>(to).timezone().empty()) {
    return true;
  }
  if (from.id() == Type::DECIMAL128 && to.id() == Type::DECIMAL128) {
    const auto& a = static_cast<const arrow::DecimalType&>(from);
    const auto& b = static_cast<const arrow::DecimalType&>(to);
    return b.scale() >= a.scale() && (b.precision() - b.scale()) >= (a.precision() - a.scale());
  }
  if (rf && to.id() == Type::DECIMAL128) {
    const auto& b = static_cast<const arrow::DecimalType&>(to);
    static const int kDigits[] = {0, 3, 5, 10, 20};
    return b.precision() - b.scale() >= kDigits[rf];
  }
  return false;
}

Result<std::shared_ptr<arrow::Schema>> ReconcileSchema(const arrow::Schema& table, const arrow::Schema& data,
                                                       SchemaMode mode) {
  if (mode == SchemaMode::kOverwrite) {
    arrow::FieldVector fs;
    for (const auto& f : data.fields()) {
      ARROW_ASSIGN_OR_RAISE(auto t, NormalizeType(f->type()));
      fs.push_back(arrow::field(f->name(), t, f->nullable()));
    }
    return arrow::schema(fs);
  }
  ARROW_ASSIGN_OR_RAISE(auto fields, ReconcileFields(table.fields(), data.fields(), mode, ""));
  // A non-nullable table column must be present in the data.
  for (const auto& tf : table.fields()) {
    if (tf->nullable()) continue;
    bool found = false;
    for (const auto& df : data.fields()) found |= Lower(df->name()) == Lower(tf->name());
    if (!found) {
      return Error(ErrorCode::kSchemaMismatch, "column '", tf->name(),
                   "' is NOT NULL in the table but missing from the data");
    }
  }
  return arrow::schema(fields);
}

}  // namespace strata::table
