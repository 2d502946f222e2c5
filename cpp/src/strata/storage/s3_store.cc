#include "strata/storage/s3_store.h"

#include <cerrno>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include <arrow/buffer.h>
#include <arrow/filesystem/s3fs.h>

namespace strata::storage {

// ------------------------------------------------------------------------------------------------
// AWS Signature Version 4, header-based, single chunk (the payload's SHA-256 is signed).
// Spec: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
//   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
//                      SignedHeaders \n HexSha256(payload)
//   StringToSign     = "AWS4-HMAC-SHA256" \n amz_date \n date/region/s3/aws4_request \n
//                      HexSha256(CanonicalRequest)
//   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request")
//   Signature        = Hex(HMAC(SigningKey, StringToSign))
// Short and fully specified, so written here rather than pulling in an SDK; s3_store_test.cc
// checks it against the worked examples of that page.
// ------------------------------------------------------------------------------------------------
namespace sigv4 {
namespace {

std::string Hex(const unsigned char* data, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Trim(std::string_view v) {
  // Canonical header values: leading/trailing spaces removed, inner runs of spaces collapsed.
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return Hex(out, len);
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char* kDigits = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~' || (c == '/' && keep_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::string Authorization(const Request& req, const std::string& access_key, const std::string& secret_key,
                          const std::string& region, const std::string& amz_date) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : req.headers) {
    std::string name = k;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    headers.emplace_back(std::move(name), Trim(v));
  }
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += k;
  }
  std::string canonical = req.method + "\n" + req.canonical_uri + "\n" + CanonicalQuery(req.query) + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" + req.payload_sha256;
  std::string date = amz_date.substr(0, 8);
  std::string scope = date + "/" + region + "/s3/aws4_request";
  std::string to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + Sha256Hex(canonical);
  std::string key = Hmac(Hmac(Hmac(Hmac("AWS4" + secret_key, date), region), "s3"), "aws4_request");
  std::string sig = Hmac(key, to_sign);
  return "AWS4-HMAC-SHA256 Credential=" + access_key + "/" + scope + ",SignedHeaders=" + signed_headers +
         ",Signature=" + Hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

}  // namespace sigv4

// ------------------------------------------------------------------------------------------------
// Response XML (ListObjectsV2 pages and <Error> bodies), parsed with libxml2 without network
// access or entity expansion.
// ------------------------------------------------------------------------------------------------
namespace s3_internal {
namespace {

std::once_flag g_xml_once;

struct XmlDoc {
  xmlDocPtr doc = nullptr;
  ~XmlDoc() {
    if (doc != nullptr) xmlFreeDoc(doc);
  }
};

xmlNodePtr Root(XmlDoc* d, std::string_view xml) {
  std::call_once(g_xml_once, [] { xmlInitParser(); });
  if (xml.empty() || xml.size() > (1u << 30)) return nullptr;
  d->doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "s3-response.xml", nullptr,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  return d->doc == nullptr ? nullptr : xmlDocGetRootElement(d->doc);
}

bool Is(xmlNodePtr n, const char* name) {
  return n->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char*>(n->name), name) == 0;
}

std::string Text(xmlNodePtr n) {
  xmlChar* s = xmlNodeGetContent(n);
  if (s == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(s));
  xmlFree(s);
  return out;
}

}  // namespace

int64_t ParseIso8601Ms(std::string_view s) {
  // "2026-11-24T22:07:12.345Z" (fraction optional).
  int y, mo, d, h, mi, sec;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6) return -1;
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  auto dot = str.find('.');
  if (dot != std::string::npos) {
    int64_t frac = 0, scale = 100;
    for (size_t i = dot + 1; i < str.size() && std::isdigit(static_cast<unsigned char>(str[i])) && scale > 0; ++i) {
      frac += (str[i] - '0') * scale;
      scale /= 10;
    }
    ms += frac;
  }
  return ms;
}

