/// \file
/// Test helpers shared by every component's GoogleTest binary.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "strata/common/status.h"

#define STRATA_CONCAT_INNER(a, b) a##b
#define STRATA_CONCAT(a, b) STRATA_CONCAT_INNER(a, b)

#define ASSERT_OK(expr)                                              \
  do {                                                               \
    ::arrow::Status _s = ::arrow::ToStatus(expr);                    \
    ASSERT_TRUE(_s.ok()) << #expr << " failed: " << _s.ToString();   \
  } while (0)

#define EXPECT_OK(expr)                                              \
  do {                                                               \
    ::arrow::Status _s = ::arrow::ToStatus(expr);                    \
    EXPECT_TRUE(_s.ok()) << #expr << " failed: " << _s.ToString();   \
  } while (0)

#define STRATA_ASSIGN_OR_ASSERT_IMPL(res, lhs, rexpr)                          \
  auto res = (rexpr);                                                          \
  ASSERT_TRUE(res.ok()) << #rexpr << " failed: " << res.status().ToString();   \
  lhs = std::move(res).ValueUnsafe();

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  STRATA_ASSIGN_OR_ASSERT_IMPL(STRATA_CONCAT(_res_, __COUNTER__), lhs, rexpr)

namespace strata::testing {

/// A fresh temporary directory, removed (recursively) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// The repository root (from STRATA_SOURCE_DIR, set by ctest).
std::string SourceDir();
/// `../shared/testdata/delta-tables` beside the repository; empty when absent.
std::string SharedDeltaTables();
/// Copies a directory tree (tests never write into shared test data).
void CopyTree(const std::string& from, const std::string& to);

}  // namespace strata::testing
