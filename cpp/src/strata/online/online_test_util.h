/// \file
/// Helpers shared by the online store tests (not part of the library).
#pragma once

#include <cmath>
#include <cstring>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "strata/online/online_store.h"

namespace strata::online {

inline std::string ValueToString(const FeatureValue& v) {
  std::ostringstream os;
  switch (TypeOf(v)) {
    case ValueType::kNull: os << "null"; break;
    case ValueType::kBool: os << (std::get<bool>(v) ? "true" : "false"); break;
    case ValueType::kInt64: os << std::get<int64_t>(v); break;
    case ValueType::kDouble: os << std::get<double>(v) << "d"; break;
    case ValueType::kString: os << '"' << std::get<std::string>(v) << '"'; break;
    case ValueType::kFloatList: {
      os << "[";
      for (float f : std::get<std::vector<float>>(v)) os << f << ",";
      os << "]";
      break;
    }
  }
  return os.str();
}

inline std::string ValueToString(const std::optional<FeatureValue>& v) {
  return v ? ValueToString(*v) : std::string("<missing>");
}

inline ::testing::AssertionResult SameOptional(const std::optional<FeatureValue>& actual,
                                               const std::optional<FeatureValue>& expected) {
  bool same = actual.has_value() == expected.has_value() &&
              (!actual.has_value() || SameValue(*actual, *expected));
  if (same) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << ValueToString(actual) << ", expected "
                                       << ValueToString(expected);
}

/// OnlineStore::Read with vectors, so that tests can pass braced lists.
inline Result<ReadResult> ReadKeys(OnlineStore* store, std::string_view view,
                                   const std::vector<std::string>& keys,
                                   const std::vector<std::string>& features,
                                   const ReadOptions& options = {}) {
  return store->Read(view, keys, features, options);
}

inline std::string DriverKey(int64_t id) { return EncodeEntityKey("driver_id", id); }

inline OnlineRow MakeRow(std::string key, int64_t event_ts, std::optional<int64_t> created,
                         std::vector<FeatureValue> values) {
  OnlineRow r;
  r.entity_key = std::move(key);
  r.event_ts = event_ts;
  r.created_ts = created;
  r.values = std::move(values);
  return r;
}

}  // namespace strata::online
