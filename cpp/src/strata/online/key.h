/// \file
/// The compact binary entity key: typed join key values (int64, string; one or more columns)
/// encoded as bytes that are stable across processes, releases and stores, and independent of
/// the order in which the columns are given. The online stores key rows by these bytes.
/// Knows nothing of feature views, values or the stores.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "strata/common/status.h"

namespace strata::online {

/// The value of one join key column.
using JoinKeyValue = std::variant<int64_t, std::string>;

/// One join key column with its value, e.g. {"driver_id", 1001}.
struct JoinKey {
  std::string name;
  JoinKeyValue value;
  bool operator==(const JoinKey&) const = default;
};

/// Encoding, written down because stored data depends on it (never change it in place):
///
///   entity_key := column+                 columns sorted by name (bytewise), names unique
///   column     := len:varint name type:u8 value
///   type 1     := int64: be64(value ^ 2^63)
///   type 2     := string: len:varint bytes
///
/// Names are part of the key so that {driver_id: 1} and {rider_id: 1} differ, and so do
/// int64 1 and string "1".
Result<std::string> EncodeEntityKey(std::span<const JoinKey> columns);

/// Single-column shorthands (the common case); cannot fail for a non-empty name.
std::string EncodeEntityKey(std::string_view name, int64_t value);
std::string EncodeEntityKey(std::string_view name, std::string_view value);

/// The columns of an encoded key, sorted by name. Errors (never crashes) on malformed bytes.
Result<std::vector<JoinKey>> DecodeEntityKey(std::string_view bytes);

/// Encodes many keys that share one set of join key names (the feature server's case: the
/// names come with the request, the values per entity row). Sorting the names is done once.
class EntityKeyEncoder {
 public:
  /// Errors when `names` is empty or holds an empty or duplicate name.
  static Result<EntityKeyEncoder> Make(std::vector<std::string> names);

  /// Appends the key for `values` (one per name, in the order the names were given) to `out`.
  /// REQUIRES: values.size() == number of names.
  void Encode(std::span<const JoinKeyValue> values, std::string* out) const;

  size_t num_columns() const { return names_.size(); }

 private:
  std::vector<std::string> names_;  // as given
  std::vector<size_t> order_;       // indexes into names_, sorted by name
};

}  // namespace strata::online
