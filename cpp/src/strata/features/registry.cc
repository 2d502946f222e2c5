// The registry's declarations: YAML (and the canonical JSON, which is YAML too) into Repository,
// the cross-reference checks, the canonical JSON form, and plans. No Arrow here: the tables are
// checked in registry_store.cc.
#include "strata/features/registry.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "strata/common/json_writer.h"
#include "strata/quality/suite.h"

namespace strata::features {

namespace fs = std::filesystem;
using quality::Value;

std::string Location::ToString() const {
  if (file.empty()) return "<registry>";
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

const char* FeatureTypeName(FeatureType type) {
  switch (type) {
    case FeatureType::kInt64: return "int64";
    case FeatureType::kInt32: return "int32";
    case FeatureType::kFloat64: return "float64";
    case FeatureType::kFloat32: return "float32";
    case FeatureType::kString: return "string";
    case FeatureType::kBool: return "bool";
    case FeatureType::kTimestamp: return "timestamp";
    case FeatureType::kFloatList: return "float_list";
  }
  return "?";
}

Result<FeatureType> ParseFeatureType(std::string_view name) {
  static const std::pair<const char*, FeatureType> kNames[] = {
      {"int64", FeatureType::kInt64},     {"int", FeatureType::kInt64},         {"long", FeatureType::kInt64},
      {"int32", FeatureType::kInt32},     {"float64", FeatureType::kFloat64},   {"double", FeatureType::kFloat64},
      {"float32", FeatureType::kFloat32}, {"float", FeatureType::kFloat32},     {"string", FeatureType::kString},
      {"str", FeatureType::kString},      {"bool", FeatureType::kBool},         {"boolean", FeatureType::kBool},
      {"timestamp", FeatureType::kTimestamp}, {"float_list", FeatureType::kFloatList},
  };
  for (const auto& [n, t] : kNames) {
    if (name == n) return t;
  }
  return Error(ErrorCode::kInvalidArgument, "unknown type '", name,
               "' (int64, int32, float64, float32, string, bool, timestamp, float_list)");
}

namespace {

/// Errors of one file: "file:line: message".
struct Ctx {
  std::string file;
  Status Fail(const Value& at, std::string_view message) const {
    return Error(ErrorCode::kInvalidArgument, file, ":", std::max(1, at.line()), ": ", message);
  }
  Location Loc(const Value& at) const { return Location{file, at.line()}; }
};

/// The keys of `map`, each checked against `allowed`.
Status CheckKeys(const Ctx& ctx, const Value& map, const std::string& what, std::initializer_list<const char*> allowed) {
  for (const auto& [k, v] : map.as_map()) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || k == a;
    if (k == "_location") ok = true;  // the canonical JSON's record of the original position
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return ctx.Fail(v, "unknown key '" + k + "' in " + what + " (allowed: " + list + ")");
    }
  }
  return Status::OK();
}

Result<std::string> GetString(const Ctx& ctx, const Value& map, const char* key, const std::string& what,
                              bool required) {
  const Value* v = map.Find(key);
  if (v == nullptr || v->is_null()) {
    if (required) return ctx.Fail(map, what + " needs '" + key + "'");
    return std::string();
  }
  if (!v->is_string()) return ctx.Fail(*v, what + ": '" + key + "' must be text, got " + v->ToString());
  if (required && v->as_string().empty()) return ctx.Fail(*v, what + ": '" + key + "' must not be empty");
  return v->as_string();
}

Result<std::string> GetName(const Ctx& ctx, const Value& map, const std::string& what) {
  ARROW_ASSIGN_OR_RAISE(auto name, GetString(ctx, map, "name", what, true));
  for (char c : name) {
    if (c == ':' || c == '\n' || c == '"') {
      return ctx.Fail(*map.Find("name"), what + " name '" + name + "' must not contain ':', '\"' or a newline");
    }
  }
  if (name.find("__") != std::string::npos) {
    return ctx.Fail(*map.Find("name"), what + " name '" + name + "' must not contain '__' (it separates view and feature)");
  }
  return name;
}

Result<std::vector<std::string>> GetStringList(const Ctx& ctx, const Value& map, const char* key,
                                               const std::string& what, bool required) {
  const Value* v = map.Find(key);
  std::vector<std::string> out;
  if (v == nullptr || v->is_null()) {
    if (required) return ctx.Fail(map, what + " needs '" + key + "'");
    return out;
  }
  if (v->is_string()) return std::vector<std::string>{v->as_string()};
  if (!v->is_list()) return ctx.Fail(*v, what + ": '" + key + "' must be a list of names");
  for (const auto& item : v->as_list()) {
    if (!item.is_string()) return ctx.Fail(item, what + ": '" + key + "' must hold names, got " + item.ToString());
    out.push_back(item.as_string());
  }
  if (required && out.empty()) return ctx.Fail(*v, what + ": '" + key + "' must not be empty");
  return out;
}

Result<Location> GetLocation(const Ctx& ctx, const Value& map) {
  const Value* v = map.Find("_location");
  if (v == nullptr) return ctx.Loc(map);
  if (!v->is_string()) return ctx.Fail(*v, "'_location' must be text");
  const std::string& s = v->as_string();
  Location loc;
  auto colon = s.rfind(':');
  if (colon != std::string::npos && colon + 1 < s.size() &&
      std::all_of(s.begin() + colon + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    loc.file = s.substr(0, colon);
    const char* first = s.data() + colon + 1;
    const auto [end, ec] = std::from_chars(first, s.data() + s.size(), loc.line);
    if (ec != std::errc() || end != s.data() + s.size()) {
      return ctx.Fail(*v, "'_location' line number '" + s.substr(colon + 1, 20) + "' is out of range");
    }
  } else {
    loc.file = s;
  }
  return loc;
}

Result<int64_t> ParseDuration(const Ctx& ctx, const Value& v, const std::string& what) {
  if (v.is_int()) {
    if (v.as_int() < 0) return ctx.Fail(v, what + " must not be negative");
    return v.as_int() * 1000000;
  }
  if (!v.is_string()) return ctx.Fail(v, what + " must be a duration like 90s, 15m, 2h, 7d");
  const std::string& s = v.as_string();
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  std::string unit = s.substr(i);
  if (i == 0 || i > 15) return ctx.Fail(v, what + " '" + s + "' is not a duration like 90s, 15m, 2h, 7d");
  int64_t n = std::stoll(s.substr(0, i));
  static const std::pair<const char*, int64_t> kUnits[] = {
      {"us", 1}, {"ms", 1000}, {"s", 1000000}, {"m", 60000000}, {"h", 3600000000LL}, {"d", 86400000000LL},
      {"w", 604800000000LL}};
  for (const auto& [u, mult] : kUnits) {
    if (unit == u) {
      if (n > INT64_MAX / mult) return ctx.Fail(v, what + " '" + s + "' is too long");
      return n * mult;
    }
  }
  return ctx.Fail(v, what + " '" + s + "' has an unknown unit (us, ms, s, m, h, d, w)");
}

Result<std::vector<Field>> GetFields(const Ctx& ctx, const Value& map, const char* key, const std::string& what,
                                     bool required) {
  const Value* v = map.Find(key);
  std::vector<Field> out;
  if (v == nullptr || v->is_null()) {
    if (required) return ctx.Fail(map, what + " needs '" + key + "'");
    return out;
  }
  if (!v->is_list()) return ctx.Fail(*v, what + ": '" + key + "' must be a list of {name, type}");
  std::set<std::string> seen;
  for (const auto& item : v->as_list()) {
    Field f;
    if (item.is_string()) {
      return ctx.Fail(item, what + ": '" + key + "' entry '" + item.as_string() + "' needs a type: {name: " +
                                item.as_string() + ", type: float64}");
    }
    if (!item.is_map()) return ctx.Fail(item, what + ": '" + key + "' entries must be {name, type}");
    ARROW_RETURN_NOT_OK(CheckKeys(ctx, item, what + " " + key, {"name", "type", "description", "dtype"}));
    ARROW_ASSIGN_OR_RAISE(f.name, GetString(ctx, item, "name", what + " " + key, true));
    const Value* t = item.Find("type");
    if (t == nullptr) t = item.Find("dtype");
    if (t == nullptr || !t->is_string()) return ctx.Fail(item, what + ": " + key + " '" + f.name + "' needs a type");
    auto type = ParseFeatureType(t->as_string());
    if (!type.ok()) return ctx.Fail(*t, what + ": " + key + " '" + f.name + "': " + type.status().message());
    f.type = *type;
    ARROW_ASSIGN_OR_RAISE(f.description, GetString(ctx, item, "description", what, false));
    if (!seen.insert(f.name).second) return ctx.Fail(item, what + ": duplicate " + key + " '" + f.name + "'");
    out.push_back(std::move(f));
  }
  if (required && out.empty()) return ctx.Fail(*v, what + ": '" + key + "' must not be empty");
  return out;
}

bool IsUri(const std::string& s) { return s.find("://") != std::string::npos; }

std::string ResolvePath(const std::string& root, const std::string& p) {
  if (p.empty() || IsUri(p)) return p;
  if (fs::path(p).is_absolute()) return fs::path(p).lexically_normal().string();
  return (fs::path(root) / p).lexically_normal().string();
}

/// Collected declarations before cross-checking.
struct Collected {
  Repository repo;
  // kind -> name -> location of the first declaration
  std::map<std::string, std::map<std::string, Location>> names;
};

Status Declare(Collected* c, const Ctx& ctx, const Value& at, const std::string& kind, const std::string& name) {
  auto& m = c->names[kind];
  auto it = m.find(name);
  if (it != m.end()) {
    return ctx.Fail(at, "duplicate " + kind + " '" + name + "' (first declared at " + it->second.ToString() + ")");
  }
  // Feature views and on-demand views share one namespace: references name either.
  if (kind == "feature_view" || kind == "on_demand_feature_view") {
    const char* other = kind == "feature_view" ? "on_demand_feature_view" : "feature_view";
    auto& o = c->names[other];
    if (auto jt = o.find(name); jt != o.end()) {
      return ctx.Fail(at, "duplicate view name '" + name + "' (also a " + other + " at " + jt->second.ToString() + ")");
    }
  }
  m.emplace(name, ctx.Loc(at));
  return Status::OK();
}

Status ParseEntity(Collected* c, const Ctx& ctx, const Value& item) {
  const std::string what = "entity";
  ARROW_RETURN_NOT_OK(CheckKeys(ctx, item, what, {"name", "join_keys", "description", "tags", "owner"}));
  Entity e;
  ARROW_ASSIGN_OR_RAISE(e.name, GetName(ctx, item, what));
  const std::string w = "entity '" + e.name + "'";
  const Value* keys = item.Find("join_keys");
  if (keys == nullptr) return ctx.Fail(item, w + " needs 'join_keys'");
  if (keys->is_list()) {
    for (const auto& k : keys->as_list()) {
      if (k.is_string()) {  // shorthand: a name, typed int64
        e.join_keys.push_back(Field{k.as_string(), FeatureType::kInt64, ""});
      }
    }
  }
  if (e.join_keys.empty()) {
    ARROW_ASSIGN_OR_RAISE(e.join_keys, GetFields(ctx, item, "join_keys", w, true));
  } else if (e.join_keys.size() != keys->as_list().size()) {
    return ctx.Fail(*keys, w + ": join_keys must be all names or all {name, type}");
  }
  for (size_t i = 0; i < e.join_keys.size(); ++i) {
    if (e.join_keys[i].type != FeatureType::kInt64 && e.join_keys[i].type != FeatureType::kString) {
      return ctx.Fail(*keys, w + ": join key '" + e.join_keys[i].name + "' has type " +
                                 FeatureTypeName(e.join_keys[i].type) + "; join keys are int64 or string");
    }
  }
  ARROW_ASSIGN_OR_RAISE(e.description, GetString(ctx, item, "description", w, false));
  ARROW_ASSIGN_OR_RAISE(e.location, GetLocation(ctx, item));
  ARROW_RETURN_NOT_OK(Declare(c, ctx, item, "entity", e.name));
  c->repo.entities.push_back(std::move(e));
  return Status::OK();
}

Status ParseSource(Collected* c, const Ctx& ctx, const Value& item, const std::string& root) {
  const std::string what = "source";
  ARROW_RETURN_NOT_OK(CheckKeys(ctx, item, what,
                                {"name", "table", "path", "timestamp_field", "created_timestamp_field", "kafka",
                                 "description", "tags", "owner"}));
  Source s;
  ARROW_ASSIGN_OR_RAISE(s.name, GetName(ctx, item, what));
  const std::string w = "source '" + s.name + "'";
  ARROW_ASSIGN_OR_RAISE(s.table, GetString(ctx, item, "table", w, false));
  if (s.table.empty()) {
    ARROW_ASSIGN_OR_RAISE(s.table, GetString(ctx, item, "path", w, false));
  }
  s.table_uri = ResolvePath(root, s.table);
  ARROW_ASSIGN_OR_RAISE(s.timestamp_field, GetString(ctx, item, "timestamp_field", w, true));
  ARROW_ASSIGN_OR_RAISE(s.created_timestamp_field, GetString(ctx, item, "created_timestamp_field", w, false));
  if (const Value* k = item.Find("kafka"); k != nullptr && !k->is_null()) {
    if (!k->is_map()) return ctx.Fail(*k, w + ": 'kafka' must be {topic, bootstrap_servers}");
    ARROW_RETURN_NOT_OK(CheckKeys(ctx, *k, w + " kafka", {"topic", "bootstrap_servers"}));
    ARROW_ASSIGN_OR_RAISE(s.kafka_topic, GetString(ctx, *k, "topic", w + " kafka", true));
    ARROW_ASSIGN_OR_RAISE(s.kafka_bootstrap_servers, GetString(ctx, *k, "bootstrap_servers", w + " kafka", false));
  }
  if (s.table.empty() && s.kafka_topic.empty()) {
    return ctx.Fail(item, w + " needs 'table' (a strata table) or 'kafka' (a topic)");
  }
  ARROW_ASSIGN_OR_RAISE(s.description, GetString(ctx, item, "description", w, false));
  ARROW_ASSIGN_OR_RAISE(s.location, GetLocation(ctx, item));
  ARROW_RETURN_NOT_OK(Declare(c, ctx, item, "source", s.name));
  c->repo.sources.push_back(std::move(s));
  return Status::OK();
}

Status ParseView(Collected* c, const Ctx& ctx, const Value& item) {
  const std::string what = "feature view";
  ARROW_RETURN_NOT_OK(CheckKeys(ctx, item, what,
                                {"name", "entities", "source", "ttl", "online", "features", "schema", "tags",
                                 "owner", "description"}));
  FeatureView v;
  ARROW_ASSIGN_OR_RAISE(v.name, GetName(ctx, item, what));
  const std::string w = "feature view '" + v.name + "'";
  ARROW_ASSIGN_OR_RAISE(v.entities, GetStringList(ctx, item, "entities", w, true));
  ARROW_ASSIGN_OR_RAISE(v.source, GetString(ctx, item, "source", w, true));
  if (const Value* t = item.Find("ttl"); t != nullptr && !t->is_null()) {
    ARROW_ASSIGN_OR_RAISE(int64_t ttl, ParseDuration(ctx, *t, w + ": ttl"));
    if (ttl > 0) v.ttl_us = ttl;  // 0 means no limit, as in Feast
  }
  if (const Value* o = item.Find("online"); o != nullptr && !o->is_null()) {
    if (!o->is_bool()) return ctx.Fail(*o, w + ": 'online' must be true or false");
    v.online = o->as_bool();
  }
  const char* fkey = item.Find("features") != nullptr ? "features" : "schema";
  ARROW_ASSIGN_OR_RAISE(v.features, GetFields(ctx, item, fkey, w, true));
  if (const Value* tags = item.Find("tags"); tags != nullptr && !tags->is_null()) {
    if (!tags->is_map()) return ctx.Fail(*tags, w + ": 'tags' must be a map of text");
    for (const auto& [k, tv] : tags->as_map()) {
      if (tv.is_map() || tv.is_list() || tv.is_null()) return ctx.Fail(tv, w + ": tag '" + k + "' must be text");
      v.tags[k] = tv.is_string() ? tv.as_string() : tv.ToString();
    }
  }
  ARROW_ASSIGN_OR_RAISE(v.owner, GetString(ctx, item, "owner", w, false));
  ARROW_ASSIGN_OR_RAISE(v.description, GetString(ctx, item, "description", w, false));
  ARROW_ASSIGN_OR_RAISE(v.location, GetLocation(ctx, item));
  ARROW_RETURN_NOT_OK(Declare(c, ctx, item, "feature_view", v.name));
  c->repo.feature_views.push_back(std::move(v));
  return Status::OK();
}

Status ParseOnDemand(Collected* c, const Ctx& ctx, const Value& item) {
  const std::string what = "on-demand feature view";
  ARROW_RETURN_NOT_OK(CheckKeys(ctx, item, what,
                                {"name", "sources", "request", "request_data", "features", "description", "owner",
                                 "tags"}));
  OnDemandFeatureView v;
  ARROW_ASSIGN_OR_RAISE(v.name, GetName(ctx, item, what));
  const std::string w = "on-demand feature view '" + v.name + "'";
  ARROW_ASSIGN_OR_RAISE(v.sources, GetStringList(ctx, item, "sources", w, false));
  const char* rkey = item.Find("request") != nullptr ? "request" : "request_data";
  ARROW_ASSIGN_OR_RAISE(v.request, GetFields(ctx, item, rkey, w, false));
  const Value* feats = item.Find("features");
  if (feats == nullptr || !feats->is_list() || feats->as_list().empty()) {
    return ctx.Fail(feats ? *feats : item, w + " needs 'features': a list of {name, type, expression}");
  }
  std::set<std::string> seen;
  for (const auto& f : feats->as_list()) {
    if (!f.is_map()) return ctx.Fail(f, w + ": features must be {name, type, expression}");
    ARROW_RETURN_NOT_OK(CheckKeys(ctx, f, w + " feature", {"name", "type", "expression", "description"}));
    OnDemandFeature odf;
    ARROW_ASSIGN_OR_RAISE(odf.name, GetString(ctx, f, "name", w + " feature", true));
    ARROW_ASSIGN_OR_RAISE(std::string type, GetString(ctx, f, "type", w + " feature '" + odf.name + "'", true));
    auto t = ParseFeatureType(type);
    if (!t.ok()) return ctx.Fail(*f.Find("type"), w + ": feature '" + odf.name + "': " + t.status().message());
    odf.type = *t;
    ARROW_ASSIGN_OR_RAISE(odf.expression, GetString(ctx, f, "expression", w + " feature '" + odf.name + "'", true));
    if (!seen.insert(odf.name).second) return ctx.Fail(f, w + ": duplicate feature '" + odf.name + "'");
    v.features.push_back(std::move(odf));
  }
  ARROW_ASSIGN_OR_RAISE(v.description, GetString(ctx, item, "description", w, false));
  ARROW_ASSIGN_OR_RAISE(v.location, GetLocation(ctx, item));
  ARROW_RETURN_NOT_OK(Declare(c, ctx, item, "on_demand_feature_view", v.name));
  c->repo.on_demand_views.push_back(std::move(v));
  return Status::OK();
}

Status ParseService(Collected* c, const Ctx& ctx, const Value& item) {
  const std::string what = "feature service";
  ARROW_RETURN_NOT_OK(CheckKeys(ctx, item, what, {"name", "features", "description", "owner", "tags"}));
  FeatureService s;
  ARROW_ASSIGN_OR_RAISE(s.name, GetName(ctx, item, what));
  const std::string w = "feature service '" + s.name + "'";
  ARROW_ASSIGN_OR_RAISE(s.features, GetStringList(ctx, item, "features", w, true));
  ARROW_ASSIGN_OR_RAISE(s.description, GetString(ctx, item, "description", w, false));
  ARROW_ASSIGN_OR_RAISE(s.owner, GetString(ctx, item, "owner", w, false));
  ARROW_ASSIGN_OR_RAISE(s.location, GetLocation(ctx, item));
  ARROW_RETURN_NOT_OK(Declare(c, ctx, item, "feature_service", s.name));
  c->repo.feature_services.push_back(std::move(s));
  return Status::OK();
}

Status ParseOnline(const Ctx& ctx, const Value& v, const std::string& root, online::OnlineStoreConfig* out) {
  if (!v.is_map()) return ctx.Fail(v, "'online' must be {type: rocksdb, path: ...} or {type: redis, url: ...}");
  ARROW_RETURN_NOT_OK(CheckKeys(ctx, v, "online", {"type", "path", "url", "key_prefix"}));
  ARROW_ASSIGN_OR_RAISE(std::string type, GetString(ctx, v, "type", "online", false));
  out->type = type.empty() ? "rocksdb" : type;
  if (out->type == "rocksdb") {
    ARROW_ASSIGN_OR_RAISE(std::string path, GetString(ctx, v, "path", "online", false));
    out->path = path.empty() ? "online_store" : path;
  } else if (out->type == "redis") {
    ARROW_ASSIGN_OR_RAISE(out->url, GetString(ctx, v, "url", "online (redis)", true));
    ARROW_ASSIGN_OR_RAISE(std::string prefix, GetString(ctx, v, "key_prefix", "online", false));
    if (!prefix.empty()) out->key_prefix = prefix;
  } else {
    return ctx.Fail(*v.Find("type"), "online store type '" + out->type + "' is not rocksdb or redis");
  }
  (void)root;
  return Status::OK();
}

Status ParseDefinitions(Collected* c, const Ctx& ctx, const Value& doc, const std::string& root) {
  if (doc.is_null()) return Status::OK();  // an empty file
  if (!doc.is_map()) return ctx.Fail(doc, "a definition file must be a map of lists (entities:, sources:, ...)");
  using Parser = std::function<Status(const Value&)>;
  const std::pair<const char*, Parser> kinds[] = {
      {"entities", [&](const Value& i) { return ParseEntity(c, ctx, i); }},
      {"sources", [&](const Value& i) { return ParseSource(c, ctx, i, root); }},
      {"feature_views", [&](const Value& i) { return ParseView(c, ctx, i); }},
      {"on_demand_feature_views", [&](const Value& i) { return ParseOnDemand(c, ctx, i); }},
      {"feature_services", [&](const Value& i) { return ParseService(c, ctx, i); }},
  };
  for (const auto& [key, list] : doc.as_map()) {
    const Parser* parser = nullptr;
    for (const auto& [k, p] : kinds) {
      if (key == k) parser = &p;
    }
    if (parser == nullptr) {
      if (key == "project" || key == "online" || key == "offline" || key == "registry" || key == "description") {
        continue;  // strata.yaml's own keys (checked in BuildRepository)
      }  // strata.yaml / JSON keys
      return ctx.Fail(list, "unknown key '" + key +
                                "' (allowed: entities, sources, feature_views, on_demand_feature_views, "
                                "feature_services)");
    }
    if (list.is_null()) continue;
    if (!list.is_list()) return ctx.Fail(list, "'" + key + "' must be a list");
    for (const auto& item : list.as_list()) {
      if (!item.is_map()) return ctx.Fail(item, "each entry of '" + key + "' must be a map");
      ARROW_RETURN_NOT_OK((*parser)(item));
    }
  }
  return Status::OK();
}

Status FailAt(const Location& loc, std::string_view message) {
  return Error(ErrorCode::kInvalidArgument, loc.ToString(), ": ", message);
}

template <typename T>
void SortByName(std::vector<T>* v) {
  std::sort(v->begin(), v->end(), [](const T& a, const T& b) { return a.name < b.name; });
}

std::string Names(const std::vector<std::string>& names, size_t max = 12) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += ", ...";
  return out;
}

/// Checks references between declarations; sorts every list.
Status CrossCheck(Repository* repo) {
  SortByName(&repo->entities);
  SortByName(&repo->sources);
  SortByName(&repo->feature_views);
  SortByName(&repo->on_demand_views);
  SortByName(&repo->feature_services);
  for (const auto& v : repo->feature_views) {
    const Source* s = repo->FindSource(v.source);
    if (s == nullptr) {
      std::vector<std::string> known;
      for (const auto& x : repo->sources) known.push_back(x.name);
      return FailAt(v.location, "feature view '" + v.name + "': unknown source '" + v.source + "'" +
                                    (known.empty() ? " (no sources are declared)" : " (sources: " + Names(known) + ")"));
    }
    std::set<std::string> keys;
    for (const auto& en : v.entities) {
      const Entity* e = repo->FindEntity(en);
      if (e == nullptr) {
        std::vector<std::string> known;
        for (const auto& x : repo->entities) known.push_back(x.name);
        return FailAt(v.location, "feature view '" + v.name + "': unknown entity '" + en + "'" +
                                      (known.empty() ? "" : " (entities: " + Names(known) + ")"));
      }
      for (const auto& k : e->join_keys) {
        if (!keys.insert(k.name).second) {
          return FailAt(v.location, "feature view '" + v.name + "': join key '" + k.name + "' appears in two entities");
        }
      }
    }
    for (const auto& f : v.features) {
      if (keys.count(f.name) || f.name == s->timestamp_field) {
        return FailAt(v.location, "feature view '" + v.name + "': feature '" + f.name +
                                      "' is a join key or the event timestamp; it cannot be a feature");
      }
    }
    if (s->table.empty()) {
      return FailAt(v.location, "feature view '" + v.name + "': source '" + s->name +
                                    "' is a stream without a table; give it 'table' (where the stream lands)");
    }
  }
  for (const auto& od : repo->on_demand_views) {
    for (const auto& src : od.sources) {
      if (repo->FindView(src) == nullptr) {
        return FailAt(od.location, "on-demand feature view '" + od.name + "': unknown feature view '" + src + "'");
      }
    }
    if (od.sources.empty() && od.request.empty()) {
      return FailAt(od.location, "on-demand feature view '" + od.name + "' needs 'sources' or 'request' inputs");
    }
  }
  for (const auto& svc : repo->feature_services) {
    auto refs = repo->ResolveRefs(svc.features);
    if (!refs.ok()) return FailAt(svc.location, "feature service '" + svc.name + "': " + refs.status().message());
  }
  return Status::OK();
}

Result<Value> ReadYamlFile(const fs::path& path, const std::string& shown) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kInvalidArgument, shown, ": cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return quality::ParseYaml(ss.str(), shown);
}

