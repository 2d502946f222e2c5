#include "strata/table/actions.h"

#include <cstdio>

#include "strata/common/json_writer.h"
#include "strata/table/json_util.h"

namespace strata::table {

using internal::Field;
using internal::JsonValue;
using internal::OptBool;
using internal::OptInt;
using internal::OptString;
using internal::View;

namespace {

Result<std::string> ReqString(const JsonValue& obj, std::string_view key, std::string_view action) {
  auto v = OptString(obj, key);
  if (!v) return Status::Invalid("'", action, "' action without string field '", key, "'");
  return *v;
}

Result<int64_t> ReqInt(const JsonValue& obj, std::string_view key, std::string_view action) {
  auto v = OptInt(obj, key);
  if (!v) return Status::Invalid("'", action, "' action without integer field '", key, "'");
  return *v;
}

StringMap ParseStringMap(const JsonValue& e) {
  StringMap out;
  if (!e.IsObject()) return out;
  for (const auto& kv : e.GetObject()) {
    if (kv.value.IsString()) {
      out.emplace(std::string(View(kv.name)), std::string(View(kv.value)));
    } else if (!kv.value.IsNull()) {
      out.emplace(std::string(View(kv.name)), internal::Minify(kv.value));
    }
  }
  return out;
}

std::optional<StringMap> OptStringMap(const JsonValue& obj, std::string_view key) {
  auto* e = Field(obj, key);
  if (!e) return std::nullopt;
  return ParseStringMap(*e);
}

PartitionValues ParsePartitionValues(const JsonValue& e) {
  PartitionValues out;
  if (!e.IsObject()) return out;
  for (const auto& kv : e.GetObject()) {
    std::string key(View(kv.name));
    if (kv.value.IsString() && kv.value.GetStringLength() > 0) {
      out.emplace(key, std::string(View(kv.value)));
    } else if (!kv.value.IsNull() && !kv.value.IsString()) {
      out.emplace(key, internal::Minify(kv.value));
    } else {
      out.emplace(key, std::nullopt);
    }
  }
  return out;
}

std::optional<std::vector<std::string>> OptStringList(const JsonValue& obj, std::string_view key) {
  auto* e = Field(obj, key);
  if (!e || !e->IsArray()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& item : e->GetArray()) {
    if (item.IsString()) out.emplace_back(View(item));
  }
  return out;
}

Result<std::optional<DeletionVectorDescriptor>> ParseDv(const JsonValue& obj) {
  auto* e = Field(obj, "deletionVector");
  if (!e) return std::nullopt;
  if (!e->IsObject()) return Status::Invalid("deletionVector is not an object");
  const JsonValue& dv = *e;
  DeletionVectorDescriptor d;
  ARROW_ASSIGN_OR_RAISE(d.storage_type, ReqString(dv, "storageType", "deletionVector"));
  ARROW_ASSIGN_OR_RAISE(d.path_or_inline_dv, ReqString(dv, "pathOrInlineDv", "deletionVector"));
  if (auto off = OptInt(dv, "offset")) d.offset = static_cast<int32_t>(*off);
  ARROW_ASSIGN_OR_RAISE(auto size, ReqInt(dv, "sizeInBytes", "deletionVector"));
  d.size_in_bytes = static_cast<int32_t>(size);
  ARROW_ASSIGN_OR_RAISE(d.cardinality, ReqInt(dv, "cardinality", "deletionVector"));
  return d;
}

Result<std::optional<Action>> ParseOne(const JsonValue& root) {
  for (const auto& kv : root.GetObject()) {
    std::string_view kind = View(kv.name);
    if (kv.value.IsNull()) continue;
    if (!kv.value.IsObject()) return Status::Invalid("action '", kind, "' is not a JSON object");
    const JsonValue& obj = kv.value;
    if (kind == "add") {
      AddFile a;
      ARROW_ASSIGN_OR_RAISE(a.path, ReqString(obj, "path", kind));
      if (auto* pv = Field(obj, "partitionValues")) a.partition_values = ParsePartitionValues(*pv);
      ARROW_ASSIGN_OR_RAISE(a.size, ReqInt(obj, "size", kind));
      a.modification_time = OptInt(obj, "modificationTime").value_or(0);
      a.data_change = OptBool(obj, "dataChange").value_or(true);
      a.stats = OptString(obj, "stats");
      a.tags = OptStringMap(obj, "tags");
      ARROW_ASSIGN_OR_RAISE(a.deletion_vector, ParseDv(obj));
      a.base_row_id = OptInt(obj, "baseRowId");
      a.default_row_commit_version = OptInt(obj, "defaultRowCommitVersion");
      a.clustering_provider = OptString(obj, "clusteringProvider");
      return Action(std::move(a));
    }
    if (kind == "remove") {
      RemoveFile r;
      ARROW_ASSIGN_OR_RAISE(r.path, ReqString(obj, "path", kind));
      r.deletion_timestamp = OptInt(obj, "deletionTimestamp");
      r.data_change = OptBool(obj, "dataChange").value_or(true);
      r.extended_file_metadata = OptBool(obj, "extendedFileMetadata");
      if (auto* pv = Field(obj, "partitionValues")) r.partition_values = ParsePartitionValues(*pv);
      r.size = OptInt(obj, "size");
      r.stats = OptString(obj, "stats");
      r.tags = OptStringMap(obj, "tags");
      ARROW_ASSIGN_OR_RAISE(r.deletion_vector, ParseDv(obj));
      r.base_row_id = OptInt(obj, "baseRowId");
      r.default_row_commit_version = OptInt(obj, "defaultRowCommitVersion");
      return Action(std::move(r));
    }
    if (kind == "metaData") {
      Metadata m;
      ARROW_ASSIGN_OR_RAISE(m.id, ReqString(obj, "id", kind));
      m.name = OptString(obj, "name");
      m.description = OptString(obj, "description");
      if (auto* fmt = Field(obj, "format")) {
        m.format_provider = OptString(*fmt, "provider").value_or("parquet");
        if (auto o = OptStringMap(*fmt, "options")) m.format_options = *o;
      }
      // Some writers (Delta Live Tables) commit a metaData without a schema first; the snapshot
      // checks that the metadata it ends with has one.
      m.schema_string = OptString(obj, "schemaString").value_or("");
      m.partition_columns = OptStringList(obj, "partitionColumns").value_or(std::vector<std::string>{});
      if (auto c = OptStringMap(obj, "configuration")) m.configuration = *c;
      m.created_time = OptInt(obj, "createdTime");
      return Action(std::move(m));
    }
    if (kind == "protocol") {
      Protocol p;
      ARROW_ASSIGN_OR_RAISE(auto r, ReqInt(obj, "minReaderVersion", kind));
      ARROW_ASSIGN_OR_RAISE(auto w, ReqInt(obj, "minWriterVersion", kind));
      p.min_reader_version = static_cast<int32_t>(r);
      p.min_writer_version = static_cast<int32_t>(w);
      p.reader_features = OptStringList(obj, "readerFeatures");
      p.writer_features = OptStringList(obj, "writerFeatures");
      return Action(std::move(p));
    }
    if (kind == "txn") {
      Txn t;
      ARROW_ASSIGN_OR_RAISE(t.app_id, ReqString(obj, "appId", kind));
      ARROW_ASSIGN_OR_RAISE(t.version, ReqInt(obj, "version", kind));
      t.last_updated = OptInt(obj, "lastUpdated");
      return Action(std::move(t));
    }
    if (kind == "commitInfo") {
      CommitInfo c;
      c.json = internal::Minify(obj);
      c.timestamp = OptInt(obj, "timestamp");
      c.in_commit_timestamp = OptInt(obj, "inCommitTimestamp");
      c.operation = OptString(obj, "operation");
      return Action(std::move(c));
    }
    if (kind == "domainMetadata") {
      DomainMetadata d;
      ARROW_ASSIGN_OR_RAISE(d.domain, ReqString(obj, "domain", kind));
      d.configuration = OptString(obj, "configuration").value_or("");
      d.removed = OptBool(obj, "removed").value_or(false);
      return Action(std::move(d));
    }
    if (kind == "cdc") {
      AddCdcFile c;
      ARROW_ASSIGN_OR_RAISE(c.path, ReqString(obj, "path", kind));
      if (auto* pv = Field(obj, "partitionValues")) c.partition_values = ParsePartitionValues(*pv);
      c.size = OptInt(obj, "size").value_or(0);
      c.data_change = OptBool(obj, "dataChange").value_or(false);
      c.tags = OptStringMap(obj, "tags");
      return Action(std::move(c));
    }
    if (kind == "checkpointMetadata") {
      CheckpointMetadata c;
      ARROW_ASSIGN_OR_RAISE(c.version, ReqInt(obj, "version", kind));
      return Action(c);
    }
    if (kind == "sidecar") {
      Sidecar sc;
      ARROW_ASSIGN_OR_RAISE(sc.path, ReqString(obj, "path", kind));
      sc.size_in_bytes = OptInt(obj, "sizeInBytes").value_or(0);
      sc.modification_time = OptInt(obj, "modificationTime").value_or(0);
      return Action(std::move(sc));
    }
    // Unknown action kinds are ignored, as the protocol allows.
  }
  return std::nullopt;
}

void WriteStringMap(JsonWriter& w, const StringMap& m) {
  w.BeginObject();
  for (const auto& [k, v] : m) w.Key(k).String(v);
  w.EndObject();
}

void WritePartitionValues(JsonWriter& w, const PartitionValues& pv) {
  w.BeginObject();
  for (const auto& [k, v] : pv) {
    w.Key(k);
    if (v) w.String(*v); else w.Null();
  }
  w.EndObject();
}

void WriteDv(JsonWriter& w, const DeletionVectorDescriptor& d) {
  w.Key("deletionVector").BeginObject();
  w.Key("storageType").String(d.storage_type);
  w.Key("pathOrInlineDv").String(d.path_or_inline_dv);
  if (d.offset) w.Key("offset").Int(*d.offset);
  w.Key("sizeInBytes").Int(d.size_in_bytes);
  w.Key("cardinality").Int(d.cardinality);
  w.EndObject();
}

void WriteStringList(JsonWriter& w, const std::vector<std::string>& v) {
  w.BeginArray();
  for (const auto& s : v) w.String(s);
  w.EndArray();
}

struct Serializer {
  JsonWriter& w;
  void operator()(const Protocol& p) {
    w.Key("protocol").BeginObject();
    w.Key("minReaderVersion").Int(p.min_reader_version);
    w.Key("minWriterVersion").Int(p.min_writer_version);
    if (p.reader_features) WriteStringList(w.Key("readerFeatures"), *p.reader_features);
    if (p.writer_features) WriteStringList(w.Key("writerFeatures"), *p.writer_features);
    w.EndObject();
  }
  void operator()(const Metadata& m) {
    w.Key("metaData").BeginObject();
    w.Key("id").String(m.id);
    if (m.name) w.Key("name").String(*m.name);
    if (m.description) w.Key("description").String(*m.description);
    w.Key("format").BeginObject().Key("provider").String(m.format_provider);
    WriteStringMap(w.Key("options"), m.format_options);
    w.EndObject();
    w.Key("schemaString").String(m.schema_string);
    WriteStringList(w.Key("partitionColumns"), m.partition_columns);
    WriteStringMap(w.Key("configuration"), m.configuration);
    if (m.created_time) w.Key("createdTime").Int(*m.created_time);
    w.EndObject();
  }
  void operator()(const AddFile& a) {
    w.Key("add").BeginObject();
    w.Key("path").String(a.path);
    WritePartitionValues(w.Key("partitionValues"), a.partition_values);
    w.Key("size").Int(a.size);
    w.Key("modificationTime").Int(a.modification_time);
    w.Key("dataChange").Bool(a.data_change);
    if (a.stats) w.Key("stats").String(*a.stats);
    if (a.tags) WriteStringMap(w.Key("tags"), *a.tags);
    if (a.deletion_vector) WriteDv(w, *a.deletion_vector);
    if (a.base_row_id) w.Key("baseRowId").Int(*a.base_row_id);
    if (a.default_row_commit_version) w.Key("defaultRowCommitVersion").Int(*a.default_row_commit_version);
    if (a.clustering_provider) w.Key("clusteringProvider").String(*a.clustering_provider);
    w.EndObject();
  }
  void operator()(const RemoveFile& r) {
    w.Key("remove").BeginObject();
    w.Key("path").String(r.path);
    if (r.deletion_timestamp) w.Key("deletionTimestamp").Int(*r.deletion_timestamp);
    w.Key("dataChange").Bool(r.data_change);
    if (r.extended_file_metadata) w.Key("extendedFileMetadata").Bool(*r.extended_file_metadata);
    if (r.partition_values) WritePartitionValues(w.Key("partitionValues"), *r.partition_values);
    if (r.size) w.Key("size").Int(*r.size);
    if (r.stats) w.Key("stats").String(*r.stats);
    if (r.tags) WriteStringMap(w.Key("tags"), *r.tags);
    if (r.deletion_vector) WriteDv(w, *r.deletion_vector);
    if (r.base_row_id) w.Key("baseRowId").Int(*r.base_row_id);
    if (r.default_row_commit_version) w.Key("defaultRowCommitVersion").Int(*r.default_row_commit_version);
    w.EndObject();
  }
  void operator()(const AddCdcFile& c) {
    w.Key("cdc").BeginObject();
    w.Key("path").String(c.path);
    WritePartitionValues(w.Key("partitionValues"), c.partition_values);
    w.Key("size").Int(c.size);
    w.Key("dataChange").Bool(c.data_change);
    if (c.tags) WriteStringMap(w.Key("tags"), *c.tags);
    w.EndObject();
  }
  void operator()(const Txn& t) {
    w.Key("txn").BeginObject();
    w.Key("appId").String(t.app_id);
    w.Key("version").Int(t.version);
    if (t.last_updated) w.Key("lastUpdated").Int(*t.last_updated);
    w.EndObject();
  }
  void operator()(const DomainMetadata& d) {
    w.Key("domainMetadata").BeginObject();
    w.Key("domain").String(d.domain);
    w.Key("configuration").String(d.configuration);
    w.Key("removed").Bool(d.removed);
    w.EndObject();
  }
  void operator()(const CommitInfo& c) { w.Key("commitInfo").Raw(c.json.empty() ? "{}" : c.json); }
  void operator()(const CheckpointMetadata& c) {
    w.Key("checkpointMetadata").BeginObject().Key("version").Int(c.version).EndObject();
  }
  void operator()(const Sidecar& s) {
    w.Key("sidecar").BeginObject();
    w.Key("path").String(s.path);
    w.Key("sizeInBytes").Int(s.size_in_bytes);
    w.Key("modificationTime").Int(s.modification_time);
    w.EndObject();
  }
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

RemoveFile RemoveFor(const AddFile& f, int64_t deletion_timestamp_ms) {
  RemoveFile r;
  r.path = f.path;
  r.deletion_timestamp = deletion_timestamp_ms;
  r.data_change = true;
  r.extended_file_metadata = true;
  r.partition_values = f.partition_values;
  r.size = f.size;
  r.deletion_vector = f.deletion_vector;
  r.base_row_id = f.base_row_id;
  r.default_row_commit_version = f.default_row_commit_version;
  return r;
}

Result<std::vector<Action>> ParseActions(std::string_view ndjson, std::string_view what) {
  std::vector<Action> out;
  size_t line_no = 0;
  size_t pos = 0;
  internal::JsonDocument doc;
  while (pos < ndjson.size()) {
    size_t end = ndjson.find('\n', pos);
    if (end == std::string_view::npos) end = ndjson.size();
    std::string_view line = ndjson.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    std::string err;
    if (!internal::ParseJson(&doc, line, &err)) {
      return Error(ErrorCode::kCorruptLog, what, " line ", line_no, ": invalid JSON (", err, ")");
    }
    if (!doc.IsObject()) {
      return Error(ErrorCode::kCorruptLog, what, " line ", line_no, ": an action must be a JSON object");
    }
    auto parsed = ParseOne(doc);
    if (!parsed.ok()) {
      return Error(ErrorCode::kCorruptLog, what, " line ", line_no, ": ", parsed.status().message());
    }
    if (parsed->has_value()) out.push_back(std::move(**parsed));
  }
  return out;
}

std::string SerializeAction(const Action& action) {
  JsonWriter w;
  w.BeginObject();
  std::visit(Serializer{w}, action);
  w.EndObject();
  return w.Release();
}

std::string SerializeActions(const std::vector<Action>& actions) {
  std::string out;
  for (const auto& a : actions) {
    out += SerializeAction(a);
    out.push_back('\n');
  }
  return out;
}

std::string DecodePath(std::string_view p) {
  if (p.find('%') == std::string_view::npos) return std::string(p);
  std::string out;
  out.reserve(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '%' && i + 2 < p.size()) {
      int hi = HexValue(p[i + 1]), lo = HexValue(p[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(p[i]);
  }
  return out;
}

std::string EncodePath(std::string_view p) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(p.size());
  for (unsigned char c : p) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == '=' || c == ':' ||
                c == '@' || c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' ||
                c == ')' || c == '*' || c == '+' || c == ',' || c == ';';
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace strata::table
