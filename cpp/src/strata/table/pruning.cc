#include "strata/table/pruning.h"

#include <algorithm>

#include <arrow/scalar.h>
#include <arrow/type.h>

#include "strata/table/partition.h"
#include "strata/table/snapshot.h"

namespace strata::table {

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// Finds a field by name, exactly first, then case-insensitively.
std::shared_ptr<arrow::Field> FindField(const arrow::FieldVector& fields, const std::string& name) {
  for (const auto& f : fields) {
    if (f->name() == name) return f;
  }
  for (const auto& f : fields) {
    if (Lower(f->name()) == Lower(name)) return f;
  }
  return nullptr;
}

}  // namespace

AddFileStats::AddFileStats(const AddFile& file, const Snapshot& snapshot) : file_(file), snapshot_(snapshot) {
  auto s = ParseFileStats(file.stats);
  if (s.ok()) stats_ = std::move(*s);
}

std::optional<expr::ColumnStats> AddFileStats::column(const std::string& path) const {
  // Resolve the logical dotted path to a field and its physical path.
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  const arrow::FieldVector* fields = &snapshot_.schema()->fields();
  std::shared_ptr<arrow::Field> field;
  std::string physical;
  for (size_t i = 0; i < parts.size(); ++i) {
    field = FindField(*fields, parts[i]);
    if (!field) return std::nullopt;
    physical += (i ? "." : "") + PhysicalName(*field, snapshot_.column_mapping_mode());
    if (i + 1 < parts.size()) {
      if (field->type()->id() != arrow::Type::STRUCT) return std::nullopt;
      fields = &field->type()->fields();
    }
  }
  expr::ColumnStats cs;
  if (parts.size() == 1) {
    const auto& pcs = snapshot_.partition_columns();
    auto pc = std::find_if(pcs.begin(), pcs.end(), [&](const std::string& c) { return Lower(c) == Lower(field->name()); });
    if (pc != pcs.end()) {
      // Partition values are keyed by physical name under column mapping.
      std::optional<std::string> raw;
      auto it = file_.partition_values.find(PhysicalName(*field, snapshot_.column_mapping_mode()));
      if (it == file_.partition_values.end()) it = file_.partition_values.find(*pc);
      if (it != file_.partition_values.end()) raw = it->second;
      auto v = ParsePartitionValue(raw, field->type());
      if (!v.ok()) return std::nullopt;
      if ((*v)->is_valid) {
        cs.min = cs.max = *v;
        cs.null_count = 0;
      } else if (stats_.num_records) {
        cs.null_count = *stats_.num_records;
      } else {
        return std::nullopt;
      }
      return cs;
    }
  }
  auto nc = stats_.null_count.find(physical);
  if (nc != stats_.null_count.end()) {
    bool informative = stats_.tight_bounds || nc->second == 0 ||
                       (stats_.num_records && nc->second == *stats_.num_records);
    if (informative) cs.null_count = nc->second;
  }
  const auto& type = field->type();
  auto mn = stats_.min_values.find(physical);
  if (mn != stats_.min_values.end()) cs.min = StatValueToScalar(mn->second, type);
  auto mx = stats_.max_values.find(physical);
  if (mx != stats_.max_values.end()) {
    cs.max = StatValueToScalar(mx->second, type);
    if (cs.max && type->id() == arrow::Type::TIMESTAMP) {
      // Stats are truncated down to milliseconds: widen the maximum to cover the dropped micros.
      auto& ts = static_cast<arrow::TimestampScalar&>(*cs.max);
      const auto& tt = static_cast<const arrow::TimestampType&>(*type);
      int64_t add = tt.unit() == arrow::TimeUnit::MICRO ? 999 : tt.unit() == arrow::TimeUnit::NANO ? 999999 : 0;
      cs.max = std::make_shared<arrow::TimestampScalar>(ts.value + add, type);
    }
    if (cs.max && (type->id() == arrow::Type::STRING || type->id() == arrow::Type::LARGE_STRING)) {
      // A maximum of kStringStatsPrefix code points or more may be a truncated prefix.
      auto view = static_cast<const arrow::BaseBinaryScalar&>(*cs.max).view();
      int64_t cps = 0;
      for (unsigned char c : view) cps += (c & 0xC0) != 0x80;
      if (cps >= kStringStatsPrefix) cs.max = nullptr;
    }
  }
  if (!cs.min && !cs.max && !cs.null_count) return std::nullopt;
  return cs;
}

bool FileMayMatch(const expr::NodePtr& predicate, const AddFile& file, const Snapshot& snapshot) {
  if (!predicate) return true;
  AddFileStats stats(file, snapshot);
  return expr::MayMatch(predicate, *snapshot.schema(), stats);
}

}  // namespace strata::table
