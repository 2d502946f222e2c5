// Online retrieval: refs -> views -> one store Read per view -> TTL statuses -> on-demand
// features (Arrow compute over a small batch) -> Feast-shaped columns.
//
//   request ──resolve──> refs ──group by view──> per view: join keys (type-checked) ──encode──>
//   keys ──Read(ttl, now)──> ReadResult ──┬──> feature columns
//                                          └──> on-demand views: RecordBatch ──Evaluate──> columns

#include "strata/features/online_serving.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/cast.h>
#include <arrow/compute/initialize.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include "strata/expr/expr.h"
#include "strata/online/key.h"
#include "strata/online/rocksdb_store.h"

namespace strata::features {

using online::FeatureStatus;
using online::FeatureValue;
using online::JoinKeyValue;
using online::ValueType;

bool IsRequestError(const Status& st) { return HasCode(st, ErrorCode::kInvalidArgument); }

Result<std::shared_ptr<online::OnlineStore>> OpenServingStore(const online::OnlineStoreConfig& config,
                                                              int64_t catch_up_interval_ms) {
  if (config.type != "rocksdb" || !config.read_only) {
    ARROW_ASSIGN_OR_RAISE(auto store, online::OpenOnlineStore(config));
    return std::shared_ptr<online::OnlineStore>(std::move(store));
  }
  if (config.path.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "online store of type rocksdb needs a path");
  }
  std::error_code ec;
  if (!std::filesystem::exists(config.path, ec)) {
    online::RocksDbOptions primary;
    primary.path = config.path;
    ARROW_ASSIGN_OR_RAISE(auto created, online::OpenRocksDbStore(primary));
    ARROW_RETURN_NOT_OK(created->Close());
  }
  online::RocksDbOptions o;
  o.path = config.path;
  o.mode = online::RocksDbOptions::Mode::kSecondary;
  o.catch_up_interval_ms = catch_up_interval_ms;
  ARROW_ASSIGN_OR_RAISE(auto store, online::OpenRocksDbStore(o));
  return std::shared_ptr<online::OnlineStore>(std::move(store));
}

