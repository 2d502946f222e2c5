#include "strata/table/deletion_vector.h"

#include <array>
#include <bit>
#include <cstring>
#include <exception>
#include <random>
#include <vector>

#include <arrow/buffer.h>
#include <arrow/util/crc32.h>
#include <arrow/util/uri.h>

#include "strata/storage/local_store.h"
#include "strata/storage/object_store.h"

namespace strata::table {

// The portable roaring format is little-endian, and so is the in-memory layout that
// ::Roaring64Map::write/readSafe copy bytes from. Big-endian hosts would need byte swapping.
static_assert(std::endian::native == std::endian::little, "strata assumes a little-endian host");

namespace {

// PROTOCOL.md "Deletion Vector Format": RoaringBitmapArray magic numbers.
constexpr uint32_t kPortableMagic = 1681511377;
// Spark's private "native" RoaringBitmapArray format; not part of the protocol, only named in errors.
constexpr uint32_t kNativeMagic = 1681511376;
// PROTOCOL.md "Deletion Vector File Storage Format".
constexpr uint8_t kDvFileVersion = 1;
constexpr size_t kZ85UuidLength = 20;

// RoaringFormatSpec cookies and limits.
constexpr uint32_t kSerialCookieNoRun = 12346;
constexpr uint32_t kSerialCookie = 12347;
constexpr uint32_t kNoOffsetThreshold = 4;
constexpr uint32_t kMaxArrayCardinality = 4096;
constexpr size_t kBitsetBytes = 8192;

constexpr char kZ85Alphabet[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

constexpr std::array<int8_t, 256> MakeZ85DecodeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 85; ++i) t[static_cast<uint8_t>(kZ85Alphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kZ85Decode = MakeZ85DecodeTable();

template <typename... Args>
Status Corrupt(Args&&... args) {
  return Error(ErrorCode::kCorruptLog, std::forward<Args>(args)...);
}

uint16_t LoadLE16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
uint32_t LoadLE32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
uint64_t LoadLE64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
uint32_t LoadBE32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
void AppendBE32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

uint32_t Crc32(std::string_view bytes) {
  return arrow::internal::crc32(0, bytes.data(), bytes.size());
}

/// Checks one serialized 32-bit roaring bitmap (RoaringFormatSpec, "portable" format) starting
/// at `p`, with `avail` bytes available. Returns its exact size; adds its cardinality to `*card`.
/// CRoaring 0.2.66's readSafe bounds its reads but trusts the content (sorted arrays, run
/// bounds, header cardinalities), and Roaring64Map::readSafe advances by the re-serialized size
/// rather than the bytes consumed, so only canonical bitmaps that pass here are handed to it.
Result<size_t> CheckPortable32(const uint8_t* p, size_t avail, uint64_t* card) {
  auto need = [&](size_t pos, size_t n, const char* what) -> Status {
    if (n > avail || pos > avail - n) {
      return Corrupt("truncated 32-bit roaring bitmap (", what, " needs ", n, " bytes at ", pos,
                     ", ", avail, " available)");
    }
    return Status::OK();
  };
  STRATA_RETURN_NOT_OK(need(0, 4, "cookie"));
  const uint32_t cookie = LoadLE32(p);
  size_t pos = 4;
  uint32_t size = 0;
  const uint8_t* run_flags = nullptr;
  bool has_run = false;
  if ((cookie & 0xFFFF) == kSerialCookie) {
    has_run = true;
    size = (cookie >> 16) + 1;
    const size_t flag_bytes = (size + 7) / 8;
    STRATA_RETURN_NOT_OK(need(pos, flag_bytes, "run flags"));
    run_flags = p + pos;
    pos += flag_bytes;
  } else if (cookie == kSerialCookieNoRun) {
    STRATA_RETURN_NOT_OK(need(pos, 4, "container count"));
    size = LoadLE32(p + pos);
    pos += 4;
    if (size > 65536) return Corrupt("roaring bitmap claims ", size, " containers (max 65536)");
  } else {
    return Corrupt("bad roaring bitmap cookie ", cookie);
  }
  STRATA_RETURN_NOT_OK(need(pos, size_t{size} * 4, "container headers"));
  const uint8_t* headers = p + pos;
  pos += size_t{size} * 4;
  if (!has_run || size >= kNoOffsetThreshold) {
    // Offsets are redundant with the sequential layout; readers (Java, CRoaring) skip them.
    STRATA_RETURN_NOT_OK(need(pos, size_t{size} * 4, "container offsets"));
    pos += size_t{size} * 4;
  }
  bool any_run = false;
  for (uint32_t i = 0; i < size; ++i) {
    const uint16_t key = LoadLE16(headers + 4 * i);
    const uint32_t n = uint32_t{LoadLE16(headers + 4 * i + 2)} + 1;
    if (i > 0 && key <= LoadLE16(headers + 4 * (i - 1))) {
      return Corrupt("roaring container keys not strictly ascending (", key, " at ", i, ")");
    }
    const bool is_run = has_run && ((run_flags[i / 8] >> (i % 8)) & 1);
    if (is_run) {
      any_run = true;
      STRATA_RETURN_NOT_OK(need(pos, 2, "run count"));
      const uint32_t runs = LoadLE16(p + pos);
      pos += 2;
      STRATA_RETURN_NOT_OK(need(pos, size_t{runs} * 4, "runs"));
      uint64_t total = 0;
      int64_t prev_end = -1;
      for (uint32_t r = 0; r < runs; ++r) {
        const uint32_t start = LoadLE16(p + pos + 4 * r);
        const uint32_t len = LoadLE16(p + pos + 4 * r + 2);
        if (start + len > 0xFFFF) return Corrupt("roaring run [", start, ", +", len, "] overflows");
        if (static_cast<int64_t>(start) <= prev_end) {
          return Corrupt("roaring runs overlap or are unsorted (start ", start, ")");
        }
        prev_end = start + len;
        total += len + 1;
      }
      if (total != n) {
        return Corrupt("roaring run container cardinality ", total, " != header ", n);
      }
      pos += size_t{runs} * 4;
    } else if (n <= kMaxArrayCardinality) {
      STRATA_RETURN_NOT_OK(need(pos, size_t{n} * 2, "array container"));
      for (uint32_t j = 1; j < n; ++j) {
        if (LoadLE16(p + pos + 2 * j) <= LoadLE16(p + pos + 2 * (j - 1))) {
          return Corrupt("roaring array container not strictly ascending");
        }
      }
      pos += size_t{n} * 2;
    } else {
      STRATA_RETURN_NOT_OK(need(pos, kBitsetBytes, "bitset container"));
      uint64_t bits = 0;
      for (size_t w = 0; w < kBitsetBytes / 8; ++w) bits += std::popcount(LoadLE64(p + pos + 8 * w));
      if (bits != n) return Corrupt("roaring bitset cardinality ", bits, " != header ", n);
      pos += kBitsetBytes;
    }
    *card += n;
  }
  // A run cookie without run containers is legal but never written by Java or CRoaring; CRoaring
  // would re-serialize it in fewer bytes, which would desynchronize Roaring64Map::readSafe.
  if (has_run && !any_run) return Corrupt("roaring bitmap has a run cookie but no run container");
  return pos;
}

std::string FormatUuid(std::string_view b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    const auto c = static_cast<uint8_t>(b[i]);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string RandomUuidBytes() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   (uint64_t{std::random_device{}()} << 32));
  std::string b(16, '\0');
  const uint64_t hi = rng(), lo = rng();
  std::memcpy(b.data(), &hi, 8);
  std::memcpy(b.data() + 8, &lo, 8);
  b[6] = static_cast<char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return b;
}

/// The file holding an on-disk vector: read through `store` when it lies below the table root,
/// else (a 'p' path elsewhere on the local filesystem) through a store rooted at its directory.
struct DvFile {
  std::shared_ptr<arrow::Buffer> data;
  std::string display;  // for messages
};

Result<DvFile> ReadDvFile(const DeletionVectorDescriptor& dv, storage::ObjectStore& store) {
  STRATA_ASSIGN_OR_RAISE(std::string path, DeletionVectorPath(dv));
  std::string rel;
  std::string local_abs;
  if (dv.storage_type == "u") {
    rel = path;
  } else {
    // 'p': a URI like add.path (percent-encoded), e.g. file:/tmp/t/x.bin or file:///tmp/t/x.bin.
    const std::string& root = store.root();
    std::string_view rest = path;
    if (rest.rfind("file:", 0) == 0) {
      rest.remove_prefix(5);
      if (rest.rfind("//", 0) == 0) {
        rest.remove_prefix(2);
        if (rest.rfind("localhost/", 0) == 0) rest.remove_prefix(9);
      }
      local_abs = arrow::util::UriUnescape(rest);
    } else if (path.find("://") == std::string::npos && !path.empty() && path[0] == '/') {
      local_abs = arrow::util::UriUnescape(path);
    } else if (path.size() > root.size() + 1 && path.compare(0, root.size(), root) == 0 &&
               path[root.size()] == '/') {
      rel = arrow::util::UriUnescape(std::string_view(path).substr(root.size() + 1));
    } else {
      return Error(ErrorCode::kUnsupportedFeature, "deletion vector '", path,
                   "' is outside the table root '", root, "' and not on the local filesystem");
    }
    if (!local_abs.empty()) {
      if (local_abs[0] != '/') return Corrupt("deletion vector path '", path, "' is not absolute");
      if (local_abs.size() > root.size() + 1 && local_abs.compare(0, root.size(), root) == 0 &&
          local_abs[root.size()] == '/') {
        rel = local_abs.substr(root.size() + 1);
        local_abs.clear();
      }
    }
  }
  DvFile file;
  Result<std::shared_ptr<arrow::Buffer>> read;
  if (local_abs.empty()) {
    file.display = store.root() + "/" + rel;
    read = store.Read(rel);
  } else {
    file.display = local_abs;
    const auto slash = local_abs.rfind('/');
    STRATA_ASSIGN_OR_RAISE(auto dir_store, storage::MakeLocalStore(
                                               slash == 0 ? "/" : local_abs.substr(0, slash)));
    read = dir_store->Read(local_abs.substr(slash + 1));
  }
  if (!read.ok()) {
    if (storage::IsNotFound(read.status())) {
      return Corrupt("deletion vector file '", file.display, "' does not exist");
    }
    return WithContext(read.status(), "reading deletion vector '" + file.display + "'");
  }
  file.data = *std::move(read);
  return file;
}

}  // namespace

std::string DeletionVectorDescriptor::UniqueId() const {
  std::string id = storage_type + path_or_inline_dv;
  if (offset.has_value()) id += "@" + std::to_string(*offset);
  return id;
}

std::string Z85Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 3) / 4 * 5);
  for (size_t i = 0; i < bytes.size(); i += 4) {
    uint32_t v = 0;
    for (size_t j = 0; j < 4; ++j) {
      v = (v << 8) | (i + j < bytes.size() ? static_cast<uint8_t>(bytes[i + j]) : 0);
    }
    char group[5];
    for (int k = 4; k >= 0; --k) {
      group[k] = kZ85Alphabet[v % 85];
      v /= 85;
    }
    out.append(group, 5);
  }
  return out;
}

