/// \file
/// The feature registry: a feature repository's declarations (strata.yaml and the definition files
/// beside it), validated, diffed against the last applied version, and stored as a new version.
///
/// A repository is a folder:
///
///     strata.yaml        project: rides
///                        online: {type: rocksdb, path: online}     # or {type: redis, url: ...}
///     *.yaml             entities:, sources:, feature_views:, on_demand_feature_views:,
///                        feature_services: (any file may hold any of these lists)
///
/// (ARCHITECTURE.md shows a complete example.) Applying stores the resolved registry as JSON in
/// the Delta table `<repo>/.strata/registry`, one row per apply: the registry version is that
/// table's version, so `strata registry history` is the table's history and time travel gives any
/// earlier registry. Materialization watermarks live beside it in `<repo>/.strata/materializations`.
///
/// Knows tables (to check sources) and the online store configuration; not HTTP, Arrow compute or
/// the join: retrieval.h, materialize.h and online_serving.h build on this.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strata/common/status.h"
#include "strata/online/online_store.h"

namespace strata::features {

/// Where a declaration came from, for messages: "features.yaml:12".
struct Location {
  std::string file;  ///< relative to the repository root
  int line = 0;      ///< 1-based; 0 when unknown
  std::string ToString() const;
};

/// Value types of join keys, features and request fields. Join keys: int64 or string.
enum class FeatureType { kInt64, kInt32, kFloat64, kFloat32, kString, kBool, kTimestamp, kFloatList };
/// "int64", "int32", "float64", "float32", "string", "bool", "timestamp", "float_list".
const char* FeatureTypeName(FeatureType type);
/// Parses a type name (also "double" = float64, "float" = float32, "int" = int64, "str" = string).
Result<FeatureType> ParseFeatureType(std::string_view name);

struct Field {
  std::string name;
  FeatureType type = FeatureType::kFloat64;
  std::string description;
};

struct Entity {
  std::string name;
  std::vector<Field> join_keys;  ///< int64 or string each; at least one
  std::string description;
  Location location;
};

struct Source {
  std::string name;
  /// A strata table: the path as written (relative to the repository or absolute, or s3://...)
  /// and as resolved. Empty for a pure stream source.
  std::string table;
  std::string table_uri;
  std::string timestamp_field;          ///< event timestamp column (required)
  std::string created_timestamp_field;  ///< optional tie breaker
  /// A Kafka stream source: topic and bootstrap servers (the table, when also given, is where
  /// stream ingest lands the records and what offline retrieval reads).
  std::string kafka_topic;
  std::string kafka_bootstrap_servers;
  std::string description;
  Location location;
};

struct FeatureView {
  std::string name;
  std::vector<std::string> entities;  ///< entity names; the join keys are theirs, in order
  std::string source;
  std::optional<int64_t> ttl_us;      ///< nullopt: no limit
  bool online = true;
  std::vector<Field> features;
  std::map<std::string, std::string> tags;
  std::string owner;
  std::string description;
  Location location;
};

/// A feature computed at request time: an SQL expression (the table engine's dialect) over the
/// request fields and the features of the views in `sources` (named `feature` or `view__feature`).
struct OnDemandFeature {
  std::string name;
  FeatureType type = FeatureType::kFloat64;
  std::string expression;
};

struct OnDemandFeatureView {
  std::string name;
  std::vector<std::string> sources;  ///< feature views whose features the expressions read
  std::vector<Field> request;        ///< fields the request carries (request data)
  std::vector<OnDemandFeature> features;
  std::string description;
  Location location;
};

struct FeatureService {
  std::string name;
  /// "view:feature" or "view" (every feature of the view); on-demand views too.
  std::vector<std::string> features;
  std::string description;
  std::string owner;
  Location location;
};

/// One resolved feature reference.
struct FeatureRef {
  std::string view;
  std::string feature;
  bool on_demand = false;
  std::string ToString() const { return view + ":" + feature; }
};

/// A repository's declarations, resolved: every name unique per kind, every reference known.
struct Repository {
  std::string root;     ///< absolute path of the repository folder
  std::string project;
  online::OnlineStoreConfig online;  ///< path resolved against root
  std::vector<Entity> entities;                  ///< each list sorted by name
  std::vector<Source> sources;
  std::vector<FeatureView> feature_views;
  std::vector<OnDemandFeatureView> on_demand_views;
  std::vector<FeatureService> feature_services;

