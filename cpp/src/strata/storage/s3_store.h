/// \file
/// The S3 object store: `s3://bucket/prefix` on AWS S3 or any S3-compatible server (MinIO, moto).
/// The Delta log goes through our own signed REST requests (libcurl + AWS Signature V4), because
/// the commit primitive is a conditional PUT (`If-None-Match: *`) that Arrow's S3 filesystem does
/// not offer; data files go through arrow::fs::S3FileSystem configured with the same endpoint and
/// credentials. Knows nothing of Delta.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/storage/object_store.h"

namespace strata::storage {

/// Where and as whom to reach S3. Empty fields fall back to the standard AWS environment
/// variables (see S3OptionsFromEnv), then to the defaults noted.
struct S3Options {
  /// Base URL of an S3-compatible server, e.g. "http://127.0.0.1:9000" (scheme required;
  /// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL). Empty: AWS, https://s3.<region>.amazonaws.com.
  std::string endpoint_override;
  std::string region;          ///< AWS_REGION, AWS_DEFAULT_REGION; default "us-east-1"
  std::string access_key;      ///< AWS_ACCESS_KEY_ID; empty with no env var: Arrow's default chain
  std::string secret_key;      ///< AWS_SECRET_ACCESS_KEY
  std::string session_token;   ///< AWS_SESSION_TOKEN (temporary credentials)
  std::string ca_file;         ///< AWS_CA_BUNDLE: CA certificates (PEM) for https; empty: system's
  /// Path-style URLs (http://host/bucket/key) instead of virtual-hosted ones
  /// (http://bucket.host/key). Default: path style when endpoint_override is set.
  std::optional<bool> path_style;
  /// Keys per ListObjectsV2 page (S3 caps it at 1000); small values exercise pagination in tests.
  int list_page_size = 1000;
  /// Attempts for idempotent requests (GET, HEAD, LIST, DELETE, unconditional PUT) that fail
  /// with a transport error or HTTP 5xx/429. The conditional PUT is never blindly retried.
  int max_attempts = 4;
  double connect_timeout_s = 10;
  /// A request fails when it moves no byte for this long.
  double stall_timeout_s = 60;
};

/// The options the environment gives (AWS_* variables); unset variables leave fields empty.
S3Options S3OptionsFromEnv();

/// Opens `s3://bucket[/prefix]`. Fields of `options` left empty are taken from the environment.
/// Opening sends no request: a missing bucket or bad credentials show on first use, as an
/// IOError naming the bucket, key and HTTP status.
/// PutIfAbsent: 200 → created, 412 → existed; 409 (a concurrent conditional write in flight) is
/// retried; a transport error or 5xx after the request may have reached the server returns
/// ErrorCode::kCommitStateUnknown (retryable): the object may or may not have been written.
Result<std::shared_ptr<ObjectStore>> MakeS3Store(const std::string& uri, const S3Options& options);

/// AWS Signature Version 4 for S3, exposed for tests against the AWS documentation's examples.
/// Reference: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
namespace sigv4 {

struct Request {
  std::string method;                                        ///< "GET", "PUT", ...
  std::string canonical_uri;                                 ///< the path, already UriEncode'd
  std::vector<std::pair<std::string, std::string>> query;    ///< raw (unencoded) names and values
  std::vector<std::pair<std::string, std::string>> headers;  ///< every header to sign, incl. host
  std::string payload_sha256;                                ///< hex; also sent as x-amz-content-sha256
};

/// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
/// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters stay, '/' stays only when
/// `keep_slash` (object key paths), everything else becomes %XX (uppercase hex).
std::string UriEncode(std::string_view s, bool keep_slash);
/// The value of the Authorization header. `amz_date` is "YYYYMMDDTHHMMSSZ" and must equal the
/// request's x-amz-date header.
std::string Authorization(const Request& req, const std::string& access_key, const std::string& secret_key,
                          const std::string& region, const std::string& amz_date);
/// The canonical query string: names and values encoded, pairs sorted, joined with '&'.
std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace sigv4

/// Parsers of server responses; not part of the public interface (exposed for tests).
namespace s3_internal {

struct ListEntry {
  std::string key;
  int64_t size = 0;
  int64_t mtime_ms = -1;
};
struct ListPage {
  std::vector<ListEntry> entries;
  bool truncated = false;
  std::string next_token;
};
/// A ListObjectsV2 response body (<ListBucketResult>); CommonPrefixes are ignored.
Result<ListPage> ParseListObjectsV2(std::string_view xml);
/// (Code, Message) of an <Error> body; empty strings when the body is not one.
std::pair<std::string, std::string> ParseError(std::string_view xml);
/// "2026-11-24T22:07:12.345Z" → ms since the epoch; -1 when malformed.
int64_t ParseIso8601Ms(std::string_view s);
/// "Tue, 24 Nov 2026 22:07:12 GMT" → ms since the epoch; -1 when malformed.
int64_t ParseHttpDateMs(std::string_view s);

}  // namespace s3_internal
}  // namespace strata::storage
