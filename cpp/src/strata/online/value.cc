#include "strata/online/value.h"

#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

#include "strata/online/layout_internal.h"

namespace strata::online {

static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(ValueType::kNull),
                                                         FeatureValue>, std::monostate>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(ValueType::kBool),
                                                         FeatureValue>, bool>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(ValueType::kInt64),
                                                         FeatureValue>, int64_t>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(ValueType::kDouble),
                                                         FeatureValue>, double>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(ValueType::kString),
                                                         FeatureValue>, std::string>);
static_assert(
    std::is_same_v<std::variant_alternative_t<static_cast<size_t>(ValueType::kFloatList),
                                              FeatureValue>, std::vector<float>>);
static_assert(sizeof(float) == 4 && sizeof(double) == 8);

namespace {

constexpr uint8_t kRowFormatVersion = 1;
constexpr uint64_t kSignBit = uint64_t{1} << 63;
constexpr int64_t kNoCreatedTs = std::numeric_limits<int64_t>::min();

using internal::PutVarint;

void PutOrderedInt64(int64_t v, std::string* out) {
  uint64_t u = static_cast<uint64_t>(v) ^ kSignBit;
  char b[8];
  for (int i = 7; i >= 0; --i) {
    b[i] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  out->append(b, 8);
}

int64_t GetOrderedInt64(const char* p) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(p[i]);
  return static_cast<int64_t>(u ^ kSignBit);
}

template <typename T>
void PutFixed(T v, std::string* out) {
  // Little-endian hosts only (x86-64, aarch64); the static_assert below keeps it honest.
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}
static_assert(std::endian::native == std::endian::little, "row encoding assumes little-endian");

Status Corrupt(std::string_view what) {
  return Status::IOError("corrupt online row: ", what);
}

// The decoder keeps its position in two pointers in registers (a string_view advanced through
// a pointer lives in memory, and every field then waits for the previous store), and its
// helpers are forced inline for the same reason. They return an error reason or nullptr.
struct Cursor {
  const char* p;
  const char* end;
  size_t left() const { return static_cast<size_t>(end - p); }
};

[[gnu::always_inline]] inline bool ReadVarint(Cursor& c, uint64_t* v) {
  if (c.p < c.end && static_cast<uint8_t>(*c.p) < 0x80) {
    *v = static_cast<uint8_t>(*c.p++);
    return true;
  }
  std::string_view rest(c.p, c.left());
  if (!internal::GetVarintSlow(&rest, v)) return false;
  c.p = rest.data();
  return true;
}

[[gnu::always_inline]] inline bool ReadBytes(Cursor& c, std::string_view* out) {
  uint64_t n;
  if (!ReadVarint(c, &n) || n > c.left()) return false;
  *out = std::string_view(c.p, n);
  c.p += n;
  return true;
}

template <typename T>
[[gnu::always_inline]] inline bool ReadFixed(Cursor& c, T* v) {
  if (c.left() < sizeof(T)) return false;
  std::memcpy(v, c.p, sizeof(T));
  c.p += sizeof(T);
  return true;
}

/// Decodes one payload of `type` into `out` (emplaced in place; null `out` skips it).
[[gnu::always_inline]] inline const char* DecodePayload(uint8_t type, Cursor& c,
                                                        std::optional<FeatureValue>* out) {
  switch (static_cast<ValueType>(type)) {
    case ValueType::kNull:
      if (out) out->emplace(std::monostate{});
      return nullptr;
    case ValueType::kBool: {
      uint8_t b;
      if (!ReadFixed(c, &b) || b > 1) return "bad bool";
      if (out) out->emplace(b == 1);
      return nullptr;
    }
    case ValueType::kInt64: {
      int64_t v;
      if (!ReadFixed(c, &v)) return "truncated int64";
      if (out) out->emplace(v);
      return nullptr;
    }
    case ValueType::kDouble: {
      double v;
      if (!ReadFixed(c, &v)) return "truncated double";
      if (out) out->emplace(v);
      return nullptr;
    }
    case ValueType::kString: {
      std::string_view s;
      if (!ReadBytes(c, &s)) return "truncated string";
      if (out) out->emplace(std::in_place_type<std::string>, s);
      return nullptr;
    }
    case ValueType::kFloatList: {
      uint64_t n;
      if (!ReadVarint(c, &n) || n > c.left() / 4) return "truncated float list";
      if (out) {
        auto& v = std::get<std::vector<float>>(
            out->emplace(std::in_place_type<std::vector<float>>, static_cast<size_t>(n)));
        if (n > 0) std::memcpy(v.data(), c.p, n * 4);
      }
      c.p += n * 4;
      return nullptr;
    }
  }
  return "unknown value type";
}

/// Checks the header and version byte; leaves `c` after the feature count.
Status ReadPreamble(Cursor& c, RowVersion* version, uint64_t* count) {
  if (c.left() < kRowHeaderSize + 1) return Corrupt("shorter than its header");
  version->event_ts = GetOrderedInt64(c.p);
  int64_t created = GetOrderedInt64(c.p + 8);
  version->created_ts = created == kNoCreatedTs ? std::nullopt : std::optional<int64_t>(created);
  uint8_t format = static_cast<uint8_t>(c.p[kRowHeaderSize]);
  if (format != kRowFormatVersion) {
    return Corrupt("unknown row format version " + std::to_string(format));
  }
  c.p += kRowHeaderSize + 1;
  // Each feature takes at least two bytes (name length, type).
  if (!ReadVarint(c, count) || *count > c.left() / 2) return Corrupt("bad feature count");
  return Status::OK();
}

}  // namespace

