/// \file
/// Rendering of the feature server's responses as JSON: an OnlineResponse in Feast's shape,
/// and error bodies. Doubles are written so that they parse back to the same bits; NaN and
/// infinities (not JSON) are null; timestamps are ISO-8601 UTC with a Z; text is escaped, and
/// bytes that are not valid UTF-8 become U+FFFD. Knows nothing of HTTP.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/features/online_serving.h"

namespace strata::serve {

/// Appends Feast's response shape:
///
///     {"metadata": {"feature_names": ["driver_id", "conv_rate"]},
///      "results": [{"values": [1001, 1002], "statuses": ["PRESENT", "PRESENT"],
///                   "event_timestamps": ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]},
///                  {"values": [0.5, null], "statuses": ["PRESENT", "NOT_FOUND"], ...}]}
///
/// One entry of "results" per column (entity columns first), one element per entity row.
void RenderOnlineResponse(const features::OnlineResponse& response, std::string* out);

/// `{"error": "<message>"}`.
std::string RenderError(std::string_view message);

/// JSON pieces (exposed for tests and the metrics/health bodies).
void AppendJsonString(std::string_view s, std::string* out);
void AppendJsonDouble(double v, std::string* out);
void AppendJsonFloat(float v, std::string* out);
void AppendJsonValue(const online::FeatureValue& v, std::string* out);
/// "2026-01-01T00:00:00Z", with ".ffffff" when the microseconds are not zero.
void AppendIsoTimestamp(int64_t micros, std::string* out);

}  // namespace strata::serve
