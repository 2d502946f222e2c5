#include "strata/storage/fault_injection.h"

namespace strata::storage {

Status FaultInjectingStore::Maybe(Op op, const std::string& path) {
  int i = static_cast<int>(op);
  ++calls_[i];
  int c = countdown_[i].load();
  if (c > 0 && --countdown_[i] == 0) return Status::IOError("injected fault on '", path, "'");
  return Status::OK();
}

Result<std::shared_ptr<arrow::Buffer>> FaultInjectingStore::Read(const std::string& p) {
  ARROW_RETURN_NOT_OK(Maybe(Op::kRead, p));
  return target_->Read(p);
}
Status FaultInjectingStore::Write(const std::string& p, std::string_view d) {
  ARROW_RETURN_NOT_OK(Maybe(Op::kWrite, p));
  return target_->Write(p, d);
}
Result<bool> FaultInjectingStore::PutIfAbsent(const std::string& p, std::string_view d) {
  ARROW_RETURN_NOT_OK(Maybe(Op::kPutIfAbsent, p));
  return target_->PutIfAbsent(p, d);
}
Result<std::vector<ObjectInfo>> FaultInjectingStore::List(const std::string& d) {
  ARROW_RETURN_NOT_OK(Maybe(Op::kList, d));
  return target_->List(d);
}
Status FaultInjectingStore::Delete(const std::string& p) {
  ARROW_RETURN_NOT_OK(Maybe(Op::kDelete, p));
  return target_->Delete(p);
}

}  // namespace strata::storage
