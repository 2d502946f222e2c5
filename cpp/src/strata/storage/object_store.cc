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

Status CheckChildPath(const std::string& rel) {
  if (rel.empty() || rel.front() == '/' || rel.back() == '/') {
    return Error(ErrorCode::kInvalidArgument, "child store path '", rel, "' must be relative and name a directory");
  }
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string_view seg(rel.data() + start, end - start);
    if (seg.empty() || seg == "." || seg == "..") {
      return Error(ErrorCode::kInvalidArgument, "child store path '", rel, "' has an empty, '.' or '..' segment");
    }
    start = end + 1;
  }
  return Status::OK();
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
