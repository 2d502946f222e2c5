#include "strata/online/key.h"

#include <algorithm>
#include <numeric>

#include "strata/online/layout_internal.h"

namespace strata::online {
namespace {

constexpr uint8_t kInt64Type = 1;
constexpr uint8_t kStringType = 2;
constexpr uint64_t kSignBit = uint64_t{1} << 63;

using internal::GetLengthPrefixed;
using internal::PutVarint;

void AppendColumn(std::string_view name, const JoinKeyValue& value, std::string* out) {
  PutVarint(name.size(), out);
  out->append(name);
  if (const auto* i = std::get_if<int64_t>(&value)) {
    out->push_back(static_cast<char>(kInt64Type));
    uint64_t u = static_cast<uint64_t>(*i) ^ kSignBit;
    char b[8];
    for (int k = 7; k >= 0; --k) {
      b[k] = static_cast<char>(u & 0xff);
      u >>= 8;
    }
    out->append(b, 8);
  } else {
    const auto& s = std::get<std::string>(value);
    out->push_back(static_cast<char>(kStringType));
    PutVarint(s.size(), out);
    out->append(s);
  }
}

Status CheckNames(const std::vector<std::string_view>& sorted) {
  if (sorted.empty()) return Error(ErrorCode::kInvalidArgument, "an entity key needs a join key");
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i].empty()) return Error(ErrorCode::kInvalidArgument, "empty join key name");
    if (i > 0 && sorted[i] == sorted[i - 1]) {
      return Error(ErrorCode::kInvalidArgument, "join key '", sorted[i], "' given twice");
    }
  }
  return Status::OK();
}

Status BadKey(std::string_view what) {
  return Error(ErrorCode::kInvalidArgument, "malformed entity key: ", what);
}

}  // namespace

Result<std::string> EncodeEntityKey(std::span<const JoinKey> columns) {
  std::vector<size_t> order(columns.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return columns[a].name < columns[b].name; });
  std::vector<std::string_view> sorted;
  sorted.reserve(order.size());
  for (size_t i : order) sorted.emplace_back(columns[i].name);
  ARROW_RETURN_NOT_OK(CheckNames(sorted));
  std::string out;
  for (size_t i : order) AppendColumn(columns[i].name, columns[i].value, &out);
  return out;
}

std::string EncodeEntityKey(std::string_view name, int64_t value) {
  std::string out;
  AppendColumn(name, JoinKeyValue(value), &out);
  return out;
}

std::string EncodeEntityKey(std::string_view name, std::string_view value) {
  std::string out;
  AppendColumn(name, JoinKeyValue(std::string(value)), &out);
  return out;
}

Result<std::vector<JoinKey>> DecodeEntityKey(std::string_view bytes) {
  std::vector<JoinKey> out;
  if (bytes.empty()) return BadKey("empty");
  while (!bytes.empty()) {
    std::string_view name;
    if (!GetLengthPrefixed(&bytes, &name) || bytes.empty()) return BadKey("truncated column");
    if (name.empty()) return BadKey("empty join key name");
    if (!out.empty() && !(out.back().name < name)) return BadKey("columns not sorted by name");
    uint8_t type = static_cast<uint8_t>(bytes[0]);
    bytes.remove_prefix(1);
    if (type == kInt64Type) {
      if (bytes.size() < 8) return BadKey("truncated int64");
      uint64_t u = 0;
      for (int k = 0; k < 8; ++k) u = (u << 8) | static_cast<uint8_t>(bytes[k]);
      bytes.remove_prefix(8);
      out.push_back({std::string(name), static_cast<int64_t>(u ^ kSignBit)});
    } else if (type == kStringType) {
      std::string_view s;
      if (!GetLengthPrefixed(&bytes, &s)) return BadKey("truncated string");
      out.push_back({std::string(name), std::string(s)});
    } else {
      return BadKey("unknown type " + std::to_string(type));
    }
  }
  return out;
}

Result<EntityKeyEncoder> EntityKeyEncoder::Make(std::vector<std::string> names) {
  EntityKeyEncoder e;
  e.order_.resize(names.size());
  std::iota(e.order_.begin(), e.order_.end(), 0);
  std::sort(e.order_.begin(), e.order_.end(),
            [&](size_t a, size_t b) { return names[a] < names[b]; });
  std::vector<std::string_view> sorted;
  for (size_t i : e.order_) sorted.emplace_back(names[i]);
  ARROW_RETURN_NOT_OK(CheckNames(sorted));
  e.names_ = std::move(names);
  return e;
}

void EntityKeyEncoder::Encode(std::span<const JoinKeyValue> values, std::string* out) const {
  for (size_t i : order_) AppendColumn(names_[i], values[i], out);
}

}  // namespace strata::online
