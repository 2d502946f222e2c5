/// libFuzzer harness for the deletion vector parsers: arbitrary bytes as a RoaringBitmapArray,
/// as Z85 text, and as a deletion vector file. None may crash; what parses must round-trip.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/buffer.h>

#include "strata/storage/object_store.h"
#include "strata/table/deletion_vector.h"

namespace {

using strata::Result;
using strata::Status;
using strata::storage::ObjectInfo;

/// Serves one object (the fuzz input) under every path; writes are refused.
class OneFileStore final : public strata::storage::ObjectStore {
 public:
  explicit OneFileStore(std::string_view data)
      : data_(std::make_shared<arrow::Buffer>(reinterpret_cast<const uint8_t*>(data.data()),
                                              static_cast<int64_t>(data.size()))) {}
  const std::string& root() const override { return root_; }
  Result<std::shared_ptr<arrow::Buffer>> Read(const std::string&) override { return data_; }
  Status Write(const std::string&, std::string_view) override { return Status::IOError("ro"); }
  Result<bool> PutIfAbsent(const std::string&, std::string_view) override {
    return Status::IOError("read-only");
  }
  Result<std::vector<ObjectInfo>> List(const std::string&) override {
    return std::vector<ObjectInfo>{};
  }
  Result<std::vector<ObjectInfo>> ListRecursive(const std::string&) override {
    return std::vector<ObjectInfo>{};
  }
  Result<std::optional<ObjectInfo>> Head(const std::string&) override { return std::nullopt; }
  Status Delete(const std::string&) override { return Status::OK(); }
  std::shared_ptr<arrow::fs::FileSystem> filesystem() const override { return nullptr; }
  std::string FsPath(const std::string& rel) const override { return rel; }
  Result<std::shared_ptr<ObjectStore>> OpenChild(const std::string&) const override {
    return Status::IOError("ro");
  }

 private:
  std::string root_ = "/fuzz";
  std::shared_ptr<arrow::Buffer> data_;
};

/// The same set of rows. Not Roaring64Map::operator==: in CRoaring 0.2.66 (Debian 12) it skips
/// an empty bucket on one side by advancing both sides, so two equal sets compare unequal when
/// one holds empty buckets (which the format allows and serializing drops).
bool SameRows(const roaring::Roaring64Map& a, const roaring::Roaring64Map& b) {
  if (a.cardinality() != b.cardinality()) return false;
  std::vector<uint64_t> va(a.cardinality()), vb(b.cardinality());
  a.toUint64Array(va.data());
  b.toUint64Array(vb.data());
  return va == vb;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::table;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto rows = DeserializeBitmap(input);
  if (rows.ok()) {
    auto again = DeserializeBitmap(SerializeBitmap(**rows));
    if (!again.ok() || !SameRows(**again, **rows)) std::abort();
  }

  auto decoded = Z85Decode(input);
  if (decoded.ok() && Z85Encode(*decoded) != input) std::abort();

  // The input as a whole .bin file holding one vector at offset 1 (CRC permitting).
  OneFileStore store(input);
  DeletionVectorDescriptor dv;
  dv.storage_type = "u";
  dv.path_or_inline_dv = "vBn[lx{q8@P<9BNH/isA";
  dv.offset = 1;
  dv.size_in_bytes = size >= 9 ? static_cast<int32_t>(size - 9) : 0;
  auto loaded = LoadDeletionVector(dv, store);
  (void)loaded;
  return 0;
}