namespace {

Status Invalid(const std::string& msg) { return MakeError(ErrorCode::kInvalidArgument, msg); }

const char* JoinKeyValueKind(const JoinKeyValue& v) {
  return std::holds_alternative<int64_t>(v) ? "an integer" : "a string";
}

const char* FeatureValueKind(const FeatureValue& v) {
  switch (online::TypeOf(v)) {
    case ValueType::kNull: return "null";
    case ValueType::kBool: return "a boolean";
    case ValueType::kInt64: return "an integer";
    case ValueType::kDouble: return "a number";
    case ValueType::kString: return "a string";
    case ValueType::kFloatList: return "a list of numbers";
  }
  return "unknown";
}

// ---- Arrow conversions for on-demand views ------------------------------------------------

std::shared_ptr<arrow::DataType> ArrowType(FeatureType t) {
  switch (t) {
    case FeatureType::kInt64: return arrow::int64();
    case FeatureType::kInt32: return arrow::int32();
    case FeatureType::kFloat64: return arrow::float64();
    case FeatureType::kFloat32: return arrow::float32();
    case FeatureType::kString: return arrow::utf8();
    case FeatureType::kBool: return arrow::boolean();
    case FeatureType::kTimestamp: return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
    case FeatureType::kFloatList: return arrow::list(arrow::float32());
  }
  return arrow::float64();
}

/// The type FeatureValues of a declared type are built in (and read back from).
enum class Storage { kInt, kFloat, kString, kBool, kList };

Storage StorageOf(FeatureType t) {
  switch (t) {
    case FeatureType::kInt64:
    case FeatureType::kInt32:
    case FeatureType::kTimestamp: return Storage::kInt;
    case FeatureType::kFloat64:
    case FeatureType::kFloat32: return Storage::kFloat;
    case FeatureType::kString: return Storage::kString;
    case FeatureType::kBool: return Storage::kBool;
    case FeatureType::kFloatList: return Storage::kList;
  }
  return Storage::kFloat;
}

std::shared_ptr<arrow::DataType> StorageType(Storage s) {
  switch (s) {
    case Storage::kInt: return arrow::int64();
    case Storage::kFloat: return arrow::float64();
    case Storage::kString: return arrow::utf8();
    case Storage::kBool: return arrow::boolean();
    case Storage::kList: return arrow::list(arrow::float32());
  }
  return arrow::float64();
}

/// Builds an array of declared type `type` from values (nullopt and monostate are null).
/// `describe(row, value)` names a value that does not fit.
template <typename Get, typename Describe>
Result<std::shared_ptr<arrow::Array>> BuildArray(FeatureType type, size_t n, Get get,
                                                 Describe describe) {
  const Storage storage = StorageOf(type);
  std::unique_ptr<arrow::ArrayBuilder> builder;
  ARROW_RETURN_NOT_OK(
      arrow::MakeBuilder(arrow::default_memory_pool(), StorageType(storage), &builder));
  ARROW_RETURN_NOT_OK(builder->Reserve(static_cast<int64_t>(n)));
  for (size_t i = 0; i < n; ++i) {
    const FeatureValue* v = get(i);
    if (v == nullptr || online::TypeOf(*v) == ValueType::kNull) {
      ARROW_RETURN_NOT_OK(builder->AppendNull());
      continue;
    }
    bool ok = true;
    switch (storage) {
      case Storage::kInt:
        if (auto* x = std::get_if<int64_t>(v)) {
          ARROW_RETURN_NOT_OK(static_cast<arrow::Int64Builder&>(*builder).Append(*x));
        } else {
          ok = false;
        }
        break;
      case Storage::kFloat:
        if (auto* d = std::get_if<double>(v)) {
          ARROW_RETURN_NOT_OK(static_cast<arrow::DoubleBuilder&>(*builder).Append(*d));
        } else if (auto* x = std::get_if<int64_t>(v)) {
          ARROW_RETURN_NOT_OK(
              static_cast<arrow::DoubleBuilder&>(*builder).Append(static_cast<double>(*x)));
        } else {
          ok = false;
        }
        break;
      case Storage::kString:
        if (auto* s = std::get_if<std::string>(v)) {
          ARROW_RETURN_NOT_OK(static_cast<arrow::StringBuilder&>(*builder).Append(*s));
        } else {
          ok = false;
        }
        break;
      case Storage::kBool:
        if (auto* b = std::get_if<bool>(v)) {
          ARROW_RETURN_NOT_OK(static_cast<arrow::BooleanBuilder&>(*builder).Append(*b));
        } else {
          ok = false;
        }
        break;
      case Storage::kList:
        if (auto* l = std::get_if<std::vector<float>>(v)) {
          auto& lb = static_cast<arrow::ListBuilder&>(*builder);
          ARROW_RETURN_NOT_OK(lb.Append());
          ARROW_RETURN_NOT_OK(static_cast<arrow::FloatBuilder&>(*lb.value_builder())
                                  .AppendValues(l->data(), static_cast<int64_t>(l->size())));
        } else {
          ok = false;
        }
        break;
    }
    if (!ok) {
      return Invalid(describe(i) + " is " + FeatureValueKind(*v) + ", expected " +
                     FeatureTypeName(type));
    }
  }
  std::shared_ptr<arrow::Array> out;
  ARROW_RETURN_NOT_OK(builder->Finish(&out));
  if (!out->type()->Equals(*ArrowType(type))) {
    ARROW_ASSIGN_OR_RAISE(auto datum, arrow::compute::Cast(out, ArrowType(type)));
    out = datum.make_array();
  }
  return out;
}

/// The values of `array` (any type castable to `type`) as FeatureValues (nullopt for nulls).
Result<std::vector<std::optional<FeatureValue>>> ReadArray(const std::shared_ptr<arrow::Array>& array,
                                                           FeatureType type) {
  namespace cp = arrow::compute;
  cp::CastOptions options = cp::CastOptions::Safe();
  options.allow_float_truncate = true;
  std::shared_ptr<arrow::Array> a = array;
  if (!a->type()->Equals(*ArrowType(type))) {
    ARROW_ASSIGN_OR_RAISE(auto d, cp::Cast(a, ArrowType(type), options));
    a = d.make_array();
  }
  const Storage storage = StorageOf(type);
  if (!a->type()->Equals(*StorageType(storage))) {
    ARROW_ASSIGN_OR_RAISE(auto d, cp::Cast(a, StorageType(storage), options));
    a = d.make_array();
  }
  std::vector<std::optional<FeatureValue>> out(static_cast<size_t>(a->length()));
  for (int64_t i = 0; i < a->length(); ++i) {
    if (a->IsNull(i)) continue;
    auto& v = out[static_cast<size_t>(i)];
    switch (storage) {
      case Storage::kInt: v = static_cast<const arrow::Int64Array&>(*a).Value(i); break;
      case Storage::kFloat: v = static_cast<const arrow::DoubleArray&>(*a).Value(i); break;
      case Storage::kString: v = static_cast<const arrow::StringArray&>(*a).GetString(i); break;
      case Storage::kBool: v = static_cast<const arrow::BooleanArray&>(*a).Value(i); break;
      case Storage::kList: {
        const auto& l = static_cast<const arrow::ListArray&>(*a);
        auto values = std::static_pointer_cast<arrow::FloatArray>(l.values());
        std::vector<float> f(static_cast<size_t>(l.value_length(i)));
        for (size_t k = 0; k < f.size(); ++k) {
          f[k] = values->Value(l.value_offset(i) + static_cast<int64_t>(k));
        }
        v = std::move(f);
        break;
      }
    }
  }
  return out;
}

// ---- request planning -------------------------------------------------------------------

/// One feature view to read.
struct ViewRead {
  const FeatureView* view = nullptr;
  std::vector<std::string> features;  // unique names to read
  size_t Slot(const std::string& feature) const {
    return static_cast<size_t>(std::find(features.begin(), features.end(), feature) -
                               features.begin());
  }
};

void AddFeature(ViewRead* read, const std::string& feature) {
  if (std::find(read->features.begin(), read->features.end(), feature) == read->features.end()) {
    read->features.push_back(feature);
  }
}

/// What a request's feature list (or service) and `full_feature_names` decide, whatever its
/// entities: which views to read with which features, the on-demand views, the output names.
/// Built once per distinct list and then shared by every request that asks for it: a feature
/// server sees a handful of lists, and resolving one costs more than the store read it leads to.
struct Plan {
  std::vector<FeatureRef> refs;
  std::vector<ViewRead> reads;
  std::unordered_map<std::string, size_t> read_index;  // view name -> index into reads
  std::vector<const OnDemandFeatureView*> on_demand;   // requested, in first-use order
  std::set<std::string> request_fields;                // of the requested on-demand views
  /// Per ref: its output name, what produced it (for errors), and for stored features the read
  /// and the slot of the feature in it.
  struct Output {
    std::string name;
    std::string what;
    size_t read = 0;
    size_t slot = 0;
  };
  std::vector<Output> outputs;
  std::unordered_map<std::string, size_t> output_index;  // name -> index into outputs
};

/// `request` names either features or a feature service (Get checks it before the cache).
Result<std::shared_ptr<const Plan>> BuildPlan(const Repository& repo, const OnlineRequest& request) {
  auto plan = std::make_shared<Plan>();
  if (!request.feature_service.empty()) {
    ARROW_ASSIGN_OR_RAISE(plan->refs, repo.ServiceRefs(request.feature_service));
  } else {
    ARROW_ASSIGN_OR_RAISE(plan->refs, repo.ResolveRefs(request.features));
  }
  auto read_of = [&](const std::string& view_name) -> ViewRead* {
    auto [it, inserted] = plan->read_index.emplace(view_name, plan->reads.size());
    if (inserted) {
      ViewRead r;
      r.view = repo.FindView(view_name);
      plan->reads.push_back(std::move(r));
    }
    return &plan->reads[it->second];
  };
  for (const auto& ref : plan->refs) {
    if (!ref.on_demand) {
      AddFeature(read_of(ref.view), ref.feature);
      continue;
    }
    const OnDemandFeatureView* od = repo.FindOnDemandView(ref.view);
    if (od == nullptr) return Invalid("unknown on-demand feature view '" + ref.view + "'");
    if (std::find(plan->on_demand.begin(), plan->on_demand.end(), od) != plan->on_demand.end()) continue;
    plan->on_demand.push_back(od);
    for (const auto& f : od->request) plan->request_fields.insert(f.name);
    for (const auto& src : od->sources) {
      ViewRead* r = read_of(src);
      if (r->view == nullptr) {
        return Invalid("on-demand view '" + od->name + "' reads unknown feature view '" + src + "'");
      }
      for (const auto& f : r->view->features) AddFeature(r, f.name);
    }
  }
  for (const auto& r : plan->reads) {
    if (r.view == nullptr) return Invalid("unknown feature view in request");
  }
  for (const auto& ref : plan->refs) {
    Plan::Output o;
    o.name = request.full_feature_names ? ref.view + "__" + ref.feature : ref.feature;
    o.what = "'" + ref.ToString() + "'";
    if (!ref.on_demand) {
      o.read = plan->read_index.at(ref.view);
      o.slot = plan->reads[o.read].Slot(ref.feature);
    }
    auto [it, inserted] = plan->output_index.emplace(o.name, plan->outputs.size());
    if (!inserted) {
      return Invalid("output name '" + o.name + "' is produced by both " +
                     plan->outputs[it->second].what + " and " + o.what +
                     (request.full_feature_names ? "" : " (use full_feature_names)"));
    }
    plan->outputs.push_back(std::move(o));
  }
  return plan;
}

/// The cache key of a request's plan: its feature list or service and full_feature_names.
std::string PlanKey(const OnlineRequest& request) {
  std::string key;
  key.push_back(request.full_feature_names ? '1' : '0');
  if (!request.feature_service.empty()) {
    key += "S" + request.feature_service;
    return key;
  }
  key.push_back('F');
  for (const auto& f : request.features) {  // length-prefixed: no separator can be forged
    key += std::to_string(f.size());
    key.push_back(':');
    key += f;
  }
  return key;
}

}  // namespace

