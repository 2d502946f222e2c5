/// \file
/// Small hashing helpers shared by the hash joins (MERGE, the point-in-time join).
#pragma once

#include <cstdint>

namespace strata {

/// The splitmix64 finalizer: a fast, well-mixing 64-bit permutation, so that integer keys (and
/// std::hash values, which are the identity for integers) spread over every bit.
inline uint64_t MixHash(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace strata
