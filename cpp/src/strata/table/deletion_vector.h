/// \file
/// Deletion vectors (PROTOCOL.md "Deletion Vectors", "Deletion Vector Format"): the descriptor
/// carried by add/remove actions, Z85, and reading/writing the RoaringBitmapArray bytes, inline or
/// in `.bin` files. Knows the object store, not snapshots or scans.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "strata/common/status.h"

namespace roaring {
class Roaring64Map;
}

// Debian 12's libroaring-dev (CRoaring 0.2.66) declares Roaring64Map in the global namespace;
// CRoaring >= 0.3 declares roaring::Roaring64Map itself (then define STRATA_ROARING_NAMESPACED).
// This shim gives the API one spelling. It adds no state, so slicing to ::Roaring64Map is safe.
#ifndef STRATA_ROARING_NAMESPACED
#include <roaring/roaring64map.hh>
namespace roaring {
class Roaring64Map : public ::Roaring64Map {
 public:
  using ::Roaring64Map::Roaring64Map;
  Roaring64Map() = default;
  Roaring64Map(const ::Roaring64Map& other) : ::Roaring64Map(other) {}  // NOLINT: implicit on purpose
};
}  // namespace roaring
#endif

namespace strata::storage {
class ObjectStore;
}

namespace strata::table {

/// PROTOCOL.md "Deletion Vector Descriptor Schema".
struct DeletionVectorDescriptor {
  std::string storage_type;          ///< "u" (relative, UUID), "i" (inline), "p" (absolute path)
  std::string path_or_inline_dv;
  std::optional<int32_t> offset;     ///< start of the vector inside a shared file ('u'/'p')
  int32_t size_in_bytes = 0;
  int64_t cardinality = 0;

  /// `storage_type + path_or_inline_dv` (+ "@" + offset when present): with the data file's
  /// path it identifies a logical file (PROTOCOL.md "Derived Fields").
  std::string UniqueId() const;
  bool operator==(const DeletionVectorDescriptor&) const = default;
};

/// Z85 (ZeroMQ RFC 32). Encode takes a multiple of 4 bytes (other lengths are zero-padded to
/// one, as Delta does for inline vectors); Decode a multiple of 5 chars, and fails (kInvalidArgument)
/// on a wrong length, a character outside the alphabet or a group above 2^32-1.
std::string Z85Encode(std::string_view bytes);
Result<std::string> Z85Decode(std::string_view text);

/// Where an on-disk vector lives, relative to the table root for 'u' ("<prefix>/deletion_vector_<uuid>.bin"),
/// the absolute path/URI for 'p'. Invalid for 'i'.
Result<std::string> DeletionVectorPath(const DeletionVectorDescriptor& dv);

/// Reads the deleted row indexes. `store` is rooted at the table directory; 'p' paths are opened
/// through it when they point inside the table root, otherwise through the local filesystem.
/// Checks the magic number, the size and (for files) the version byte and CRC-32, and that the
/// row count equals `cardinality`; errors are kCorruptLog naming the vector's path (a missing file
/// too). Other I/O errors pass through with the path as context; a 'p' path on a filesystem other
/// than the store's and not local is kUnsupportedFeature. An absent `offset` reads as 0.
Result<std::shared_ptr<roaring::Roaring64Map>> LoadDeletionVector(const DeletionVectorDescriptor& dv,
                                                                  storage::ObjectStore& store);

/// The "RoaringBitmapArray" bytes (magic + portable 64-bit roaring), as stored inline or in a file.
/// Serialize run-optimizes and drops empty buckets (so a set gives the bytes Delta/Spark writes).
/// REQUIRES: every value < 2^63 (PROTOCOL.md: bucket keys have a 0 most significant bit);
/// WriteDeletionVector checks this. Deserialize validates every byte before CRoaring sees it and
/// fails with kCorruptLog (never crashes) on malformed input.
std::string SerializeBitmap(const roaring::Roaring64Map& rows);
Result<std::shared_ptr<roaring::Roaring64Map>> DeserializeBitmap(std::string_view bytes);

/// Writes one vector to a new file `deletion_vector_<uuid>.bin` (random prefix directory empty)
/// in the table root, and returns its 'u' descriptor (offset 1, size, cardinality).
/// Vectors small enough (<= `inline_threshold` bytes serialized) are returned inline ('i') instead.
Result<DeletionVectorDescriptor> WriteDeletionVector(const roaring::Roaring64Map& rows,
                                                     storage::ObjectStore& store,
                                                     int32_t inline_threshold = 0);

}  // namespace strata::table
