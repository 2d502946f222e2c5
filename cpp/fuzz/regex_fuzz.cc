/// libFuzzer harness for the regex expectations' fast path, differential: the input is a pattern
/// and values (split at the first 0 byte, values at each '\x01'). Whatever the subset check
/// admits must give, for every value, RE2's answer (Arrow's match_substring_regex) or "undecided".
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/utf8.h>

#include "strata/quality/regex_match.h"

namespace {

void Check(const std::string& pattern, const std::vector<std::string>& values, bool utf8) {
  using strata::quality::internal::FastRegex;
  auto fast = FastRegex::Compile(pattern, utf8);
  if (fast == nullptr) return;
  std::shared_ptr<arrow::Array> arr;
  if (utf8) {
    arrow::StringBuilder b;
    if (!b.AppendValues(values).ok() || !b.Finish(&arr).ok()) std::abort();
  } else {
    arrow::BinaryBuilder b;
    if (!b.AppendValues(values).ok() || !b.Finish(&arr).ok()) std::abort();
  }
  arrow::compute::MatchSubstringOptions o(pattern);
  auto r = arrow::compute::CallFunction("match_substring_regex", {arr}, &o);
  if (!r.ok()) std::abort();  // the subset admitted a pattern RE2 refuses
  auto matched = std::static_pointer_cast<arrow::BooleanArray>(r->make_array());
  FastRegex::Matcher m(*fast);
  for (size_t i = 0; i < values.size(); ++i) {
    const int got = m.Match(values[i]);
    if (got >= 0 && got != (matched->Value(static_cast<int64_t>(i)) ? 1 : 0)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool init = [] {
    arrow::util::InitializeUTF8();
    return arrow::compute::Initialize().ok();
  }();
  if (!init) std::abort();
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t cut = in.find('\0');
  if (cut == std::string_view::npos) return 0;
  const std::string pattern(in.substr(0, cut));
  std::vector<std::string> all, valid;
  std::string_view rest = in.substr(cut + 1);
  while (true) {
    const size_t sep = rest.find('\x01');
    all.emplace_back(rest.substr(0, sep));
    if (sep == std::string_view::npos) break;
    rest = rest.substr(sep + 1);
  }
  for (const auto& v : all) {
    if (arrow::util::ValidateUTF8(v)) valid.push_back(v);  // the kernel sends only valid UTF-8
  }
  Check(pattern, all, /*utf8=*/false);
  Check(pattern, valid, /*utf8=*/true);
  return 0;
}
