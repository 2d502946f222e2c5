// libFuzzer harness for the YAML of expectation suites and data contracts: any byte string must
// parse or fail with a Status (yaml-cpp's exceptions never escape, alias bombs are refused), and
// whatever parses as a suite must validate a small table without crashing.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <arrow/api.h>

#include "strata/quality/contract.h"
#include "strata/quality/suite.h"

namespace {

std::shared_ptr<arrow::Table> SmallTable() {
  static std::shared_ptr<arrow::Table> t = [] {
    arrow::Int64Builder id;
    arrow::DoubleBuilder amount;
    arrow::StringBuilder name;
    for (int i = 0; i < 20; ++i) {
      (void)id.Append(i % 7);
      if (i % 5 == 0) (void)amount.AppendNull(); else (void)amount.Append(i * 1.5 - 3);
      (void)name.Append(i % 3 ? "abc" : "日本");
    }
    auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("amount", arrow::float64()),
                                 arrow::field("name", arrow::utf8())});
    return arrow::Table::Make(schema, {*id.Finish(), *amount.Finish(), *name.Finish()});
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto suite = strata::quality::Suite::FromYamlString(text, "fuzz");
  if (suite.ok()) {
    strata::quality::ValidateOptions o;
    o.threads = 1;
    (void)suite->Validate(SmallTable(), o);
  }
  (void)strata::quality::Contract::FromYamlString(text, "fuzz");
  return 0;
}