struct OnlineServing::Compiled {
  struct View {
    std::vector<Field> keys;
    std::vector<std::string> key_names;
    std::optional<online::EntityKeyEncoder> encoder;
  };
  struct OnDemand {
    std::map<std::string, expr::NodePtr> expressions;  // feature -> parsed expression
  };
  std::unordered_map<std::string, View> views;
  std::unordered_map<std::string, OnDemand> on_demand;
  /// Every join key name of every entity, with its type (the first declaration wins).
  std::unordered_map<std::string, FeatureType> join_keys;
};

struct OnlineServing::PlanCache {
  // Bounds on what clients can make the server keep: past them, lists are planned per request.
  static constexpr size_t kMaxPlans = 4096;
  static constexpr size_t kMaxKeyBytes = 8192;
  std::shared_mutex mu;
  std::unordered_map<std::string, std::shared_ptr<const Plan>> plans;
};

Result<std::unique_ptr<OnlineServing>> OnlineServing::Make(std::shared_ptr<const Repository> repo,
                                                           std::shared_ptr<online::OnlineStore> store) {
  if (repo == nullptr || store == nullptr) return Invalid("OnlineServing needs a registry and a store");
  static const Status compute_ready = arrow::compute::Initialize();  // kernels for on-demand views
  ARROW_RETURN_NOT_OK(compute_ready);
  auto compiled = std::make_shared<Compiled>();
  for (const auto& e : repo->entities) {
    for (const auto& k : e.join_keys) compiled->join_keys.emplace(k.name, k.type);
  }
  for (const auto& v : repo->feature_views) {
    Compiled::View cv;
    cv.keys = repo->JoinKeys(v);
    for (const auto& k : cv.keys) cv.key_names.push_back(k.name);
    if (!cv.key_names.empty()) {
      auto enc = online::EntityKeyEncoder::Make(cv.key_names);
      if (!enc.ok()) return WithContext(enc.status(), "feature view '" + v.name + "'");
      cv.encoder = std::move(*enc);
    }
    compiled->views.emplace(v.name, std::move(cv));
  }
  for (const auto& od : repo->on_demand_views) {
    Compiled::OnDemand c;
    for (const auto& f : od.features) {
      auto node = expr::Parse(f.expression);
      if (!node.ok()) {
        return WithContext(node.status(),
                           "on-demand feature '" + od.name + ":" + f.name + "' expression");
      }
      c.expressions.emplace(f.name, std::move(*node));
    }
    compiled->on_demand.emplace(od.name, std::move(c));
  }
  std::unique_ptr<OnlineServing> s(new OnlineServing());
  s->repo_ = std::move(repo);
  s->store_ = std::move(store);
  s->compiled_ = std::move(compiled);
  s->plans_ = std::make_shared<PlanCache>();
  return s;
}