/// Definition files under the repository: *.yaml / *.yml except strata.yaml, skipping hidden and
/// underscore folders and folders that are tables (hold a _delta_log).
std::vector<fs::path> DefinitionFiles(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const auto& p = it->path();
    std::string name = p.filename().string();
    if (it->is_directory(ec)) {
      if (name.starts_with(".") || name.starts_with("_") || fs::exists(p / "_delta_log", ec) ||
          name == "node_modules") {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (name.starts_with(".")) continue;
    auto ext = p.extension().string();
    if ((ext == ".yaml" || ext == ".yml") && !(p.parent_path() == root && (name == "strata.yaml" || name == "strata.yml"))) {
      out.push_back(p);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Repository lookups

namespace {
template <typename T>
const T* FindByName(const std::vector<T>& v, std::string_view name) {
  auto it = std::lower_bound(v.begin(), v.end(), name, [](const T& a, std::string_view n) { return a.name < n; });
  if (it != v.end() && it->name == name) return &*it;
  for (const auto& x : v) {  // unsorted lists (while a repository is being built)
    if (x.name == name) return &x;
  }
  return nullptr;
}
}  // namespace

const Entity* Repository::FindEntity(std::string_view name) const { return FindByName(entities, name); }
const Source* Repository::FindSource(std::string_view name) const { return FindByName(sources, name); }
const FeatureView* Repository::FindView(std::string_view name) const { return FindByName(feature_views, name); }
const OnDemandFeatureView* Repository::FindOnDemandView(std::string_view name) const {
  return FindByName(on_demand_views, name);
}
const FeatureService* Repository::FindService(std::string_view name) const {
  return FindByName(feature_services, name);
}

std::vector<Field> Repository::JoinKeys(const FeatureView& view) const {
  std::vector<Field> out;
  for (const auto& en : view.entities) {
    if (const Entity* e = FindEntity(en)) out.insert(out.end(), e->join_keys.begin(), e->join_keys.end());
  }
  return out;
}

Result<std::vector<FeatureRef>> Repository::ResolveRefs(const std::vector<std::string>& refs) const {
  std::vector<FeatureRef> out;
  std::set<std::string> seen;
  for (const auto& ref : refs) {
    auto colon = ref.find(':');
    std::string view = ref.substr(0, colon);
    std::string feature = colon == std::string::npos ? "" : ref.substr(colon + 1);
    std::vector<std::string> names;
    bool on_demand = false;
    if (const FeatureView* v = FindView(view)) {
      for (const auto& f : v->features) names.push_back(f.name);
    } else if (const OnDemandFeatureView* od = FindOnDemandView(view)) {
      on_demand = true;
      for (const auto& f : od->features) names.push_back(f.name);
    } else {
      std::vector<std::string> known;
      for (const auto& x : feature_views) known.push_back(x.name);
      for (const auto& x : on_demand_views) known.push_back(x.name);
      return Error(ErrorCode::kInvalidArgument, "unknown feature view '", view, "' in '", ref, "'",
                   known.empty() ? std::string(" (no views are declared)") : " (views: " + Names(known) + ")");
    }
    std::vector<std::string> chosen;
    if (colon == std::string::npos || feature == "*") {
      chosen = names;
    } else if (std::find(names.begin(), names.end(), feature) != names.end()) {
      chosen = {feature};
    } else {
      return Error(ErrorCode::kInvalidArgument, "unknown feature '", feature, "' of view '", view,
                   "' (features: ", Names(names), ")");
    }
    for (auto& f : chosen) {
      if (seen.insert(view + ":" + f).second) out.push_back(FeatureRef{view, f, on_demand});
    }
  }
  if (out.empty()) return Error(ErrorCode::kInvalidArgument, "no features requested");
  return out;
}

Result<std::vector<FeatureRef>> Repository::ServiceRefs(std::string_view service) const {
  const FeatureService* s = FindService(service);
  if (s == nullptr) {
    std::vector<std::string> known;
    for (const auto& x : feature_services) known.push_back(x.name);
    return Error(ErrorCode::kInvalidArgument, "unknown feature service '", service, "'",
                 known.empty() ? std::string(" (no services are declared)") : " (services: " + Names(known) + ")");
  }
  return ResolveRefs(s->features);
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON: the same keys as the YAML, so RepositoryFromJson reuses the parsers above.

namespace {

void WriteFields(JsonWriter* w, const std::vector<Field>& fields) {
  w->BeginArray();
  for (const auto& f : fields) {
    w->BeginObject().Key("name").String(f.name).Key("type").String(FeatureTypeName(f.type));
    if (!f.description.empty()) w->Key("description").String(f.description);
    w->EndObject();
  }
  w->EndArray();
}

void WriteStrings(JsonWriter* w, const std::vector<std::string>& v) {
  w->BeginArray();
  for (const auto& s : v) w->String(s);
  w->EndArray();
}

void WriteCommon(JsonWriter* w, const std::string& description, const Location& loc) {
  if (!description.empty()) w->Key("description").String(description);
  w->Key("_location").String(loc.ToString());
}

std::string EntityJson(const Entity& e, bool with_location = true) {
  JsonWriter w;
  w.BeginObject().Key("name").String(e.name).Key("join_keys");
  WriteFields(&w, e.join_keys);
  if (with_location) WriteCommon(&w, e.description, e.location);
  else if (!e.description.empty()) w.Key("description").String(e.description);
  w.EndObject();
  return w.Release();
}

std::string SourceJson(const Source& s, bool with_location = true) {
  JsonWriter w;
  w.BeginObject().Key("name").String(s.name);
  if (!s.table.empty()) w.Key("table").String(s.table);
  w.Key("timestamp_field").String(s.timestamp_field);
  if (!s.created_timestamp_field.empty()) w.Key("created_timestamp_field").String(s.created_timestamp_field);
  if (!s.kafka_topic.empty()) {
    w.Key("kafka").BeginObject().Key("topic").String(s.kafka_topic);
    if (!s.kafka_bootstrap_servers.empty()) w.Key("bootstrap_servers").String(s.kafka_bootstrap_servers);
    w.EndObject();
  }
  if (with_location) WriteCommon(&w, s.description, s.location);
  else if (!s.description.empty()) w.Key("description").String(s.description);
  w.EndObject();
  return w.Release();
}

std::string ViewJson(const FeatureView& v, bool with_location = true) {
  JsonWriter w;
  w.BeginObject().Key("name").String(v.name).Key("entities");
  WriteStrings(&w, v.entities);
  w.Key("source").String(v.source);
  if (v.ttl_us) w.Key("ttl").String(std::to_string(*v.ttl_us) + "us");
  w.Key("online").Bool(v.online).Key("features");
  WriteFields(&w, v.features);
  if (!v.tags.empty()) {
    w.Key("tags").BeginObject();
    for (const auto& [k, val] : v.tags) w.Key(k).String(val);
    w.EndObject();
  }
  if (!v.owner.empty()) w.Key("owner").String(v.owner);
  if (with_location) WriteCommon(&w, v.description, v.location);
  else if (!v.description.empty()) w.Key("description").String(v.description);
  w.EndObject();
  return w.Release();
}

std::string OnDemandJson(const OnDemandFeatureView& v, bool with_location = true) {
  JsonWriter w;
  w.BeginObject().Key("name").String(v.name).Key("sources");
  WriteStrings(&w, v.sources);
  w.Key("request");
  WriteFields(&w, v.request);
  w.Key("features").BeginArray();
  for (const auto& f : v.features) {
    w.BeginObject().Key("name").String(f.name).Key("type").String(FeatureTypeName(f.type));
    w.Key("expression").String(f.expression).EndObject();
  }
  w.EndArray();
  if (with_location) WriteCommon(&w, v.description, v.location);
  else if (!v.description.empty()) w.Key("description").String(v.description);
  w.EndObject();
  return w.Release();
}

std::string ServiceJson(const FeatureService& s, bool with_location = true) {
  JsonWriter w;
  w.BeginObject().Key("name").String(s.name).Key("features");
  WriteStrings(&w, s.features);
  if (!s.owner.empty()) w.Key("owner").String(s.owner);
  if (with_location) WriteCommon(&w, s.description, s.location);
  else if (!s.description.empty()) w.Key("description").String(s.description);
  w.EndObject();
  return w.Release();
}

}  // namespace

std::string Repository::ToJson() const {
  JsonWriter w;
  w.BeginObject().Key("project").String(project);
  w.Key("online").BeginObject().Key("type").String(online.type);
  if (online.type == "redis") {
    w.Key("url").String(online.url).Key("key_prefix").String(online.key_prefix);
  } else {
    // Stored relative to the root when inside it, so a moved repository keeps working.
    std::string p = online.path;
    std::string r = root.empty() || root.back() == '/' ? root : root + "/";
    if (!r.empty() && p.starts_with(r)) p = p.substr(r.size());
    w.Key("path").String(p);
  }
  w.EndObject();
  auto list = [&](const char* key, const auto& items, auto fn) {
    w.Key(key).BeginArray();
    for (const auto& x : items) w.Raw(fn(x, true));
    w.EndArray();
  };
  list("entities", entities, EntityJson);
  list("sources", sources, SourceJson);
  list("feature_views", feature_views, ViewJson);
  list("on_demand_feature_views", on_demand_views, OnDemandJson);
  list("feature_services", feature_services, ServiceJson);
  w.EndObject();
  return w.Release();
}

namespace {

Result<Repository> BuildRepository(const std::vector<std::pair<std::string, Value>>& docs, const Value* config,
                                   const std::string& config_file, const std::string& root) {
  Collected c;
  c.repo.root = root;
  if (config != nullptr) {
    Ctx ctx{config_file};
    if (!config->is_map()) return ctx.Fail(*config, "strata.yaml must be a map (project:, online:)");
    for (const auto& [k, v] : config->as_map()) {
      if (k == "project") {
        if (!v.is_string() || v.as_string().empty()) return ctx.Fail(v, "'project' must be a name");
        c.repo.project = v.as_string();
      } else if (k == "online") {
        ARROW_RETURN_NOT_OK(ParseOnline(ctx, v, root, &c.repo.online));
      } else if (k == "offline" || k == "registry" || k == "description") {
        // accepted for compatibility; the offline store is the source tables themselves
      } else if (k != "entities" && k != "sources" && k != "feature_views" && k != "on_demand_feature_views" &&
                 k != "feature_services") {
        return ctx.Fail(v, "unknown key '" + k + "' in " + config_file + " (allowed: project, online, offline)");
      }
    }
    if (c.repo.project.empty()) return ctx.Fail(*config, config_file + " needs 'project'");
    if (config->Find("online") == nullptr) c.repo.online.path = "online_store";
  }
  for (const auto& [file, doc] : docs) {
    ARROW_RETURN_NOT_OK(ParseDefinitions(&c, Ctx{file}, doc, root));
  }
  if (c.repo.online.type == "rocksdb") c.repo.online.path = ResolvePath(root, c.repo.online.path);
  ARROW_RETURN_NOT_OK(CrossCheck(&c.repo));
  return std::move(c.repo);
}

}  // namespace

Result<Repository> LoadRepository(const std::string& dir) {
  std::error_code ec;
  fs::path root = fs::absolute(dir, ec).lexically_normal();
  if (ec || !fs::is_directory(root)) {
    return Error(ErrorCode::kInvalidArgument, "feature repository '", dir, "' is not a folder");
  }
  std::string root_s = root.string();
  if (root_s.size() > 1 && root_s.back() == '/') root_s.pop_back();
  fs::path config_path = root / "strata.yaml";
  if (!fs::exists(config_path)) config_path = root / "strata.yml";
  if (!fs::exists(config_path)) {
    return Error(ErrorCode::kInvalidArgument, "feature repository '", dir,
                 "' has no strata.yaml (it needs at least `project: <name>`)");
  }
  std::string config_name = config_path.filename().string();
  ARROW_ASSIGN_OR_RAISE(Value config, ReadYamlFile(config_path, config_name));
  std::vector<std::pair<std::string, Value>> docs;
  docs.emplace_back(config_name, config);  // strata.yaml may hold definitions too
  for (const auto& p : DefinitionFiles(root)) {
    std::string shown = fs::relative(p, root, ec).string();
    ARROW_ASSIGN_OR_RAISE(Value doc, ReadYamlFile(p, shown));
    docs.emplace_back(shown, std::move(doc));
  }
  return BuildRepository(docs, &config, config_name, root_s);
}

Result<Repository> RepositoryFromJson(std::string_view json, const std::string& root) {
  ARROW_ASSIGN_OR_RAISE(Value doc, quality::ParseYaml(json, "<registry>"));
  std::vector<std::pair<std::string, Value>> docs;
  docs.emplace_back("<registry>", doc);
  return BuildRepository(docs, &doc, "<registry>", root);
}

// ---------------------------------------------------------------------------------------------
// Plans

std::string PlanItem::ToString() const {
  const char* sign = action == Action::kCreate ? "+" : action == Action::kUpdate ? "~" : "-";
  std::string out = std::string(sign) + " " + kind + " " + name;
  if (!detail.empty()) out += " (" + detail + ")";
  return out;
}

namespace {

std::string TtlText(const std::optional<int64_t>& ttl) {
  if (!ttl) return "none";
  int64_t us = *ttl;
  static const std::pair<int64_t, const char*> kUnits[] = {
      {86400000000LL, "d"}, {3600000000LL, "h"}, {60000000, "m"}, {1000000, "s"}, {1000, "ms"}, {1, "us"}};
  for (const auto& [m, u] : kUnits) {
    if (us % m == 0) return std::to_string(us / m) + u;
  }
  return std::to_string(us) + "us";
}

std::string FieldsDiff(const std::vector<Field>& a, const std::vector<Field>& b, const char* what) {
  std::vector<std::string> parts;
  for (const auto& f : b) {
    auto it = std::find_if(a.begin(), a.end(), [&](const Field& x) { return x.name == f.name; });
    if (it == a.end()) {
      parts.push_back(std::string("+") + what + " " + f.name);
    } else if (it->type != f.type) {
      parts.push_back(std::string(what) + " " + f.name + " " + FeatureTypeName(it->type) + " -> " +
                      FeatureTypeName(f.type));
    }
  }
  for (const auto& f : a) {
    if (std::none_of(b.begin(), b.end(), [&](const Field& x) { return x.name == f.name; })) {
      parts.push_back(std::string("-") + what + " " + f.name);
    }
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

std::string ViewDiff(const FeatureView& a, const FeatureView& b) {
  std::vector<std::string> parts;
  if (a.ttl_us != b.ttl_us) parts.push_back("ttl " + TtlText(a.ttl_us) + " -> " + TtlText(b.ttl_us));
  if (a.source != b.source) parts.push_back("source " + a.source + " -> " + b.source);
  if (a.entities != b.entities) parts.push_back("entities changed");
  if (a.online != b.online) parts.push_back(std::string("online ") + (b.online ? "on" : "off"));
  if (auto f = FieldsDiff(a.features, b.features, "feature"); !f.empty()) parts.push_back(f);
  if (a.tags != b.tags) parts.push_back("tags changed");
  if (a.owner != b.owner) parts.push_back("owner " + b.owner);
  if (a.description != b.description) parts.push_back("description changed");
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

template <typename T, typename Json, typename Detail>
void PlanKind(std::vector<PlanItem>* out, const char* kind, const std::vector<T>* before, const std::vector<T>& after,
              Json json, Detail detail) {
  std::map<std::string, const T*> old;
  if (before) {
    for (const auto& x : *before) old[x.name] = &x;
  }
  for (const auto& x : after) {
    auto it = old.find(x.name);
    if (it == old.end()) {
      out->push_back(PlanItem{PlanItem::Action::kCreate, kind, x.name, ""});
      continue;
    }
    if (json(*it->second, false) != json(x, false)) {
      std::string d = detail(*it->second, x);
      out->push_back(PlanItem{PlanItem::Action::kUpdate, kind, x.name, d.empty() ? "changed" : d});
    }
    old.erase(it);
  }
  for (const auto& [name, x] : old) out->push_back(PlanItem{PlanItem::Action::kDelete, kind, name, ""});
}

}  // namespace

std::vector<PlanItem> PlanChanges(const Repository* previous, const Repository& next) {
  std::vector<PlanItem> out;
  if (previous != nullptr) {
    if (previous->project != next.project) {
      out.push_back(PlanItem{PlanItem::Action::kUpdate, "project", next.project, "was " + previous->project});
    }
    if (!previous->online.SameStore(next.online)) {
      out.push_back(PlanItem{PlanItem::Action::kUpdate, "online_store", next.online.type, "configuration changed"});
    }
  }
  auto none = [](const auto&, const auto&) { return std::string(); };
  auto fields = [](const Entity& a, const Entity& b) { return FieldsDiff(a.join_keys, b.join_keys, "join key"); };
  PlanKind(&out, "entity", previous ? &previous->entities : nullptr, next.entities, EntityJson, fields);
  PlanKind(&out, "source", previous ? &previous->sources : nullptr, next.sources, SourceJson, none);
  PlanKind(&out, "feature_view", previous ? &previous->feature_views : nullptr, next.feature_views, ViewJson,
           ViewDiff);
  PlanKind(&out, "on_demand_feature_view", previous ? &previous->on_demand_views : nullptr, next.on_demand_views,
           OnDemandJson, none);
  PlanKind(&out, "feature_service", previous ? &previous->feature_services : nullptr, next.feature_services,
           ServiceJson, none);
  return out;
}

}  // namespace strata::features
