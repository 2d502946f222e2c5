// libFuzzer harness for the Delta log parsers: commit JSON (actions), schema strings and file
// statistics must reject any input cleanly, never crash or hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "strata/table/actions.h"
#include "strata/table/schema.h"
#include "strata/table/stats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto actions = strata::table::ParseActions(text, "fuzz.json");
  if (actions.ok()) {
    // Whatever parses must serialize and parse again to the same actions.
    std::string again = strata::table::SerializeActions(*actions);
    auto round = strata::table::ParseActions(again, "round.json");
    if (!round.ok() || strata::table::SerializeActions(*round) != again) __builtin_trap();
    for (const auto& a : *actions) {
      if (auto* m = std::get_if<strata::table::Metadata>(&a)) {
        auto schema = strata::table::SchemaFromJson(m->schema_string);
        if (schema.ok()) (void)strata::table::SchemaToJson(**schema);
      }
      if (auto* add = std::get_if<strata::table::AddFile>(&a)) (void)strata::table::ParseFileStats(add->stats);
      if (auto* add = std::get_if<strata::table::AddFile>(&a)) (void)strata::table::DecodePath(add->path);
    }
  }
  (void)strata::table::SchemaFromJson(std::string(text));
  (void)strata::table::ParseFileStats(std::string(text));
  return 0;
}