int64_t ParseHttpDateMs(std::string_view s) {
  // RFC 7231 IMF-fixdate: "Tue, 24 Nov 2026 22:07:12 GMT".
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::string str(s);
  char mon[4] = {0};
  int d, y, h, mi, sec;
  auto comma = str.find(", ");
  if (comma == std::string::npos ||
      std::sscanf(str.c_str() + comma + 2, "%2d %3s %4d %2d:%2d:%2d", &d, mon, &y, &h, &mi, &sec) != 6) {
    return -1;
  }
  struct tm tm {};
  tm.tm_mon = -1;
  for (int i = 0; i < 12; ++i) {
    if (std::strcmp(mon, kMonths[i]) == 0) tm.tm_mon = i;
  }
  if (tm.tm_mon < 0) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

Result<ListPage> ParseListObjectsV2(std::string_view xml) {
  XmlDoc d;
  xmlNodePtr root = Root(&d, xml);
  if (root == nullptr || !Is(root, "ListBucketResult")) {
    return Status::IOError("S3 list response is not a ListBucketResult document: '",
                           std::string(xml.substr(0, 200)), "'");
  }
  ListPage page;
  for (xmlNodePtr n = root->children; n != nullptr; n = n->next) {
    if (Is(n, "Contents")) {
      ListEntry e;
      bool has_key = false;
      for (xmlNodePtr c = n->children; c != nullptr; c = c->next) {
        if (Is(c, "Key")) {
          e.key = Text(c);
          has_key = true;
        } else if (Is(c, "Size")) {
          std::string text = Text(c);
          char* end = nullptr;
          errno = 0;
          e.size = std::strtoll(text.c_str(), &end, 10);
          if (text.empty() || *end != '\0' || errno != 0 || e.size < 0) {
            return Status::IOError("S3 list response has a malformed <Size> '", text.substr(0, 40), "'");
          }
        } else if (Is(c, "LastModified")) {
          e.mtime_ms = ParseIso8601Ms(Text(c));
        }
      }
      if (!has_key) return Status::IOError("S3 list response has a <Contents> without <Key>");
      page.entries.push_back(std::move(e));
    } else if (Is(n, "IsTruncated")) {
      page.truncated = Text(n) == "true";
    } else if (Is(n, "NextContinuationToken")) {
      page.next_token = Text(n);
    }
  }
  if (page.truncated && page.next_token.empty()) {
    return Status::IOError("S3 list response is truncated but has no NextContinuationToken");
  }
  return page;
}

std::pair<std::string, std::string> ParseError(std::string_view xml) {
  XmlDoc d;
  xmlNodePtr root = Root(&d, xml);
  std::pair<std::string, std::string> out;
  if (root == nullptr || !Is(root, "Error")) return out;
  for (xmlNodePtr n = root->children; n != nullptr; n = n->next) {
    if (Is(n, "Code")) out.first = Text(n);
    if (Is(n, "Message")) out.second = Text(n);
  }
  return out;
}

}  // namespace s3_internal

S3Options S3OptionsFromEnv() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
  };
  S3Options o;
  o.endpoint_override = env("AWS_ENDPOINT_URL_S3");
  if (o.endpoint_override.empty()) o.endpoint_override = env("AWS_ENDPOINT_URL");
  o.region = env("AWS_REGION");
  if (o.region.empty()) o.region = env("AWS_DEFAULT_REGION");
  o.access_key = env("AWS_ACCESS_KEY_ID");
  o.secret_key = env("AWS_SECRET_ACCESS_KEY");
  o.session_token = env("AWS_SESSION_TOKEN");
  o.ca_file = env("AWS_CA_BUNDLE");
  return o;
}

namespace {

using s3_internal::ParseError;

std::once_flag g_curl_once;
std::once_flag g_arrow_s3_once;
Status g_arrow_s3_status;

/// One HTTP exchange. `status` is 0 when no response arrived (see `curl`).
struct HttpResponse {
  long status = 0;
  CURLcode curl = CURLE_OK;
  std::string curl_error;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lowercased

  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return {};
  }
  /// Transport failures where the request certainly never reached the server.
  bool NotSent() const {
    return curl == CURLE_COULDNT_RESOLVE_HOST || curl == CURLE_COULDNT_RESOLVE_PROXY ||
           curl == CURLE_COULDNT_CONNECT;
  }
  bool Retryable() const { return status == 0 || status == 429 || status >= 500; }
};

size_t OnBody(char* ptr, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(ptr, size * n);
  return size * n;
}

