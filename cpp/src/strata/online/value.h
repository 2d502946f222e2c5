/// \file
/// Typed feature values and the compact binary row the online store keeps per (view, entity):
/// the row's timestamps and its named, typed feature values. Both stores (RocksDB, Redis) keep
/// exactly these bytes, so a row written through one reads the same through the other.
/// Knows nothing of Arrow, tables or the stores themselves.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "strata/common/status.h"

namespace strata::online {

/// The type of one feature value. The numbers are part of the stored format: never renumber.
enum class ValueType : uint8_t {
  kNull = 0,
  kBool = 1,
  kInt64 = 2,
  kDouble = 3,
  kString = 4,     ///< UTF-8 text or arbitrary bytes
  kFloatList = 5,  ///< float32 vector (embeddings)
};

/// One feature value. The alternative's index is its ValueType, so `TypeOf` is `index()`.
using FeatureValue =
    std::variant<std::monostate, bool, int64_t, double, std::string, std::vector<float>>;

/// The type tag of `v`.
inline ValueType TypeOf(const FeatureValue& v) { return static_cast<ValueType>(v.index()); }
/// "null", "bool", "int64", "double", "string", "float_list".
const char* ValueTypeName(ValueType type);

/// Bitwise equality (NaN equals NaN of the same bits); for tests and replay checks.
bool SameValue(const FeatureValue& a, const FeatureValue& b);

/// The version of a row: a write replaces a stored row only when its version is newer or equal.
/// An absent created timestamp orders before every present one.
struct RowVersion {
  int64_t event_ts = 0;                 ///< microseconds since the epoch
  std::optional<int64_t> created_ts;    ///< microseconds since the epoch; INT64_MIN is reserved

  /// <0, 0, >0 as this version is older than, equal to, or newer than `other`.
  int Compare(const RowVersion& other) const;
};

/// A fully decoded row (for tools, tests and the fuzzer; the read path decodes selectively).
struct DecodedRow {
  RowVersion version;
  std::vector<std::string> names;
  std::vector<FeatureValue> values;
};

/// Row bytes, written by hand rather than with protobuf/flatbuffers: the format is a dozen
/// lines, has no schema to evolve beyond its version byte, and needs no dependency.
///
///   row     := header version:u8(=1) count:varint feature*
///   header  := be64(event_ts ^ 2^63) be64(created_ts ^ 2^63)   created absent: INT64_MIN
///   feature := len:varint name type:u8 payload
///   payload := null: -- | bool: u8 0/1 | int64, double: 8 bytes little-endian
///            | string: len:varint bytes | float_list: count:varint count * f32 little-endian
///
/// The header comes first and sorts bytewise like the version it encodes, so a store can
/// compare versions without decoding the row (Redis does so in a Lua script).
constexpr size_t kRowHeaderSize = 16;

/// Appends the encoded row to `out`. REQUIRES: names.size() == values.size().
void EncodeRow(const RowVersion& version, std::span<const std::string> names,
               std::span<const FeatureValue> values, std::string* out);

/// The version stored in a row's header; an error when `row` is too short to hold one.
Result<RowVersion> DecodeRowVersion(std::string_view row);

/// Decodes the whole row. Errors (never crashes) on malformed bytes.
Result<DecodedRow> DecodeRow(std::string_view row);

/// Maps the feature names of stored rows to the slots of a request. It remembers the names
/// it saw at each position: rows of one view nearly always share their layout, so matching
/// costs one comparison per stored feature. Not thread-safe; one per read.
class FeatureSelector {
 public:
  explicit FeatureSelector(std::span<const std::string> wanted);
  /// The slot of the feature `name` stored at `position`, or -1 when not wanted. A name that
  /// occurs twice in `wanted` maps to its first slot.
  int Slot(size_t position, std::string_view name) {
    if (position < seen_.size() && seen_[position].name == name) return seen_[position].slot;
    return Learn(position, name);
  }
  size_t num_slots() const { return wanted_.size(); }

 private:
  int Learn(size_t position, std::string_view name);

  std::span<const std::string> wanted_;
  struct Seen {
    std::string name;
    int slot;
  };
  std::vector<Seen> seen_;  // by position
};

/// DecodeRowFeatures with a selector reused across the rows of one read.
Status DecodeRowFeatures(std::string_view row, FeatureSelector* selector,
                         std::optional<FeatureValue>* out);

/// Decodes only the features named in `wanted`, storing each into `out[i]` (`out` has
/// wanted.size() slots); features the row does not hold leave their slot as nullopt. A name
/// that occurs twice in `wanted` fills only its first slot. Errors on malformed bytes.
Status DecodeRowFeatures(std::string_view row, std::span<const std::string> wanted,
                         std::optional<FeatureValue>* out);

}  // namespace strata::online
