#include "strata/serve/response.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace strata::serve {

namespace {

constexpr char kHex[] = "0123456789abcdef";

/// Length of the valid UTF-8 sequence at `p` (at most `n` bytes), or 0 when invalid
/// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8Length(const unsigned char* p, size_t n) {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's civil_from_days.
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2 ? 1 : 0);
}

constexpr char kTwoDigits[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

char* Put2(unsigned v, char* p) {
  std::memcpy(p, kTwoDigits + 2 * v, 2);
  return p + 2;
}

/// Writes v with at least `width` digits; returns the end.
char* PutDigits(uint64_t v, int width, char* p) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  for (int i = n; i < width; ++i) *p++ = '0';
  while (n > 0) *p++ = buf[--n];
  return p;
}

/// "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" into `p` (at least 40 bytes); returns the end.
char* FormatIso(int64_t micros, char* p) {
  constexpr int64_t kPerDay = 86400LL * 1000000;
  int64_t days = micros / kPerDay;
  int64_t rem = micros % kPerDay;
  if (rem < 0) {
    rem += kPerDay;
    --days;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  if (y >= 0 && y <= 9999) {
    p = Put2(static_cast<unsigned>(y / 100), p);
    p = Put2(static_cast<unsigned>(y % 100), p);
  } else if (y < 0) {
    *p++ = '-';
    p = PutDigits(static_cast<uint64_t>(-y), 4, p);
  } else {
    p = PutDigits(static_cast<uint64_t>(y), 4, p);
  }
  const auto secs = static_cast<unsigned>(rem / 1000000);
  const auto frac = static_cast<unsigned>(rem % 1000000);
  *p++ = '-';
  p = Put2(m, p);
  *p++ = '-';
  p = Put2(d, p);
  *p++ = 'T';
  p = Put2(secs / 3600, p);
  *p++ = ':';
  p = Put2(secs / 60 % 60, p);
  *p++ = ':';
  p = Put2(secs % 60, p);
  if (frac != 0) {
    *p++ = '.';
    p = Put2(frac / 10000, p);
    p = Put2(frac / 100 % 100, p);
    p = Put2(frac % 100, p);
  }
  *p++ = 'Z';
  return p;
}

/// The columns of one response mostly repeat the same few timestamps (every feature of a view
/// row shares its row's): a small direct-mapped cache of formatted ones.
class TimestampCache {
 public:
  void Append(int64_t micros, std::string* out) {
    Slot& s = slots_[(static_cast<uint64_t>(micros) * 0x9E3779B97F4A7C15ULL) >> (64 - kBits)];
    if (!s.used || s.micros != micros) {
      s.len = static_cast<uint8_t>(FormatIso(micros, s.text) - s.text);
      s.micros = micros;
      s.used = true;
    }
    out->append(s.text, s.len);
  }

 private:
  static constexpr int kBits = 8;
  struct Slot {
    int64_t micros = 0;
    bool used = false;
    uint8_t len = 0;
    char text[46];
  };
  Slot slots_[1 << kBits];
};

}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      size_t j = i + 1;
      while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\') ++j;
      out->append(s.data() + i, j - i);
      i = j;
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); ++i; continue;
      case '\\': out->append("\\\\"); ++i; continue;
      case '\n': out->append("\\n"); ++i; continue;
      case '\r': out->append("\\r"); ++i; continue;
      case '\t': out->append("\\t"); ++i; continue;
      case '\b': out->append("\\b"); ++i; continue;
      case '\f': out->append("\\f"); ++i; continue;
      default: break;
    }
    if (c < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
      ++i;
      continue;
    }
    const size_t len = Utf8Length(p + i, n - i);
    if (len == 0) {
      out->append("\\ufffd");
      ++i;
    } else {
      out->append(s.data() + i, len);
      i += len;
    }
  }
  out->push_back('"');
}

void AppendJsonDouble(double v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  out->append(s);
  // Keep a float a float for JSON readers that type numbers by their spelling.
  if (s.find_first_of(".e") == std::string_view::npos) out->append(".0");
}

void AppendJsonFloat(float v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  out->append(s);
  if (s.find_first_of(".e") == std::string_view::npos) out->append(".0");
}

void AppendJsonValue(const online::FeatureValue& v, std::string* out) {
  using online::ValueType;
  switch (online::TypeOf(v)) {
    case ValueType::kNull: out->append("null"); return;
    case ValueType::kBool: out->append(std::get<bool>(v) ? "true" : "false"); return;
    case ValueType::kInt64: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), std::get<int64_t>(v));
      out->append(buf, static_cast<size_t>(r.ptr - buf));
      return;
    }
    case ValueType::kDouble: AppendJsonDouble(std::get<double>(v), out); return;
    case ValueType::kString: AppendJsonString(std::get<std::string>(v), out); return;
    case ValueType::kFloatList: {
      out->push_back('[');
      bool first = true;
      for (float f : std::get<std::vector<float>>(v)) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonFloat(f, out);
      }
      out->push_back(']');
      return;
    }
  }
  out->append("null");
}

void AppendIsoTimestamp(int64_t micros, std::string* out) {
  char buf[48];
  out->append(buf, static_cast<size_t>(FormatIso(micros, buf) - buf));
}

void RenderOnlineResponse(const features::OnlineResponse& response, std::string* out) {
  TimestampCache timestamps;
  out->append("{\"metadata\":{\"feature_names\":[");
  for (size_t i = 0; i < response.feature_names.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(response.feature_names[i], out);
  }
  out->append("]},\"results\":[");
  for (size_t c = 0; c < response.columns.size(); ++c) {
    const auto& col = response.columns[c];
    if (c > 0) out->push_back(',');
    out->append("{\"values\":[");
    for (size_t r = 0; r < col.values.size(); ++r) {
      if (r > 0) out->push_back(',');
      if (col.values[r]) {
        AppendJsonValue(*col.values[r], out);
      } else {
        out->append("null");
      }
    }
    out->append("],\"statuses\":[");
    for (size_t r = 0; r < col.statuses.size(); ++r) {
      if (r > 0) out->push_back(',');
      out->push_back('"');
      out->append(online::FeatureStatusName(col.statuses[r]));
      out->push_back('"');
    }
    out->append("],\"event_timestamps\":[");
    for (size_t r = 0; r < col.event_ts_us.size(); ++r) {
      if (r > 0) out->push_back(',');
      out->push_back('"');
      timestamps.Append(col.event_ts_us[r], out);
      out->push_back('"');
    }
    out->append("]}");
  }
  out->append("]}");
}

std::string RenderError(std::string_view message) {
  std::string out = "{\"error\":";
  AppendJsonString(message, &out);
  out.push_back('}');
  return out;
}

}  // namespace strata::serve
