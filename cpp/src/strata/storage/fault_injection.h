#pragma once

#include <atomic>
#include <string>

#include "strata/storage/object_store.h"

namespace strata::storage {

/// A store that fails chosen operations, for testing that errors leave tables intact.
/// Thread-safe. Failures are injected by operation kind and countdown.
class FaultInjectingStore : public ObjectStoreWrapper {
 public:
  enum class Op { kRead, kWrite, kPutIfAbsent, kList, kDelete };
  explicit FaultInjectingStore(std::shared_ptr<ObjectStore> target) : ObjectStoreWrapper(std::move(target)) {}

  /// The `n`th (1-based) next call of `op` fails with an IOError; 0 disarms.
  void FailNth(Op op, int n) { countdown_[static_cast<int>(op)] = n; }
  /// Counts of calls per operation since construction.
  int calls(Op op) const { return calls_[static_cast<int>(op)]; }

  Result<std::shared_ptr<arrow::Buffer>> Read(const std::string& p) override;
  Status Write(const std::string& p, std::string_view d) override;
  Result<bool> PutIfAbsent(const std::string& p, std::string_view d) override;
  Result<std::vector<ObjectInfo>> List(const std::string& d) override;
  Status Delete(const std::string& p) override;

 private:
  Status Maybe(Op op, const std::string& path);
  std::atomic<int> countdown_[5] = {0, 0, 0, 0, 0};
  std::atomic<int> calls_[5] = {0, 0, 0, 0, 0};
};

/// Forwards every call but reports `label` as its root: a table that can be reached through this
/// object only, not by opening its root again (as an S3 table whose endpoint and keys were given
/// as options rather than in the environment). For testing that nothing reopens a table by URI.
class RelabeledStore : public ObjectStoreWrapper {
 public:
  RelabeledStore(std::shared_ptr<ObjectStore> target, std::string label)
      : ObjectStoreWrapper(std::move(target)), label_(std::move(label)) {}
  const std::string& root() const override { return label_; }

 private:
  std::string label_;
};

}  // namespace strata::storage