size_t OnHeader(char* ptr, size_t size, size_t n, void* user) {
  std::string_view line(ptr, size * n);
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    static_cast<HttpResponse*>(user)->headers.emplace_back(std::move(name), std::string(value));
  } else if (line.rfind("HTTP/", 0) == 0) {
    static_cast<HttpResponse*>(user)->headers.clear();  // a new response (after 100-continue)
  }
  return size * n;
}

struct Upload {
  std::string_view data;
  size_t pos = 0;
};

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* up = static_cast<Upload*>(user);
  size_t len = std::min(size * n, up->data.size() - up->pos);
  std::memcpy(buf, up->data.data() + up->pos, len);
  up->pos += len;
  return len;
}

int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* up = static_cast<Upload*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > up->data.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  up->pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

std::string AmzDateNow() {
  std::time_t t = std::time(nullptr);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

void Backoff(int attempt) {
  thread_local std::mt19937 rng(std::random_device{}());
  int base_ms = 20 << std::min(attempt, 6);
  std::this_thread::sleep_for(std::chrono::milliseconds(base_ms / 2 + static_cast<int>(rng() % base_ms)));
}

/// A signed request to one bucket.
struct S3Request {
  const char* method = "GET";
  std::string key;  ///< empty: the bucket itself
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers (signed too)
  std::string_view body;
  bool head = false;
};

class S3Store final : public ObjectStore {
 public:
  S3Store(std::string bucket, std::string prefix, S3Options options, std::string scheme, std::string host,
          std::shared_ptr<arrow::fs::FileSystem> fs)
      : bucket_(std::move(bucket)),
        prefix_(std::move(prefix)),
        options_(std::move(options)),
        scheme_(std::move(scheme)),
        host_(std::move(host)),
        fs_(std::move(fs)) {
    root_ = "s3://" + bucket_ + (prefix_.empty() ? "" : "/" + prefix_);
  }

  ~S3Store() override {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  const std::string& root() const override { return root_; }

  Result<std::shared_ptr<arrow::Buffer>> Read(const std::string& path) override {
    S3Request req;
    req.key = Key(path);
    HttpResponse r = SendWithRetries(req);
    if (r.status == 200) return arrow::Buffer::FromString(std::move(r.body));
    if (r.status == 404 && ParseError(r.body).first != "NoSuchBucket") return NotFound(Uri(req.key));
    return HttpError(req, r);
  }

  Status Write(const std::string& path, std::string_view data) override {
    S3Request req;
    req.method = "PUT";
    req.key = Key(path);
    req.body = data;
    HttpResponse r = SendWithRetries(req);
    if (r.status == 200 || r.status == 201) return Status::OK();
    return HttpError(req, r);
  }

  Result<bool> PutIfAbsent(const std::string& path, std::string_view data) override {
    S3Request req;
    req.method = "PUT";
    req.key = Key(path);
    req.body = data;
    req.headers = {{"If-None-Match", "*"}};
    // A conflict (409) means another conditional write of this key was in flight: S3 asks for a
    // retry, which then sees 412 if that write won. Nothing else is retried blindly: a lost
    // response may hide our own success, and a retry would then report it as someone else's.
    constexpr int kConflictAttempts = 10;
    for (int attempt = 0;; ++attempt) {
      HttpResponse r = Send(req);
      if (r.status == 200 || r.status == 201) return true;
      if (r.status == 412) return false;
      if ((r.status == 409 && attempt + 1 < kConflictAttempts) ||
          (r.NotSent() && attempt + 1 < options_.max_attempts)) {
        Backoff(attempt);
        continue;
      }
      if (r.NotSent()) {
        return Status::IOError("S3 conditional PUT of ", Uri(req.key), " failed, nothing was written: ",
                               Describe(r));
      }
      if (r.status == 0 || r.status >= 500) {
        return MakeError(ErrorCode::kCommitStateUnknown,
                         "conditional PUT of " + Uri(req.key) + " may or may not have succeeded: " +
                             Describe(r) + " (re-read the table to find out)",
                         /*retryable=*/true);
      }
      if (r.status == 409) {
        return MakeError(ErrorCode::kCommitConflict,
                         "conditional PUT of " + Uri(req.key) + " kept conflicting with concurrent writes: " +
                             Describe(r),
                         /*retryable=*/true);
      }
      return HttpError(req, r);
    }
  }

  Result<std::vector<ObjectInfo>> List(const std::string& dir) override { return ListImpl(dir, false); }

  Result<std::vector<ObjectInfo>> ListRecursive(const std::string& dir) override { return ListImpl(dir, true); }

  Result<std::optional<ObjectInfo>> Head(const std::string& path) override {
    S3Request req;
    req.method = "HEAD";
    req.head = true;
    req.key = Key(path);
    HttpResponse r = SendWithRetries(req);
    if (r.status == 404) return std::nullopt;
    if (r.status != 200) return HttpError(req, r);
    ObjectInfo info;
    info.path = path;
    info.size = std::strtoll(r.Header("content-length").c_str(), nullptr, 10);
    info.mtime_ms = s3_internal::ParseHttpDateMs(r.Header("last-modified"));
    return info;
  }

  Status Delete(const std::string& path) override {
    S3Request req;
    req.method = "DELETE";
    req.key = Key(path);
    HttpResponse r = SendWithRetries(req);
    if (r.status == 200 || r.status == 204) return Status::OK();
    if (r.status == 404 && ParseError(r.body).first != "NoSuchBucket") return Status::OK();
    return HttpError(req, r);
  }

  std::shared_ptr<arrow::fs::FileSystem> filesystem() const override { return fs_; }
  std::string FsPath(const std::string& rel) const override { return bucket_ + "/" + Key(rel); }

  /// Same bucket, endpoint, credentials and Arrow filesystem; a prefix one level down.
  Result<std::shared_ptr<ObjectStore>> OpenChild(const std::string& rel) const override {
    ARROW_RETURN_NOT_OK(CheckChildPath(rel));
    return std::shared_ptr<ObjectStore>(std::make_shared<S3Store>(bucket_, Key(rel), options_, scheme_, host_, fs_));
  }

 private:
  std::string Key(const std::string& rel) const {
    if (prefix_.empty()) return rel;
    if (rel.empty()) return prefix_;
    return prefix_ + "/" + rel;
  }

  std::string Uri(const std::string& key) const { return "s3://" + bucket_ + "/" + key; }

  bool PathStyle() const { return options_.path_style.value_or(!options_.endpoint_override.empty()); }

  Result<std::vector<ObjectInfo>> ListImpl(const std::string& dir, bool recursive) {
    std::string list_prefix = Key(dir);
    if (!list_prefix.empty()) list_prefix.push_back('/');
    const size_t strip = prefix_.empty() ? 0 : prefix_.size() + 1;
    std::vector<ObjectInfo> out;
    std::string token;
    for (int page = 0;; ++page) {
      S3Request req;
      req.query = {{"list-type", "2"}, {"prefix", list_prefix},
                   {"max-keys", std::to_string(std::clamp(options_.list_page_size, 1, 1000))}};
      if (!recursive) req.query.emplace_back("delimiter", "/");
      if (!token.empty()) req.query.emplace_back("continuation-token", token);
      HttpResponse r = SendWithRetries(req);
      if (r.status != 200) return HttpError(req, r, "listing " + Uri(list_prefix));
      auto parsed = s3_internal::ParseListObjectsV2(r.body);
      if (!parsed.ok()) return WithContext(parsed.status(), "listing " + Uri(list_prefix));
      for (auto& e : parsed->entries) {
        // Keys ending in '/' are directory markers (Arrow's S3 filesystem creates them).
        if (e.key.size() <= strip || e.key.back() == '/' || e.key.compare(0, list_prefix.size(), list_prefix) != 0) {
          continue;
        }
        ObjectInfo info;
        info.path = e.key.substr(strip);
        info.size = e.size;
        info.mtime_ms = e.mtime_ms;
        out.push_back(std::move(info));
      }
      if (!parsed->truncated) break;
      if (parsed->next_token == token) {
        return Status::IOError("listing ", Uri(list_prefix), ": the server repeated continuation token '", token, "'");
      }
      token = std::move(parsed->next_token);
    }
    return out;
  }

  /// Retries idempotent requests on transport errors, 429 and 5xx; returns the last response.
  HttpResponse SendWithRetries(const S3Request& req) {
    HttpResponse r;
    for (int attempt = 0; attempt < std::max(1, options_.max_attempts); ++attempt) {
      if (attempt > 0) Backoff(attempt - 1);
      r = Send(req);
      if (!r.Retryable()) break;
    }
    return r;
  }

  HttpResponse Send(const S3Request& req) {
    std::string path;
    std::string host = host_;
    if (PathStyle()) {
      path = "/" + sigv4::UriEncode(bucket_, false);
      if (!req.key.empty()) path += "/" + sigv4::UriEncode(req.key, true);
    } else {
      host = bucket_ + "." + host_;
      path = "/" + sigv4::UriEncode(req.key, true);
    }
    std::string query = sigv4::CanonicalQuery(req.query);
    std::string url = scheme_ + "://" + host + path + (query.empty() ? "" : "?" + query);

    sigv4::Request sreq;
    sreq.method = req.method;
    sreq.canonical_uri = path;
    sreq.query = req.query;
    sreq.payload_sha256 = sigv4::Sha256Hex(req.body);
    std::string amz_date = AmzDateNow();
    sreq.headers = {{"host", host}, {"x-amz-content-sha256", sreq.payload_sha256}, {"x-amz-date", amz_date}};
    if (!options_.session_token.empty()) sreq.headers.emplace_back("x-amz-security-token", options_.session_token);
    for (const auto& h : req.headers) sreq.headers.push_back(h);

    struct curl_slist* hdrs = nullptr;
    for (const auto& [k, v] : sreq.headers) hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
    if (!options_.access_key.empty()) {
      std::string auth = sigv4::Authorization(sreq, options_.access_key, options_.secret_key, options_.region,
                                              amz_date);
      hdrs = curl_slist_append(hdrs, ("Authorization: " + auth).c_str());
    }
    hdrs = curl_slist_append(hdrs, "Expect:");  // no 100-continue round trip
    hdrs = curl_slist_append(hdrs, "Accept:");

    HttpResponse resp;
    Upload up{req.body, 0};
    CURL* h = Acquire();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::max(1.0, options_.stall_timeout_s)));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp.body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
    if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    std::string method = req.method;
    if (method == "PUT") {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(h, CURLOPT_READDATA, &up);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, OnSeek);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &up);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else if (req.head) {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method);
    }
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    resp.curl = curl_easy_perform(h);
    if (resp.curl == CURLE_OK) {
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    } else {
      resp.status = 0;
      resp.curl_error = errbuf[0] != 0 ? errbuf : curl_easy_strerror(resp.curl);
    }
    Release(h);
    curl_slist_free_all(hdrs);
    return resp;
  }

  std::string Describe(const HttpResponse& r) const {
    if (r.status == 0) {
      return std::string("no response from ") + scheme_ + "://" + host_ + " (" + r.curl_error + ")";
    }
    auto [code, message] = ParseError(r.body);
    std::string out = "HTTP " + std::to_string(r.status);
    if (!code.empty()) out += " " + code;
    if (!message.empty()) out += ": " + message;
    std::string region = r.Header("x-amz-bucket-region");
    if (!region.empty() && region != options_.region) {
      out += " (the bucket is in region " + region + ", not " + options_.region + ")";
    }
    if (r.status == 401 || r.status == 403) {
      out += options_.access_key.empty()
                 ? " (no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                 : " (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN and the bucket policy)";
    }
    return out;
  }

  Status HttpError(const S3Request& req, const HttpResponse& r, std::string what = {}) const {
    if (what.empty()) what = Uri(req.key);
    std::string desc = Describe(r);
    if (r.status == 404 && ParseError(r.body).first == "NoSuchBucket") {
      return Status::IOError("S3 bucket '", bucket_, "' does not exist (", req.method, " ", what, ": ", desc, ")");
    }
    return Status::IOError("S3 ", req.method, " ", what, " failed: ", desc);
  }

  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void Release(CURL* h) {
    curl_easy_reset(h);  // keeps the handle's connection cache: the next request reuses it
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(h);
  }

  std::string bucket_, prefix_, root_;
  S3Options options_;
  std::string scheme_, host_;  ///< of the endpoint (host may carry ":port")
  std::shared_ptr<arrow::fs::FileSystem> fs_;
  std::mutex mu_;
  std::vector<CURL*> idle_;  ///< guarded by mu_
};

