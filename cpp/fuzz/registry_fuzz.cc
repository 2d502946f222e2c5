// libFuzzer harness for feature registry definitions (the YAML of a feature repository and the
// canonical JSON apply stores): any byte string must parse or fail with a Status, and whatever
// parses must serialize to JSON that parses back to the same registry, with an empty plan.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "strata/features/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto repo = strata::features::RepositoryFromJson(text, "/fuzz/repo");
  if (!repo.ok()) return 0;
  const std::string json = repo->ToJson();
  auto again = strata::features::RepositoryFromJson(json, "/fuzz/repo");
  if (!again.ok() || again->ToJson() != json) std::abort();
  if (!strata::features::PlanChanges(&*repo, *again).empty()) std::abort();
  for (const auto& s : repo->feature_services) (void)repo->ServiceRefs(s.name);
  return 0;
}