Result<OnlineResponse> OnlineServing::Get(const OnlineRequest& request) const {
  const Repository& repo = *repo_;
  const Compiled& compiled = *compiled_;

  // 1. Which features: the plan for this list, cached (the key tells a list from a service, so
  // these checks come first).
  if (!request.feature_service.empty() && !request.features.empty()) {
    return Invalid("give either 'features' or 'feature_service', not both");
  }
  if (request.feature_service.empty() && request.features.empty()) {
    return Invalid("no features requested (give 'features' or 'feature_service')");
  }
  std::shared_ptr<const Plan> plan;
  const std::string plan_key = PlanKey(request);
  {
    std::shared_lock<std::shared_mutex> lock(plans_->mu);
    auto it = plans_->plans.find(plan_key);
    if (it != plans_->plans.end()) plan = it->second;
  }
  if (plan == nullptr) {
    ARROW_ASSIGN_OR_RAISE(plan, BuildPlan(repo, request));
    std::unique_lock<std::shared_mutex> lock(plans_->mu);
    if (plans_->plans.size() < PlanCache::kMaxPlans && plan_key.size() <= PlanCache::kMaxKeyBytes) {
      plans_->plans.emplace(plan_key, plan);
    }
  }
  const std::vector<FeatureRef>& refs = plan->refs;
  const std::vector<ViewRead>& reads = plan->reads;
  const std::set<std::string>& request_fields = plan->request_fields;

  // 2. How many rows; every column as long as the first.
  size_t num_rows = 0;
  bool have_rows = false;
  std::string first_column;
  auto check_length = [&](const std::string& name, size_t n, const char* what) -> Status {
    if (n == 0) return Invalid(std::string(what) + " '" + name + "' has no values");
    if (!have_rows) {
      have_rows = true;
      num_rows = n;
      first_column = name;
    } else if (n != num_rows) {
      return Invalid(std::string(what) + " '" + name + "' has " + std::to_string(n) +
                     " values but '" + first_column + "' has " + std::to_string(num_rows));
    }
    return Status::OK();
  };
  std::set<std::string_view> column_names;
  for (const auto& [name, values] : request.entities) {
    if (name.empty()) return Invalid("an entity column has an empty name");
    if (!column_names.insert(name).second) return Invalid("entity '" + name + "' given twice");
    ARROW_RETURN_NOT_OK(check_length(name, values.size(), "entity"));
  }
  for (const auto& [name, values] : request.request_data) {
    if (name.empty()) return Invalid("a request data column has an empty name");
    if (!column_names.insert(name).second) {
      return Invalid("'" + name + "' given twice (entities and request data)");
    }
    ARROW_RETURN_NOT_OK(check_length(name, values.size(), "request data"));
  }
  if (!have_rows) return Invalid("no entities given");

  auto find_entity = [&](std::string_view name) -> const std::vector<JoinKeyValue>* {
    for (const auto& [n, v] : request.entities) {
      if (n == name) return &v;
    }
    return nullptr;
  };
  auto find_request_data = [&](std::string_view name) -> const std::vector<FeatureValue>* {
    for (const auto& [n, v] : request.request_data) {
      if (n == name) return &v;
    }
    return nullptr;
  };

  // 4. Every entity column must be a join key or a request field; every join key present.
  std::vector<size_t> output_entities;  // indexes into request.entities
  for (size_t i = 0; i < request.entities.size(); ++i) {
    const auto& name = request.entities[i].first;
    if (compiled.join_keys.count(name)) {
      output_entities.push_back(i);
    } else if (!request_fields.count(name)) {
      std::set<std::string> wanted;
      for (const auto& r : reads) {
        for (const auto& k : compiled.views.at(r.view->name).key_names) wanted.insert(k);
      }
      std::string list;
      for (const auto& w : wanted) list += (list.empty() ? "" : ", ") + w;
      return Invalid("unknown entity key '" + name + "'" +
                     (list.empty() ? std::string() : " (the requested views need: " + list + ")"));
    }
  }
  for (const auto& [name, values] : request.request_data) {
    if (!request_fields.count(name) && compiled.join_keys.count(name)) {
      return Invalid("entity key '" + name + "' must hold " +
                     FeatureTypeName(compiled.join_keys.at(name)) + " values, got " +
                     FeatureValueKind(values[0]) + " (or mixed types)");
    }
    if (!request_fields.count(name)) {
      return Invalid("unknown request data '" + name + "' (no requested on-demand view uses it)");
    }
  }

  const int64_t now = request.now_us.value_or(
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());

  // 5. One Read per view, for every entity row.
  std::vector<online::ReadResult> results(reads.size());
  std::vector<std::string> keys(num_rows);
  std::vector<JoinKeyValue> row_values;
  for (size_t ri = 0; ri < reads.size(); ++ri) {
    const ViewRead& r = reads[ri];
    const Compiled::View& cv = compiled.views.at(r.view->name);
    std::vector<const std::vector<JoinKeyValue>*> columns;
    for (const auto& k : cv.keys) {
      const auto* col = find_entity(k.name);
      if (col == nullptr) {
        if (find_request_data(k.name) != nullptr) {
          return Invalid("entity key '" + k.name + "' must hold " + FeatureTypeName(k.type) +
                         " values (feature view '" + r.view->name + "')");
        }
        return Invalid("missing entity key '" + k.name + "' (needed by feature view '" +
                       r.view->name + "')");
      }
      const bool want_int = k.type == FeatureType::kInt64;
      for (size_t row = 0; row < num_rows; ++row) {
        if (std::holds_alternative<int64_t>((*col)[row]) != want_int) {
          return Invalid("entity key '" + k.name + "' must be " +
                         (want_int ? "an integer" : "a string") + ", got " +
                         JoinKeyValueKind((*col)[row]) + " at row " + std::to_string(row));
        }
      }
      columns.push_back(col);
    }
    if (!cv.encoder) return Invalid("feature view '" + r.view->name + "' has no join keys");
    for (size_t row = 0; row < num_rows; ++row) {
      keys[row].clear();
      if (columns.size() == 1) {
        const JoinKeyValue& v = (*columns[0])[row];
        cv.encoder->Encode(std::span<const JoinKeyValue>(&v, 1), &keys[row]);
      } else {
        row_values.clear();
        for (const auto* c : columns) row_values.push_back((*c)[row]);
        cv.encoder->Encode(row_values, &keys[row]);
      }
    }
    online::ReadOptions options;
    options.ttl_micros = r.view->ttl_us;
    options.now_micros = now;
    auto result = store_->Read(r.view->name, keys, r.features, options);
    if (!result.ok()) return WithContext(result.status(), "reading feature view '" + r.view->name + "'");
    results[ri] = std::move(*result);
  }

  // 6. Assemble: entity columns, then features in request order.
  OnlineResponse out;
  out.num_rows = num_rows;
  // Feature output names are unique (the plan checked); an entity's must not be one of them.
  for (size_t i : output_entities) {
    const std::string& name = request.entities[i].first;
    auto it = plan->output_index.find(name);
    if (it != plan->output_index.end()) {
      return Invalid("output name '" + name + "' is produced by both entity '" + name + "' and " +
                     plan->outputs[it->second].what +
                     (request.full_feature_names ? "" : " (use full_feature_names)"));
    }
  }
  out.feature_names.reserve(output_entities.size() + refs.size());
  out.columns.reserve(output_entities.size() + refs.size());
  for (size_t i : output_entities) {
    const auto& [name, values] = request.entities[i];
    out.feature_names.push_back(name);
    OnlineResponse::Column c;
    c.values.reserve(num_rows);
    for (const auto& v : values) {
      if (const auto* x = std::get_if<int64_t>(&v)) {
        c.values.emplace_back(FeatureValue(*x));
      } else {
        c.values.emplace_back(FeatureValue(std::get<std::string>(v)));
      }
    }
    c.statuses.assign(num_rows, FeatureStatus::kPresent);
    c.event_ts_us.assign(num_rows, 0);
    out.columns.push_back(std::move(c));
  }
  out.num_entity_columns = out.columns.size();

  // On-demand views: evaluated once per view, for the features requested of it.
  std::map<std::pair<std::string, std::string>, OnlineResponse::Column> od_columns;
  for (const OnDemandFeatureView* od : plan->on_demand) {
    const std::string what = "on-demand view '" + od->name + "'";
    arrow::FieldVector fields;
    arrow::ArrayVector arrays;
    std::set<std::string> used;
    for (const auto& f : od->request) {
      const std::vector<FeatureValue>* data = find_request_data(f.name);
      std::vector<FeatureValue> from_entities;
      if (data == nullptr) {
        if (const auto* e = find_entity(f.name)) {
          for (const auto& v : *e) {
            if (const auto* x = std::get_if<int64_t>(&v)) {
              from_entities.emplace_back(*x);
            } else {
              from_entities.emplace_back(std::get<std::string>(v));
            }
          }
          data = &from_entities;
        }
      }
      if (data == nullptr) {
        return Invalid("missing request data '" + f.name + "' (needed by " + what + ")");
      }
      auto array = BuildArray(
          f.type, num_rows, [&](size_t i) { return &(*data)[i]; },
          [&](size_t i) { return "request data '" + f.name + "' at row " + std::to_string(i); });
      if (!array.ok()) return WithContext(array.status(), what);
      fields.push_back(arrow::field(f.name, ArrowType(f.type)));
      arrays.push_back(std::move(*array));
      used.insert(f.name);
    }
    // Short names only when no other source view (or request field) has the same one.
    std::map<std::string, int> short_count;
    for (const auto& src : od->sources) {
      for (const auto& f : repo.FindView(src)->features) ++short_count[f.name];
    }
    std::vector<int64_t> newest(num_rows, 0);
    for (const auto& src : od->sources) {
      const size_t ri = plan->read_index.at(src);
      const ViewRead& r = reads[ri];
      const online::ReadResult& result = results[ri];
      for (size_t k = 0; k < num_rows; ++k) {
        if (result.statuses[k] == FeatureStatus::kPresent) {
          newest[k] = std::max(newest[k], result.event_ts[k]);
        }
      }
      for (const auto& f : r.view->features) {
        const size_t slot = r.Slot(f.name);
        auto array = BuildArray(
            f.type, num_rows,
            [&](size_t i) -> const FeatureValue* {
              const auto& v = result.value(i, slot);
              return v ? &*v : nullptr;
            },
            [&](size_t i) {
              return "stored feature '" + src + ":" + f.name + "' at row " + std::to_string(i);
            });
        if (!array.ok()) return WithContext(array.status(), what);
        fields.push_back(arrow::field(src + "__" + f.name, ArrowType(f.type)));
        arrays.push_back(*array);
        if (short_count[f.name] == 1 && !used.count(f.name)) {
          fields.push_back(arrow::field(f.name, ArrowType(f.type)));
          arrays.push_back(*array);
        }
      }
    }
    auto batch = arrow::RecordBatch::Make(arrow::schema(fields), static_cast<int64_t>(num_rows),
                                          arrays);
    const auto& exprs = compiled.on_demand.at(od->name).expressions;
    for (const auto& ref : refs) {
      if (!ref.on_demand || ref.view != od->name) continue;
      const OnDemandFeature* feature = nullptr;
      for (const auto& f : od->features) {
        if (f.name == ref.feature) feature = &f;
      }
      if (feature == nullptr) return Invalid("unknown feature '" + ref.ToString() + "'");
      const std::string fwhat = "on-demand feature '" + ref.ToString() + "'";
      auto result = expr::Evaluate(exprs.at(feature->name), batch);
      if (!result.ok()) {
        return MakeError(ErrorCode::kInvalidArgument, fwhat + ": " + result.status().message());
      }
      auto values = ReadArray(*result, feature->type);
      if (!values.ok()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fwhat + ": cannot convert to " + FeatureTypeName(feature->type) + ": " +
                             values.status().message());
      }
      OnlineResponse::Column c;
      c.values = std::move(*values);
      c.statuses.resize(num_rows);
      c.event_ts_us.resize(num_rows);
      for (size_t k = 0; k < num_rows; ++k) {
        const bool present = c.values[k].has_value();
        c.statuses[k] = present ? FeatureStatus::kPresent : FeatureStatus::kNotFound;
        c.event_ts_us[k] = present ? newest[k] : 0;
      }
      od_columns.emplace(std::make_pair(ref.view, ref.feature), std::move(c));
    }
  }

  for (size_t j = 0; j < refs.size(); ++j) {
    const FeatureRef& ref = refs[j];
    const Plan::Output& o = plan->outputs[j];
    out.feature_names.push_back(o.name);
    if (ref.on_demand) {
      out.columns.push_back(std::move(od_columns.at({ref.view, ref.feature})));
      continue;
    }
    const online::ReadResult& result = results[o.read];
    OnlineResponse::Column c;
    c.values.resize(num_rows);
    c.statuses.resize(num_rows);
    c.event_ts_us.resize(num_rows);
    for (size_t k = 0; k < num_rows; ++k) {
      const FeatureStatus st = result.feature_status(k, o.slot);
      c.statuses[k] = st;
      if (st == FeatureStatus::kPresent) c.values[k] = result.value(k, o.slot);
      c.event_ts_us[k] = st == FeatureStatus::kNotFound ? 0 : result.event_ts[k];
    }
    out.columns.push_back(std::move(c));
  }
  return out;
}

}  // namespace strata::features
