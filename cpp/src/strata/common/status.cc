#include "strata/common/status.h"

namespace strata {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kCommitConflict: return "CommitConflict";
    case ErrorCode::kCommitStateUnknown: return "CommitStateUnknown";
    case ErrorCode::kSchemaMismatch: return "SchemaMismatch";
    case ErrorCode::kExpectationFailed: return "ExpectationFailed";
    case ErrorCode::kCorruptLog: return "CorruptLog";
    case ErrorCode::kNotATable: return "NotATable";
    case ErrorCode::kUnsupportedFeature: return "UnsupportedFeature";
    case ErrorCode::kInvalidArgument: return "InvalidArgument";
    case ErrorCode::kVersionNotFound: return "VersionNotFound";
  }
  return "Unknown";
}

Status MakeError(ErrorCode code, std::string message, bool retryable) {
  arrow::StatusCode sc = arrow::StatusCode::Invalid;
  switch (code) {
    case ErrorCode::kCommitConflict:
    case ErrorCode::kCommitStateUnknown: sc = arrow::StatusCode::IOError; break;
    case ErrorCode::kNotATable:
    case ErrorCode::kVersionNotFound: sc = arrow::StatusCode::KeyError; break;
    case ErrorCode::kUnsupportedFeature: sc = arrow::StatusCode::NotImplemented; break;
    case ErrorCode::kSchemaMismatch: sc = arrow::StatusCode::TypeError; break;
    default: break;
  }
  return Status(sc, std::move(message), std::make_shared<StatusDetail>(code, retryable));
}

const StatusDetail* GetDetail(const Status& st) {
  auto d = st.detail();
  if (d && std::string_view(d->type_id()) == StatusDetail::kTypeId) {
    return static_cast<const StatusDetail*>(d.get());
  }
  return nullptr;
}

bool HasCode(const Status& st, ErrorCode code) {
  auto* d = GetDetail(st);
  return d != nullptr && d->code() == code;
}

Status WithContext(const Status& st, std::string_view context) {
  if (st.ok()) return st;
  return Status(st.code(), std::string(context) + ": " + st.message(), st.detail());
}

}  // namespace strata
