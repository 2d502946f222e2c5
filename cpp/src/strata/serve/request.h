/// \file
/// Parsing of the feature server's request bodies: Feast's `POST /get-online-features` JSON
/// into a features::OnlineRequest. The bytes are untrusted (cpp/fuzz/fuzz_online_request.cc):
/// every malformed input is a kInvalidArgument error naming the field and what was wrong, never a
/// crash. Knows nothing of HTTP or the store.
#pragma once

#include <cstddef>
#include <string_view>

#include "strata/common/status.h"
#include "strata/features/online_serving.h"

namespace strata::serve {

/// Entity rows accepted in one request (the body limit bounds it too; this keeps one request from
/// reading the whole store).
constexpr size_t kMaxEntityRows = 100000;

/// Parses a request body:
///
///     {"features": ["view:feature", ...]} or {"feature_service": "name"},
///     "entities": {"driver_id": [1001, 1002], ...},
///     "request_data": {"name": [values]}          (or Feast's "request_context"; optional)
///     "full_feature_names": false                 (optional)
///
/// An entity column of integers only or strings only is a join key column; a column holding other
/// values (numbers, booleans, nulls, lists) is request data: Feast clients send request data
/// among the entities. Unknown or repeated fields are errors; so is text that is not UTF-8.
/// Thread-safe.
Result<features::OnlineRequest> ParseOnlineRequest(std::string_view body);

}  // namespace strata::serve
