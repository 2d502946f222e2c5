// The registry against tables: source validation (schemas), the versioned registry table
// `<repo>/.strata/registry`, and Apply.
#include <chrono>

#include <arrow/api.h>

#include "strata/exec/scan.h"
#include "strata/features/registry.h"
#include "strata/ops/write.h"
#include "strata/storage/object_store.h"
#include "strata/table/log_segment.h"
#include "strata/table/snapshot.h"

namespace strata::features {

namespace {

bool IsInteger(const arrow::DataType& t, int max_bits) {
  switch (t.id()) {
    case arrow::Type::INT8: case arrow::Type::UINT8: return true;
    case arrow::Type::INT16: case arrow::Type::UINT16: return true;
    case arrow::Type::INT32: return true;
    case arrow::Type::UINT32: case arrow::Type::INT64: return max_bits >= 64;
    default: return false;
  }
}

bool IsString(const arrow::DataType& t) {
  return t.id() == arrow::Type::STRING || t.id() == arrow::Type::LARGE_STRING || t.id() == arrow::Type::STRING_VIEW;
}

bool IsFloat(const arrow::DataType& t) {
  return t.id() == arrow::Type::FLOAT || t.id() == arrow::Type::DOUBLE || t.id() == arrow::Type::HALF_FLOAT;
}

/// Whether a column of type `t` can feed a feature (or key) declared as `want`.
bool Compatible(FeatureType want, const arrow::DataType& t) {
  switch (want) {
    case FeatureType::kInt64: return IsInteger(t, 64);
    case FeatureType::kInt32: return IsInteger(t, 32);
    case FeatureType::kFloat64: return IsFloat(t) || IsInteger(t, 32);
    case FeatureType::kFloat32: return IsFloat(t);
    case FeatureType::kString: return IsString(t);
    case FeatureType::kBool: return t.id() == arrow::Type::BOOL;
    case FeatureType::kTimestamp: return t.id() == arrow::Type::TIMESTAMP || t.id() == arrow::Type::DATE32;
    case FeatureType::kFloatList: {
      std::shared_ptr<arrow::DataType> value;
      if (t.id() == arrow::Type::LIST) value = static_cast<const arrow::ListType&>(t).value_type();
      if (t.id() == arrow::Type::LARGE_LIST) value = static_cast<const arrow::LargeListType&>(t).value_type();
      if (t.id() == arrow::Type::FIXED_SIZE_LIST) value = static_cast<const arrow::FixedSizeListType&>(t).value_type();
      return value != nullptr && IsFloat(*value);
    }
  }
  return false;
}

Status FailAt(const Location& loc, std::string_view message) {
  return Error(ErrorCode::kInvalidArgument, loc.ToString(), ": ", message);
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<arrow::Schema> RegistrySchema() {
  return arrow::schema({
      arrow::field("registry_version", arrow::int64(), false),
      arrow::field("applied_at", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), false),
      arrow::field("project", arrow::utf8()),
      arrow::field("registry_json", arrow::utf8(), false),
      arrow::field("plan", arrow::list(arrow::utf8())),
  });
}

constexpr const char* kRegistryTxnApp = "strata.registry";

}  // namespace

Status ValidateSources(const Repository& repo) {
  for (const auto& view : repo.feature_views) {
    const Source* src = repo.FindSource(view.source);
    if (src == nullptr) return FailAt(view.location, "unknown source '" + view.source + "'");
    const std::string w = "feature view '" + view.name + "' (source '" + src->name + "', table " + src->table + ")";
    auto store = storage::OpenStore(src->table_uri);
    if (!store.ok()) return FailAt(src->location, "source '" + src->name + "': " + store.status().message());
    auto snap = table::Snapshot::Load(*store, std::nullopt, /*with_files=*/false);
    if (!snap.ok()) {
      return FailAt(src->location, "source '" + src->name + "': table '" + src->table + "' cannot be read: " +
                                       snap.status().message());
    }
    const arrow::Schema& schema = *(*snap)->schema();
    auto check = [&](const std::string& column, FeatureType type, const std::string& role) -> Status {
      auto field = schema.GetFieldByName(column);
      if (field == nullptr) {
        std::string cols;
        for (int i = 0; i < schema.num_fields() && i < 16; ++i) cols += (i ? ", " : "") + schema.field(i)->name();
        return FailAt(view.location, w + ": " + role + " '" + column + "' is not a column of the table (columns: " +
                                         cols + ")");
      }
      if (!Compatible(type, *field->type())) {
        return FailAt(view.location, w + ": " + role + " '" + column + "' is declared " + FeatureTypeName(type) +
                                         " but the column is " + field->type()->ToString());
      }
      return Status::OK();
    };
    for (const auto& key : repo.JoinKeys(view)) {
      ARROW_RETURN_NOT_OK(check(key.name, key.type, "entity join key"));
    }
    auto ts_check = [&](const std::string& column, const char* role) -> Status {
      auto field = schema.GetFieldByName(column);
      if (field == nullptr) {
        return FailAt(src->location, "source '" + src->name + "': " + role + " '" + column +
                                         "' is not a column of table " + src->table);
      }
      if (field->type()->id() != arrow::Type::TIMESTAMP) {
        return FailAt(src->location, "source '" + src->name + "': " + role + " '" + column +
                                         "' must be a timestamp, the column is " + field->type()->ToString());
      }
      return Status::OK();
    };
    ARROW_RETURN_NOT_OK(ts_check(src->timestamp_field, "timestamp_field"));
    if (!src->created_timestamp_field.empty()) {
      ARROW_RETURN_NOT_OK(ts_check(src->created_timestamp_field, "created_timestamp_field"));
    }
    for (const auto& f : view.features) ARROW_RETURN_NOT_OK(check(f.name, f.type, "feature"));
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// RegistryStore

RegistryStore::RegistryStore(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string RegistryStore::table_uri() const { return root_ + "/.strata/registry"; }

namespace {

Result<std::vector<RegistryVersion>> ReadVersions(const std::string& uri, bool* exists) {
  ARROW_ASSIGN_OR_RAISE(auto store, storage::OpenStore(uri));
  auto snap = table::Snapshot::Load(store);
  if (!snap.ok()) {
    if (HasCode(snap.status(), ErrorCode::kNotATable)) {
      *exists = false;
      return std::vector<RegistryVersion>{};
    }
    return snap.status();
  }
  *exists = true;
  ARROW_ASSIGN_OR_RAISE(auto t, exec::ScanToTable(*snap, {}));
  ARROW_ASSIGN_OR_RAISE(t, t->CombineChunks());
  std::vector<RegistryVersion> out;
  auto version = std::static_pointer_cast<arrow::Int64Array>(t->GetColumnByName("registry_version")->chunk(0));
  auto at = std::static_pointer_cast<arrow::TimestampArray>(t->GetColumnByName("applied_at")->chunk(0));
  auto project = std::static_pointer_cast<arrow::StringArray>(t->GetColumnByName("project")->chunk(0));
  auto json = std::static_pointer_cast<arrow::StringArray>(t->GetColumnByName("registry_json")->chunk(0));
  auto plan = std::static_pointer_cast<arrow::ListArray>(t->GetColumnByName("plan")->chunk(0));
  auto plan_values = std::static_pointer_cast<arrow::StringArray>(plan->values());
  for (int64_t i = 0; i < t->num_rows(); ++i) {
    RegistryVersion v;
    v.version = version->Value(i);
    v.applied_at_us = at->Value(i);
    v.project = project->GetString(i);
    v.json = json->GetString(i);
    if (plan->IsValid(i)) {
      for (int64_t j = plan->value_offset(i); j < plan->value_offset(i + 1); ++j) v.plan.push_back(plan_values->GetString(j));
    }
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  return out;
}

}  // namespace

Result<std::vector<RegistryVersion>> RegistryStore::History() const {
  bool exists = false;
  return ReadVersions(table_uri(), &exists);
}

Result<int64_t> RegistryStore::TableVersion() const {
  ARROW_ASSIGN_OR_RAISE(auto store, storage::OpenStore(table_uri()));
  ARROW_ASSIGN_OR_RAISE(auto listing, table::ListLog(*store, /*with_metadata=*/false));
  auto segment = table::BuildLogSegment(listing, std::nullopt, table_uri());
  if (!segment.ok()) {
    if (HasCode(segment.status(), ErrorCode::kNotATable)) return -1;
    return segment.status();
  }
  return segment->version;
}

Result<std::optional<RegistryVersion>> RegistryStore::Latest() const {
  ARROW_ASSIGN_OR_RAISE(auto all, History());
  if (all.empty()) return std::optional<RegistryVersion>();
  return std::optional<RegistryVersion>(std::move(all.back()));
}

Result<RegistryVersion> RegistryStore::Get(int64_t version) const {
  ARROW_ASSIGN_OR_RAISE(auto all, History());
  for (auto& v : all) {
    if (v.version == version) return std::move(v);
  }
  return Error(ErrorCode::kVersionNotFound, "registry version ", version, " does not exist (",
               all.empty() ? std::string("nothing was applied yet") : "latest is " + std::to_string(all.back().version),
               ")");
}

Result<Repository> RegistryStore::LoadLatest() const {
  ARROW_ASSIGN_OR_RAISE(auto latest, Latest());
  if (!latest) {
    return Error(ErrorCode::kInvalidArgument, "no registry applied in ", root_,
                 " yet: run `strata apply` in the feature repository first");
  }
  return RepositoryFromJson(latest->json, root_);
}

Result<int64_t> RegistryStore::Commit(const Repository& repo, const std::vector<PlanItem>& plan) const {
  ARROW_ASSIGN_OR_RAISE(auto latest, Latest());
  int64_t next = latest ? latest->version + 1 : 0;
  arrow::Int64Builder vb;
  arrow::TimestampBuilder tb(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  arrow::StringBuilder pb, jb;
  auto plan_values = std::make_shared<arrow::StringBuilder>();
  arrow::ListBuilder lb(arrow::default_memory_pool(), plan_values);
  ARROW_RETURN_NOT_OK(vb.Append(next));
  ARROW_RETURN_NOT_OK(tb.Append(NowMicros()));
  ARROW_RETURN_NOT_OK(pb.Append(repo.project));
  ARROW_RETURN_NOT_OK(jb.Append(repo.ToJson()));
  ARROW_RETURN_NOT_OK(lb.Append());
  for (const auto& item : plan) ARROW_RETURN_NOT_OK(plan_values->Append(item.ToString()));
  std::vector<std::shared_ptr<arrow::Array>> cols(5);
  ARROW_RETURN_NOT_OK(vb.Finish(&cols[0]));
  ARROW_RETURN_NOT_OK(tb.Finish(&cols[1]));
  ARROW_RETURN_NOT_OK(pb.Finish(&cols[2]));
  ARROW_RETURN_NOT_OK(jb.Finish(&cols[3]));
  ARROW_RETURN_NOT_OK(lb.Finish(&cols[4]));
  auto batch = arrow::RecordBatch::Make(RegistrySchema(), 1, cols);
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make({batch}));
  ARROW_ASSIGN_OR_RAISE(auto store, storage::OpenStore(table_uri()));
  ops::WriteOptions o;
  o.name = "strata feature registry";
  o.configuration["strata.runs.record"] = "false";  // bookkeeping, not data: no run records
  // Two applies computing the same next version both carry this txn; the commit protocol refuses
  // the second (a concurrent transaction with the same app id), so versions are never duplicated.
  o.txn = std::make_pair(std::string(kRegistryTxnApp), next);
  o.commit.max_attempts = 1;
  auto written = ops::WriteTable(store, reader, o);
  if (!written.ok()) {
    return WithContext(written.status(), "storing registry version " + std::to_string(next));
  }
  return next;
}

Result<ApplyResult> Apply(const std::string& dir, bool dry_run) {
  ARROW_ASSIGN_OR_RAISE(Repository repo, LoadRepository(dir));
  ARROW_RETURN_NOT_OK(ValidateSources(repo));
  RegistryStore store(repo.root);
  ARROW_ASSIGN_OR_RAISE(auto latest, store.Latest());
  ApplyResult result;
  std::optional<Repository> previous;
  if (latest) {
    auto prev = RepositoryFromJson(latest->json, repo.root);
    if (prev.ok()) previous = std::move(*prev);
  }
  result.plan = PlanChanges(previous ? &*previous : nullptr, repo);
  bool changed = !latest || !result.plan.empty();
  if (dry_run || !changed) return result;
  ARROW_ASSIGN_OR_RAISE(result.version, store.Commit(repo, result.plan));
  return result;
}

}  // namespace strata::features
