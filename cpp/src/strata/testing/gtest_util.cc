#include "strata/testing/gtest_util.h"

#include <cstdlib>
#include <filesystem>

namespace strata::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "strata-test-XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  if (p == nullptr) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string SourceDir() {
  const char* env = std::getenv("STRATA_SOURCE_DIR");
  return env ? env : ".";
}

std::string SharedDeltaTables() {
  fs::path p = fs::path(SourceDir()) / ".." / "shared" / "testdata" / "delta-tables";
  std::error_code ec;
  if (fs::is_directory(p, ec)) return fs::canonical(p).string();
  return "";
}

void CopyTree(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

}  // namespace strata::testing
