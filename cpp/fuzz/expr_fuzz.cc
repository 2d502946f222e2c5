// libFuzzer harness for strata::expr: any byte string must parse or fail cleanly; whatever
// parses must print to text that parses back to the same text, and must translate to Arrow and
// go through the pruner without crashing.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <arrow/scalar.h>
#include <arrow/type.h>

#include "strata/expr/expr.h"

namespace {

std::shared_ptr<arrow::Schema> FuzzSchema() {
  return arrow::schema({
      arrow::field("a", arrow::int32()),
      arrow::field("b", arrow::boolean()),
      arrow::field("id", arrow::int64()),
      arrow::field("x", arrow::float64()),
      arrow::field("name", arrow::utf8()),
      arrow::field("country", arrow::utf8()),
      arrow::field("d", arrow::date32()),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
      arrow::field("tsn", arrow::timestamp(arrow::TimeUnit::MILLI)),
      arrow::field("amount", arrow::decimal128(10, 2)),
      arrow::field("bin", arrow::binary()),
      arrow::field("s", arrow::struct_({arrow::field("x", arrow::int32()),
                                        arrow::field("y", arrow::utf8())})),
  });
}

/// Statistics for a few columns, so that the pruner reasons rather than giving up.
class FuzzStats : public strata::expr::StatsProvider {
 public:
  std::optional<int64_t> num_records() const override { return 100; }
  std::optional<strata::expr::ColumnStats> column(const std::string& path) const override {
    strata::expr::ColumnStats s;
    if (path == "a" || path == "s.x") {
      s.min = std::make_shared<arrow::Int32Scalar>(-5);
      s.max = std::make_shared<arrow::Int32Scalar>(50);
      s.null_count = 3;
    } else if (path == "name") {
      s.min = std::make_shared<arrow::StringScalar>("alice");
      s.max = std::make_shared<arrow::StringScalar>("bob");
      s.null_count = 0;
    } else if (path == "id") {
      s.null_count = 100;
    } else if (path == "x") {
      s.min = std::make_shared<arrow::DoubleScalar>(-1.5);
      s.max = std::make_shared<arrow::DoubleScalar>(2.5);
    } else if (path == "ts") {
      auto type = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
      s.min = std::make_shared<arrow::TimestampScalar>(1767225600000000, type);
      s.max = std::make_shared<arrow::TimestampScalar>(1767312000000000, type);
      s.null_count = 1;
    } else {
      return std::nullopt;
    }
    return s;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<arrow::Schema> schema = FuzzSchema();
  static const FuzzStats stats;
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  auto parsed = strata::expr::Parse(sql);
  if (!parsed.ok()) return 0;
  const std::string text = strata::expr::ToString(*parsed);
  auto again = strata::expr::Parse(text);
  // The printed form must re-parse, and printing must be a fixpoint.
  if (!again.ok() || strata::expr::ToString(*again) != text) __builtin_trap();
  (void)strata::expr::ReferencedColumns(*parsed);
  (void)strata::expr::ToArrow(*parsed, *schema);
  (void)strata::expr::MayMatch(*parsed, *schema, stats);
  return 0;
}