const char* ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kNull: return "null";
    case ValueType::kBool: return "bool";
    case ValueType::kInt64: return "int64";
    case ValueType::kDouble: return "double";
    case ValueType::kString: return "string";
    case ValueType::kFloatList: return "float_list";
  }
  return "unknown";
}

bool SameValue(const FeatureValue& a, const FeatureValue& b) {
  if (a.index() != b.index()) return false;
  switch (TypeOf(a)) {
    case ValueType::kDouble: {
      double x = std::get<double>(a), y = std::get<double>(b);
      return std::memcmp(&x, &y, sizeof(double)) == 0;
    }
    case ValueType::kFloatList: {
      const auto& x = std::get<std::vector<float>>(a);
      const auto& y = std::get<std::vector<float>>(b);
      return x.size() == y.size() &&
             (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
    }
    default:
      return a == b;
  }
}

int RowVersion::Compare(const RowVersion& other) const {
  if (event_ts != other.event_ts) return event_ts < other.event_ts ? -1 : 1;
  int64_t a = created_ts.value_or(kNoCreatedTs);
  int64_t b = other.created_ts.value_or(kNoCreatedTs);
  if (a != b) return a < b ? -1 : 1;
  return 0;
}

void EncodeRow(const RowVersion& version, std::span<const std::string> names,
               std::span<const FeatureValue> values, std::string* out) {
  PutOrderedInt64(version.event_ts, out);
  PutOrderedInt64(version.created_ts.value_or(kNoCreatedTs), out);
  out->push_back(static_cast<char>(kRowFormatVersion));
  PutVarint(names.size(), out);
  for (size_t i = 0; i < names.size(); ++i) {
    PutVarint(names[i].size(), out);
    out->append(names[i]);
    const FeatureValue& v = values[i];
    out->push_back(static_cast<char>(v.index()));
    switch (TypeOf(v)) {
      case ValueType::kNull: break;
      case ValueType::kBool: out->push_back(std::get<bool>(v) ? 1 : 0); break;
      case ValueType::kInt64: PutFixed(std::get<int64_t>(v), out); break;
      case ValueType::kDouble: PutFixed(std::get<double>(v), out); break;
      case ValueType::kString: {
        const auto& s = std::get<std::string>(v);
        PutVarint(s.size(), out);
        out->append(s);
        break;
      }
      case ValueType::kFloatList: {
        const auto& f = std::get<std::vector<float>>(v);
        PutVarint(f.size(), out);
        if (!f.empty()) out->append(reinterpret_cast<const char*>(f.data()), f.size() * 4);
        break;
      }
    }
  }
}

Result<RowVersion> DecodeRowVersion(std::string_view row) {
  if (row.size() < kRowHeaderSize) return Corrupt("shorter than its header");
  RowVersion v;
  v.event_ts = GetOrderedInt64(row.data());
  int64_t created = GetOrderedInt64(row.data() + 8);
  if (created != kNoCreatedTs) v.created_ts = created;
  return v;
}

Result<DecodedRow> DecodeRow(std::string_view row) {
  DecodedRow out;
  Cursor c{row.data(), row.data() + row.size()};
  uint64_t count;
  ARROW_RETURN_NOT_OK(ReadPreamble(c, &out.version, &count));
  out.names.reserve(count);
  out.values.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view name;
    if (!ReadBytes(c, &name) || c.left() == 0) return Corrupt("truncated feature");
    uint8_t type = static_cast<uint8_t>(*c.p++);
    std::optional<FeatureValue> v;
    if (const char* error = DecodePayload(type, c, &v)) return Corrupt(error);
    out.names.emplace_back(name);
    out.values.push_back(std::move(*v));
  }
  if (c.left() != 0) return Corrupt("trailing bytes");
  return out;
}

FeatureSelector::FeatureSelector(std::span<const std::string> wanted) : wanted_(wanted) {}

int FeatureSelector::Learn(size_t position, std::string_view name) {
  int slot = -1;
  for (size_t j = 0; j < wanted_.size(); ++j) {
    if (wanted_[j] == name) {
      slot = static_cast<int>(j);
      break;
    }
  }
  if (position >= seen_.size()) seen_.resize(position + 1, Seen{std::string(), -1});
  seen_[position] = Seen{std::string(name), slot};
  return slot;
}

Status DecodeRowFeatures(std::string_view row, FeatureSelector* selector,
                         std::optional<FeatureValue>* out) {
  Cursor c{row.data(), row.data() + row.size()};
  RowVersion version;
  uint64_t count;
  ARROW_RETURN_NOT_OK(ReadPreamble(c, &version, &count));
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view name;
    if (!ReadBytes(c, &name) || c.left() == 0) return Corrupt("truncated feature");
    uint8_t type = static_cast<uint8_t>(*c.p++);
    int slot = selector->Slot(i, name);
    if (const char* error = DecodePayload(type, c, slot < 0 ? nullptr : &out[slot])) {
      return Corrupt(error);
    }
  }
  if (c.left() != 0) return Corrupt("trailing bytes");
  return Status::OK();
}

Status DecodeRowFeatures(std::string_view row, std::span<const std::string> wanted,
                         std::optional<FeatureValue>* out) {
  FeatureSelector selector(wanted);
  return DecodeRowFeatures(row, &selector, out);
}

}  // namespace strata::online
