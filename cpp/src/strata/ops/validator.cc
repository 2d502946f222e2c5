#include "strata/ops/validator.h"

#include <mutex>

namespace strata::ops {

namespace {
std::mutex provider_mu;
ValidatorProvider& Provider() {
  static ValidatorProvider provider;
  return provider;
}
}  // namespace

void SetValidatorProvider(ValidatorProvider provider) {
  std::lock_guard<std::mutex> lock(provider_mu);
  Provider() = std::move(provider);
}

Result<std::shared_ptr<PreCommitValidator>> ValidatorFor(const std::shared_ptr<storage::ObjectStore>& store,
                                                         const table::Snapshot& snapshot) {
  ValidatorProvider provider;
  {
    std::lock_guard<std::mutex> lock(provider_mu);
    provider = Provider();
  }
  if (!provider) return std::shared_ptr<PreCommitValidator>();
  return provider(store, snapshot);
}

Result<Verdict> ValidatePending(const std::shared_ptr<storage::ObjectStore>& store, const table::Snapshot* snapshot,
                                PendingRows pending) {
  std::shared_ptr<PreCommitValidator> validator;
  if (snapshot) {
    ARROW_ASSIGN_OR_RAISE(validator, ValidatorFor(store, *snapshot));
  }
  if (!validator) {
    Verdict v;
    v.publish = std::move(pending.rows);
    return v;
  }
  return validator->Validate(std::move(pending));
}

}  // namespace strata::ops
