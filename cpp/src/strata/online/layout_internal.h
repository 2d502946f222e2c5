/// \file
/// Not public. What the store implementations share: varints, the key layout of rows and
/// metadata, batch validation and encoding, and turning stored bytes into a ReadResult.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strata/online/online_store.h"

namespace strata::online::internal {

/// Key tags: rows and metadata.
constexpr char kRowTag = 'v';
constexpr char kMetaTag = 'm';

void PutVarint(uint64_t v, std::string* out);
/// The multi-byte case of GetVarint.
bool GetVarintSlow(std::string_view* in, uint64_t* v);
/// Reads a varint from the front of `in` and advances it; false on truncated, overlong or
/// non-minimal input. Inline: the read path decodes several per feature.
inline bool GetVarint(std::string_view* in, uint64_t* v) {
  if (!in->empty() && static_cast<uint8_t>((*in)[0]) < 0x80) {
    *v = static_cast<uint8_t>((*in)[0]);
    in->remove_prefix(1);
    return true;
  }
  return GetVarintSlow(in, v);
}
/// Reads a varint length and that many bytes; false when `in` is too short.
inline bool GetLengthPrefixed(std::string_view* in, std::string_view* out) {
  std::string_view rest = *in;
  uint64_t n;
  if (!GetVarint(&rest, &n) || n > rest.size()) return false;
  *out = rest.substr(0, n);
  rest.remove_prefix(n);
  *in = rest;
  return true;
}

/// tag varint(len(view)) view: a prefix-free code, so one view's keys never share the prefix
/// of another view's.
void AppendViewPrefix(char tag, std::string_view view, std::string* out);
std::string RowKey(std::string_view view, std::string_view entity_key);
std::string MetaKey(std::string_view view, std::string_view name);

/// Errors (kInvalidArgument) on an empty view name.
Status CheckView(std::string_view view);

/// Validates `batch` and appends, per row, its store key (key_prefix + RowKey) and its
/// encoded row. Nothing is appended when the batch is invalid.
Status EncodeBatch(std::string_view key_prefix, std::string_view view, const RowBatch& batch,
                   std::vector<std::string>* keys, std::vector<std::string>* rows);

/// An all-NOT_FOUND result of the right shape.
ReadResult EmptyResult(size_t num_keys, size_t num_features);
/// `options.now_micros` or the system clock.
int64_t NowMicros(const ReadOptions& options);

/// Fills entry `i` of `result` from the stored row bytes of `entity_key`.
Status FillFromRow(std::string_view view, std::string_view entity_key, std::string_view row,
                   size_t i, FeatureSelector* features, const ReadOptions& options, int64_t now,
                   ReadResult* result);

/// When `features` names a feature more than once, copies each decoded value to every slot
/// naming it (DecodeRowFeatures fills one). Cheap when there are no duplicates.
void SpreadDuplicateFeatures(std::span<const std::string> features, ReadResult* result);

/// Printable form of bytes for error messages (hex, truncated).
std::string Printable(std::string_view bytes);

Status ClosedError(std::string_view kind);

}  // namespace strata::online::internal
