#include "strata/storage/object_store.h"

#include "strata/storage/local_store.h"
#include "strata/storage/s3_store.h"

namespace strata::storage {

namespace {
constexpr const char* kNotFoundPrefix = "object not found: ";
}

Status NotFound(const std::string& what) { return Status::IOError(kNotFoundPrefix, what); }

bool IsNotFound(const Status& st) {
  return st.IsIOError() && st.message().rfind(kNotFoundPrefix, 0) == 0;
}

Result<std::shared_ptr<ObjectStore>> OpenStore(const std::string& location) {
  if (location.rfind("file://", 0) == 0) return MakeLocalStore(location.substr(7));
  if (location.rfind("s3://", 0) == 0) return MakeS3Store(location, S3Options{});  // AWS_* env vars
  auto scheme = location.find("://");
  if (scheme != std::string::npos) {
    return Error(ErrorCode::kInvalidArgument, "unsupported storage scheme '",
                 location.substr(0, scheme), "' in '", location, "' (supported: local paths, file://, s3://)");
  }
  return MakeLocalStore(location);
}

}  // namespace strata::storage