Status InitArrowS3() {
  std::call_once(g_arrow_s3_once, [] { g_arrow_s3_status = arrow::fs::EnsureS3Initialized(); });
  return g_arrow_s3_status;
}

}  // namespace

Result<std::shared_ptr<ObjectStore>> MakeS3Store(const std::string& uri, const S3Options& given) {
  if (uri.rfind("s3://", 0) != 0) {
    return Error(ErrorCode::kInvalidArgument, "not an s3:// URI: '", uri, "'");
  }
  std::string rest = uri.substr(5);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  auto slash = rest.find('/');
  std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  if (bucket.empty()) return Error(ErrorCode::kInvalidArgument, "no bucket in '", uri, "' (expected s3://bucket/path)");
  if (prefix.find("//") != std::string::npos || prefix.rfind('/', 0) == 0) {
    return Error(ErrorCode::kInvalidArgument, "empty path segment in '", uri, "'");
  }

  S3Options o = given;
  S3Options env = S3OptionsFromEnv();
  if (o.endpoint_override.empty()) o.endpoint_override = env.endpoint_override;
  if (o.region.empty()) o.region = env.region;
  if (o.region.empty()) o.region = "us-east-1";
  if (o.ca_file.empty()) o.ca_file = env.ca_file;
  if (o.access_key.empty() && o.secret_key.empty()) {
    o.access_key = env.access_key;
    o.secret_key = env.secret_key;
    if (o.session_token.empty()) o.session_token = env.session_token;
  }
  if (!o.access_key.empty() && o.secret_key.empty()) {
    return Error(ErrorCode::kInvalidArgument, "S3 access key given without a secret key (AWS_SECRET_ACCESS_KEY)");
  }

  std::string scheme = "https", host = "s3." + o.region + ".amazonaws.com";
  if (!o.endpoint_override.empty()) {
    std::string ep = o.endpoint_override;
    auto sep = ep.find("://");
    if (sep == std::string::npos) {
      return Error(ErrorCode::kInvalidArgument, "S3 endpoint '", ep, "' needs a scheme (http:// or https://)");
    }
    scheme = ep.substr(0, sep);
    host = ep.substr(sep + 3);
    while (!host.empty() && host.back() == '/') host.pop_back();
    if ((scheme != "http" && scheme != "https") || host.empty() || host.find('/') != std::string::npos) {
      return Error(ErrorCode::kInvalidArgument, "S3 endpoint '", ep, "' is not of the form http(s)://host[:port]");
    }
  }
  std::call_once(g_curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  ARROW_RETURN_NOT_OK(InitArrowS3());
  arrow::fs::S3Options ao = o.access_key.empty() ? arrow::fs::S3Options::Defaults()
                                                 : arrow::fs::S3Options::FromAccessKey(o.access_key, o.secret_key,
                                                                                       o.session_token);
  if (o.access_key.empty()) {
    // No static keys: take what the AWS SDK's default chain finds (profile files, instance or
    // container roles), once, for the signed log requests too. Nothing found: anonymous requests.
    o.access_key = ao.GetAccessKey();
    o.secret_key = ao.GetSecretKey();
    o.session_token = ao.GetSessionToken();
  }
  ao.region = o.region;
  if (!o.endpoint_override.empty()) {
    ao.endpoint_override = host;
    ao.scheme = scheme;
    ao.force_virtual_addressing = !o.path_style.value_or(true);
  }
  ao.connect_timeout = o.connect_timeout_s;
  ao.tls_ca_file_path = o.ca_file;
  auto fs = arrow::fs::S3FileSystem::Make(ao);
  if (!fs.ok()) return WithContext(fs.status(), "opening " + uri);
  // Arrow requires FinalizeS3 before exit, or the AWS SDK may crash in static destructors. The
  // handler is registered after the first client exists: atexit handlers and static destructors
  // run in reverse order of registration, and Arrow's client registry is a static created with
  // the first client, which must still be alive when the handler runs. pyarrow registers the
  // same idempotent call in Python processes.
  static std::once_flag finalize_once;
  std::call_once(finalize_once, [] { std::atexit([] { (void)arrow::fs::EnsureS3Finalized(); }); });

  return std::shared_ptr<ObjectStore>(std::make_shared<S3Store>(bucket, prefix, o, scheme, host, *fs));
}

}  // namespace strata::storage
