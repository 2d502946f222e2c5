#include "strata/common/memory_pool.h"

#include <cstdlib>
#include <string>

#include <arrow/memory_pool.h>

namespace strata {

namespace {

arrow::MemoryPool* Choose() {
  const char* env = std::getenv("STRATA_MEMORY_POOL");
  std::string want = env != nullptr ? env : "jemalloc";
  arrow::MemoryPool* pool = nullptr;
  if (want == "jemalloc" && arrow::jemalloc_memory_pool(&pool).ok()) return pool;
  if (want == "mimalloc" && arrow::mimalloc_memory_pool(&pool).ok()) return pool;
  if (want == "system") return arrow::system_memory_pool();
  return arrow::default_memory_pool();
}

}  // namespace

arrow::MemoryPool* DataMemoryPool() {
  static arrow::MemoryPool* const pool = Choose();
  return pool;
}

}  // namespace strata
