/// libFuzzer harness for the S3 response parsers (bytes a server, or a man in the middle, sends
/// back): ListObjectsV2 pages, <Error> bodies and both date formats. None may crash; a parsed
/// page's entries must be consistent.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "strata/storage/s3_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  namespace s3 = strata::storage::s3_internal;
  auto page = s3::ParseListObjectsV2(in);
  if (page.ok()) {
    for (const auto& e : page->entries) {
      if (e.size < 0) std::abort();  // sizes are validated, never negative
    }
    if (page->truncated && page->next_token.empty()) {
      // allowed: the caller stops listing rather than loop; nothing to check here
    }
  }
  (void)s3::ParseError(in);
  (void)s3::ParseIso8601Ms(in);
  (void)s3::ParseHttpDateMs(in);
  return 0;
}