Result<std::string> Z85Decode(std::string_view text) {
  if (text.size() % 5 != 0) {
    return Error(ErrorCode::kInvalidArgument, "Z85 text length ", text.size(),
                 " is not a multiple of 5");
  }
  std::string out;
  out.reserve(text.size() / 5 * 4);
  for (size_t i = 0; i < text.size(); i += 5) {
    uint64_t v = 0;
    for (size_t j = 0; j < 5; ++j) {
      const int8_t d = kZ85Decode[static_cast<uint8_t>(text[i + j])];
      if (d < 0) {
        return Error(ErrorCode::kInvalidArgument, "invalid Z85 character at position ", i + j);
      }
      v = v * 85 + static_cast<uint64_t>(d);
    }
    if (v > 0xFFFFFFFFull) {
      return Error(ErrorCode::kInvalidArgument, "Z85 group at position ", i, " exceeds 2^32-1");
    }
    for (int k = 3; k >= 0; --k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
  }
  return out;
}

Result<std::string> DeletionVectorPath(const DeletionVectorDescriptor& dv) {
  if (dv.storage_type == "p") {
    if (dv.path_or_inline_dv.empty()) return Corrupt("deletion vector with an empty absolute path");
    return dv.path_or_inline_dv;
  }
  if (dv.storage_type == "i") {
    return Error(ErrorCode::kInvalidArgument, "an inline deletion vector has no file path");
  }
  if (dv.storage_type != "u") {
    return Corrupt("unknown deletion vector storageType '", dv.storage_type, "'");
  }
  // PROTOCOL.md "Derived Fields": <table>/<random prefix>/deletion_vector_<uuid>.bin, the
  // UUID being the last 20 characters (Z85 of its 16 big-endian bytes).
  const std::string& s = dv.path_or_inline_dv;
  if (s.size() < kZ85UuidLength) {
    return Corrupt("relative deletion vector id '", s, "' is shorter than ", kZ85UuidLength,
                   " characters");
  }
  auto uuid = Z85Decode(std::string_view(s).substr(s.size() - kZ85UuidLength));
  if (!uuid.ok()) {
    return Corrupt("relative deletion vector id '", s, "': ", uuid.status().message());
  }
  std::string name = "deletion_vector_" + FormatUuid(*uuid) + ".bin";
  const std::string prefix = s.substr(0, s.size() - kZ85UuidLength);
  return prefix.empty() ? name : prefix + "/" + name;
}

std::string SerializeBitmap(const roaring::Roaring64Map& rows) {
  ::Roaring64Map copy(rows);
  copy.runOptimize();
  copy.shrinkToFit();  // drops empty buckets, which removals leave behind
  const size_t size = copy.getSizeInBytes(/*portable=*/true);
  // ::Roaring64Map::write stores the bucket count through a uint64_t*: give it aligned memory.
  std::vector<uint64_t> aligned((size + 7) / 8);
  const size_t written = copy.write(reinterpret_cast<char*>(aligned.data()), /*portable=*/true);
  // 0.2.66 writes count (u64), then per bucket key (u32) + portable 32-bit bitmap, all in host
  // order: on a little-endian host, exactly PROTOCOL.md "Deletion Vector Format".
  std::string out(4 + written, '\0');
  std::memcpy(out.data(), &kPortableMagic, 4);
  std::memcpy(out.data() + 4, aligned.data(), written);
  return out;
}

Result<std::shared_ptr<roaring::Roaring64Map>> DeserializeBitmap(std::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  if (n < 12) return Corrupt("deletion vector bitmap too short (", n, " bytes)");
  const uint32_t magic = LoadLE32(p);
  if (magic != kPortableMagic) {
    if (magic == kNativeMagic) {
      return Corrupt("deletion vector bitmap uses Spark's native RoaringBitmapArray format (magic ",
                     magic, "), which is not part of the Delta protocol");
    }
    return Corrupt("bad deletion vector magic number ", magic, " (expected ", kPortableMagic, ")");
  }
  const uint64_t buckets = LoadLE64(p + 4);
  size_t pos = 12;
  // Each bucket takes at least 12 bytes (key + empty bitmap): bound the loop by the input.
  if (buckets > (n - pos) / 12) {
    return Corrupt("deletion vector claims ", buckets, " buckets in ", n, " bytes");
  }
  uint64_t cardinality = 0;
  int64_t prev_key = -1;
  for (uint64_t b = 0; b < buckets; ++b) {
    if (n - pos < 4) return Corrupt("deletion vector truncated in bucket ", b);
    const uint32_t key = LoadLE32(p + pos);
    if (key & 0x80000000u) {
      return Corrupt("deletion vector bucket key ", key, " has its most significant bit set");
    }
    if (static_cast<int64_t>(key) <= prev_key) {
      return Corrupt("deletion vector bucket keys not strictly ascending (", key, ")");
    }
    prev_key = key;
    pos += 4;
    auto size = CheckPortable32(p + pos, n - pos, &cardinality);
    if (!size.ok()) return WithContext(size.status(), "bucket " + std::to_string(key));
    pos += *size;
  }
  if (pos != n) return Corrupt("deletion vector has ", n - pos, " trailing bytes");

  // Validated and canonical: CRoaring reads exactly these bytes. Copy to aligned memory, since
  // 0.2.66 loads the bucket count through a uint64_t*.
  std::vector<uint64_t> aligned((n - 4 + 7) / 8);
  std::memcpy(aligned.data(), p + 4, n - 4);
  try {
    auto out = std::make_shared<roaring::Roaring64Map>(
        ::Roaring64Map::readSafe(reinterpret_cast<const char*>(aligned.data()), n - 4));
    if (out->cardinality() != cardinality || out->getSizeInBytes(true) != n - 4) {
      return Corrupt("deletion vector bitmap decoded inconsistently (cardinality ",
                     out->cardinality(), ", expected ", cardinality, ")");
    }
    return out;
  } catch (const std::exception& e) {
    return Corrupt("cannot decode deletion vector bitmap: ", e.what());
  }
}

Result<std::shared_ptr<roaring::Roaring64Map>> LoadDeletionVector(const DeletionVectorDescriptor& dv,
                                                                  storage::ObjectStore& store) {
  if (dv.size_in_bytes < 0 || dv.cardinality < 0) {
    return Corrupt("deletion vector '", dv.UniqueId(), "' has negative sizeInBytes or cardinality");
  }
  const auto size = static_cast<size_t>(dv.size_in_bytes);
  std::string where;
  std::string inline_bytes;
  std::shared_ptr<arrow::Buffer> file_data;
  std::string_view bitmap;
  if (dv.storage_type == "i") {
    where = "inline deletion vector '" + dv.path_or_inline_dv.substr(0, 40) +
            (dv.path_or_inline_dv.size() > 40 ? "...'" : "'");
    auto decoded = Z85Decode(dv.path_or_inline_dv);
    if (!decoded.ok()) return Corrupt(where, ": ", decoded.status().message());
    inline_bytes = *std::move(decoded);
    // Delta zero-pads the bytes to a multiple of 4 before encoding; sizeInBytes is unpadded.
    if (inline_bytes.size() < size || inline_bytes.size() - size >= 4) {
      return Corrupt(where, ": decodes to ", inline_bytes.size(), " bytes, but sizeInBytes is ",
                     size);
    }
    bitmap = std::string_view(inline_bytes).substr(0, size);
  } else {
    STRATA_ASSIGN_OR_RAISE(DvFile file, ReadDvFile(dv, store));
    file_data = file.data;
    // PROTOCOL.md: "Interpret as 0 if absent" for on-disk vectors.
    const int64_t offset = dv.offset.value_or(0);
    where = "deletion vector '" + file.display + "' at offset " + std::to_string(offset);
    const auto* d = file_data->data();
    const auto fsize = static_cast<size_t>(file_data->size());
    if (fsize < 1) return Corrupt(where, ": empty file");
    if (d[0] != kDvFileVersion) {
      return Corrupt(where, ": unsupported deletion vector file version ", int{d[0]});
    }
    if (offset < 0 || static_cast<uint64_t>(offset) > fsize || fsize - offset < 4) {
      return Corrupt(where, ": offset beyond the end of the ", fsize, "-byte file");
    }
    const uint32_t stored_size = LoadBE32(d + offset);
    if (stored_size != size) {
      return Corrupt(where, ": stored size ", stored_size, " != descriptor sizeInBytes ", size);
    }
    if (fsize - offset - 4 < size || fsize - offset - 4 - size < 4) {
      return Corrupt(where, ": file truncated (", fsize, " bytes, vector needs ",
                     offset + 8 + size, ")");
    }
    bitmap = std::string_view(reinterpret_cast<const char*>(d + offset + 4), size);
    const uint32_t stored_crc = LoadBE32(d + offset + 4 + size);
    const uint32_t crc = Crc32(bitmap);
    if (crc != stored_crc) {
      return Corrupt(where, ": CRC-32 mismatch (stored ", stored_crc, ", computed ", crc, ")");
    }
  }
  auto rows = DeserializeBitmap(bitmap);
  if (!rows.ok()) return WithContext(rows.status(), where);
  const uint64_t card = (*rows)->cardinality();
  if (card != static_cast<uint64_t>(dv.cardinality)) {
    return Corrupt(where, ": holds ", card, " rows, descriptor cardinality is ", dv.cardinality);
  }
  return rows;
}

Result<DeletionVectorDescriptor> WriteDeletionVector(const roaring::Roaring64Map& rows,
                                                     storage::ObjectStore& store,
                                                     int32_t inline_threshold) {
  if (!rows.isEmpty() && rows.maximum() >= (uint64_t{1} << 63)) {
    return Error(ErrorCode::kInvalidArgument, "deletion vector row index ", rows.maximum(),
                 " is not below 2^63");
  }
  const std::string bytes = SerializeBitmap(rows);
  if (bytes.size() > static_cast<size_t>(INT32_MAX) - 9) {
    return Error(ErrorCode::kInvalidArgument, "deletion vector too large (", bytes.size(), " bytes)");
  }
  DeletionVectorDescriptor dv;
  dv.size_in_bytes = static_cast<int32_t>(bytes.size());
  dv.cardinality = static_cast<int64_t>(rows.cardinality());
  if (inline_threshold > 0 && bytes.size() <= static_cast<size_t>(inline_threshold)) {
    dv.storage_type = "i";
    dv.path_or_inline_dv = Z85Encode(bytes);
    return dv;
  }
  // One vector per file: version, big-endian size, bytes, big-endian CRC-32 of the bytes.
  std::string file;
  file.reserve(bytes.size() + 9);
  file.push_back(static_cast<char>(kDvFileVersion));
  AppendBE32(&file, static_cast<uint32_t>(bytes.size()));
  file += bytes;
  AppendBE32(&file, Crc32(bytes));
  dv.storage_type = "u";
  dv.offset = 1;
  // PutIfAbsent: durable before any commit can reference it, and never replaces a file that
  // another writer's (colliding) UUID already named.
  for (int attempt = 0; attempt < 3; ++attempt) {
    dv.path_or_inline_dv = Z85Encode(RandomUuidBytes());
    STRATA_ASSIGN_OR_RAISE(std::string path, DeletionVectorPath(dv));
    STRATA_ASSIGN_OR_RAISE(bool created, store.PutIfAbsent(path, file));
    if (created) return dv;
  }
  return Status::IOError("could not create a new deletion vector file in '", store.root(), "'");
}

}  // namespace strata::table
