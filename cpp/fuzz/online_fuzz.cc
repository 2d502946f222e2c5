/// libFuzzer harness for the online store's parsers of stored bytes and configuration:
/// arbitrary bytes as an entity key, as a stored row (whole and selectively decoded), and as a
/// redis:// URL. None may crash; what decodes must re-encode to the same bytes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strata/online/key.h"
#include "strata/online/redis_store.h"
#include "strata/online/value.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::online;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  if (auto key = DecodeEntityKey(bytes); key.ok()) {
    auto again = EncodeEntityKey(*key);
    if (!again.ok() || *again != bytes) std::abort();
  }

  if (auto row = DecodeRow(bytes); row.ok()) {
    std::string again;
    EncodeRow(row->version, row->names, row->values, &again);
    if (again != bytes) std::abort();
    // Selective decoding agrees with the full decode.
    std::vector<std::string> wanted = row->names;
    wanted.push_back("not-stored");
    std::vector<std::optional<FeatureValue>> out(wanted.size());
    if (!DecodeRowFeatures(bytes, wanted, out.data()).ok()) std::abort();
    for (size_t i = 0; i < row->names.size(); ++i) {
      bool first = true;  // a name stored twice: the selective decode keeps one of them
      for (size_t j = 0; j < i; ++j) first &= row->names[j] != row->names[i];
      if (first && !out[i].has_value()) std::abort();
    }
    if (out.back().has_value() && !row->names.empty() &&
        std::find(row->names.begin(), row->names.end(), "not-stored") == row->names.end()) {
      std::abort();
    }
  } else {
    std::vector<std::string> wanted = {"a", "b"};
    std::vector<std::optional<FeatureValue>> out(wanted.size());
    (void)DecodeRowFeatures(bytes, wanted, out.data());
  }
  (void)DecodeRowVersion(bytes);

  (void)ParseRedisUrl(bytes);
  return 0;
}
