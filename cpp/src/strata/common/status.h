/// \file
/// strata's error model: arrow::Status / arrow::Result carrying a StatusDetail with a domain
/// code and whether a retry may help. Owns nothing else; every component may include it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <arrow/result.h>
#include <arrow/status.h>

namespace strata {

using arrow::Result;
using arrow::Status;

/// Domain error kinds. The Python layer maps each to an exception class.
enum class ErrorCode {
  kCommitConflict,       ///< another writer committed something our commit contradicts
  kCommitStateUnknown,   ///< we cannot tell whether our commit landed
  kSchemaMismatch,       ///< data does not fit the table schema
  kExpectationFailed,    ///< a quality gate rejected the data
  kCorruptLog,           ///< the Delta log is unreadable or inconsistent
  kNotATable,            ///< the path holds no Delta table
  kUnsupportedFeature,   ///< a protocol feature strata does not implement
  kInvalidArgument,      ///< bad user input (expression, option, path)
  kVersionNotFound,      ///< time travel to a version/timestamp that does not exist
};

const char* ErrorCodeName(ErrorCode code);

/// Attached to an arrow::Status to carry strata's domain code.
class StatusDetail : public arrow::StatusDetail {
 public:
  static constexpr const char* kTypeId = "strata::StatusDetail";
  StatusDetail(ErrorCode code, bool retryable) : code_(code), retryable_(retryable) {}
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return ErrorCodeName(code_); }
  ErrorCode code() const { return code_; }
  bool retryable() const { return retryable_; }

 private:
  ErrorCode code_;
  bool retryable_;
};

/// Builds a status with a domain code. The arrow status code is chosen to match the kind.
Status MakeError(ErrorCode code, std::string message, bool retryable = false);

/// The domain code of `st`, if it carries one.
const StatusDetail* GetDetail(const Status& st);
bool HasCode(const Status& st, ErrorCode code);

/// Prefixes the message with context, keeping code and detail ("reading v12: ...").
Status WithContext(const Status& st, std::string_view context);

template <typename... Args>
Status Error(ErrorCode code, Args&&... args) {
  return MakeError(code, arrow::internal::JoinToString(std::forward<Args>(args)...));
}

}  // namespace strata

#define STRATA_RETURN_NOT_OK(expr) ARROW_RETURN_NOT_OK(expr)
#define STRATA_ASSIGN_OR_RAISE(lhs, rexpr) ARROW_ASSIGN_OR_RAISE(lhs, rexpr)
/// Returns `expr`'s error with `ctx` prepended.
#define STRATA_RETURN_NOT_OK_CTX(expr, ctx)                      \
  do {                                                           \
    ::arrow::Status _st = (expr);                                \
    if (!_st.ok()) return ::strata::WithContext(_st, (ctx));     \
  } while (0)