  const Entity* FindEntity(std::string_view name) const;
  const Source* FindSource(std::string_view name) const;
  const FeatureView* FindView(std::string_view name) const;
  const OnDemandFeatureView* FindOnDemandView(std::string_view name) const;
  const FeatureService* FindService(std::string_view name) const;

  /// The join key fields of a view (its entities' keys, in order).
  std::vector<Field> JoinKeys(const FeatureView& view) const;

  /// Resolves "view:feature" (or "view" for all its features) references; an unknown view or
  /// feature is kInvalidArgument naming it (and listing what exists when short).
  Result<std::vector<FeatureRef>> ResolveRefs(const std::vector<std::string>& refs) const;
  /// The references of a feature service; kInvalidArgument for an unknown service.
  Result<std::vector<FeatureRef>> ServiceRefs(std::string_view service) const;

  /// The canonical JSON form (what apply stores; sorted, so equal registries give equal text).
  std::string ToJson() const;
};

/// Reads and checks a repository folder: YAML syntax, keys, types, duplicate names, references
/// between declarations (unknown entity, source or view, a service naming an unknown feature).
/// Every error is kInvalidArgument and starts with "file:line: ". Does not open tables.
Result<Repository> LoadRepository(const std::string& dir);

/// Checks the declarations against the source tables: the table exists, and has the timestamp
/// columns (timestamps), every entity join key (of the declared type) and every feature column
/// (of a compatible type). Errors name the declaration's file and line.
Status ValidateSources(const Repository& repo);

/// The registry from its canonical JSON (as stored by apply); `root` re-anchors relative paths.
Result<Repository> RepositoryFromJson(std::string_view json, const std::string& root);

/// One change between two registries.
struct PlanItem {
  enum class Action { kCreate, kUpdate, kDelete };
  Action action = Action::kCreate;
  std::string kind;    ///< "entity", "source", "feature_view", "on_demand_feature_view", "feature_service"
  std::string name;
  std::string detail;  ///< for updates: what changed ("ttl 2h -> 3h; +feature trips")
  std::string ToString() const;  ///< "+ feature_view driver_stats" / "~ ... (detail)" / "- ..."
};

/// What applying `next` over `previous` (nullptr: nothing applied yet) changes.
std::vector<PlanItem> PlanChanges(const Repository* previous, const Repository& next);

/// One applied version of the registry.
struct RegistryVersion {
  int64_t version = 0;        ///< the registry table's version
  int64_t applied_at_us = 0;  ///< microseconds since the epoch (UTC)
  std::string project;
  std::string json;           ///< the registry's canonical JSON
  std::vector<std::string> plan;  ///< PlanItem::ToString of the changes it applied
};

/// The versioned registry of one repository (`<root>/.strata/registry`).
class RegistryStore {
 public:
  explicit RegistryStore(std::string root);

  /// The latest applied registry; nullopt when nothing was applied yet.
  Result<std::optional<RegistryVersion>> Latest() const;
  /// A given version; kNotFound when absent.
  Result<RegistryVersion> Get(int64_t version) const;
  /// Every version, oldest first.
  Result<std::vector<RegistryVersion>> History() const;
  /// The version of the table that stores the registry (it changes with every Commit), from a
  /// listing of its log alone; -1 when nothing was applied yet. Cheap enough to poll.
  Result<int64_t> TableVersion() const;
  /// Stores `repo` as a new version with its plan; returns the version. Concurrent applies are
  /// serialized by the table's commit protocol (the later one retries on top of the earlier).
  Result<int64_t> Commit(const Repository& repo, const std::vector<PlanItem>& plan) const;

  /// The latest applied registry, parsed; kNotFound ("run strata apply first") when none.
  Result<Repository> LoadLatest() const;

  const std::string& root() const { return root_; }
  std::string table_uri() const;

 private:
  std::string root_;
};

/// What `apply` did.
struct ApplyResult {
  std::vector<PlanItem> plan;
  int64_t version = -1;  ///< the new registry version; -1 when nothing changed (no new version)
  bool changed() const { return version >= 0; }
};

/// Loads, validates (LoadRepository + ValidateSources), plans against the latest applied version
/// and, unless `dry_run` or nothing changed, commits a new registry version.
Result<ApplyResult> Apply(const std::string& dir, bool dry_run = false);

}  // namespace strata::features
