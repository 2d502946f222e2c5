/// \file
/// Online feature retrieval: resolves feature references (or a feature service) against the
/// applied registry, encodes the entity keys, reads the online store per view, applies the views'
/// TTLs and computes on-demand features. The feature server (serve/) and Python's
/// `FeatureStore.get_online_features` both answer through this class, so they cannot disagree.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "strata/common/status.h"
#include "strata/features/registry.h"
#include "strata/online/online_store.h"

namespace strata::features {

/// One request: which features, for which entities, with which request data.
struct OnlineRequest {
  /// "view:feature" references; or, when `feature_service` is set, that service's features.
  std::vector<std::string> features;
  std::string feature_service;
  /// Entity columns, name -> one value per entity row (all the same length, >= 1). Every join key
  /// of every requested view must be present; int64 keys must be integers, string keys strings.
  std::vector<std::pair<std::string, std::vector<online::JoinKeyValue>>> entities;
  /// Request data for on-demand views: name -> one value per entity row.
  std::vector<std::pair<std::string, std::vector<online::FeatureValue>>> request_data;
  bool full_feature_names = false;
  /// "Now" for TTL checks (microseconds since the epoch); nullopt reads the clock.
  std::optional<int64_t> now_us;
};

/// The answer, shaped like Feast's: the entity columns first (status PRESENT, timestamp 0), then
/// one column per requested feature in request order.
struct OnlineResponse {
  struct Column {
    std::vector<std::optional<online::FeatureValue>> values;  ///< nullopt: missing
    std::vector<online::FeatureStatus> statuses;
    std::vector<int64_t> event_ts_us;  ///< the stored row's event time; 0 when NOT_FOUND
  };
  std::vector<std::string> feature_names;  ///< output names, one per column
  std::vector<Column> columns;
  size_t num_rows = 0;
  size_t num_entity_columns = 0;  ///< the first columns, echoing the request's join keys
};

/// True when `st` is the caller's fault (a request error: kInvalidArgument), false for store
/// and internal failures. The server answers the first with 400 and the second with 500.
bool IsRequestError(const Status& st);

/// Opens the store `config` names for serving. A read-only RocksDB store is a secondary that
/// catches up with its writer in Refresh() (and every `catch_up_interval_ms` when > 0); when its
/// directory does not exist yet, an empty store is created first, so that serving can start before
/// the first materialization. Other stores open as OpenOnlineStore does.
Result<std::shared_ptr<online::OnlineStore>> OpenServingStore(const online::OnlineStoreConfig& config,
                                                              int64_t catch_up_interval_ms = 0);

class OnlineServing {
 public:
  /// `repo` is the applied registry; `store` the online store it names (opened by the caller).
  static Result<std::unique_ptr<OnlineServing>> Make(std::shared_ptr<const Repository> repo,
                                                      std::shared_ptr<online::OnlineStore> store);

  /// Thread-safe. Request errors (unknown feature/view/service, missing or mistyped entity key,
  /// ragged columns, missing request data) are kInvalidArgument naming the problem; store errors
  /// keep their code (kIOError ...).
  ///
  /// Reads the store once per feature view, for all entity rows. Entity columns that are not
  /// join keys but request fields of a requested on-demand view count as request data (Feast
  /// clients send request data among the entities); a column named neither way is an error.
  /// Output columns: the request's columns that are join keys of some entity of the registry (in
  /// request order), then one per feature.
  /// An on-demand feature is PRESENT when its expression gives a value, NOT_FOUND when null;
  /// its timestamp is the newest of its source views' rows.
  Result<OnlineResponse> Get(const OnlineRequest& request) const;

  const Repository& repository() const { return *repo_; }
  online::OnlineStore& store() const { return *store_; }

 private:
  OnlineServing() = default;
  std::shared_ptr<const Repository> repo_;
  std::shared_ptr<online::OnlineStore> store_;
  struct Compiled;  // per view: join keys and key encoder; per on-demand view: parsed expressions
  std::shared_ptr<const Compiled> compiled_;
  struct PlanCache;  // feature list -> what to read and how to name it, built on first use
  std::shared_ptr<PlanCache> plans_;
};

}  // namespace strata::features
