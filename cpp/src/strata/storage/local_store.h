#pragma once

#include "strata/storage/object_store.h"

namespace strata::storage {

/// A directory on a local (POSIX) filesystem. PutIfAbsent writes a temporary file, fsyncs it
/// and link()s it to the target name: link fails with EEXIST instead of replacing, which a plain
/// rename would do.
Result<std::shared_ptr<ObjectStore>> MakeLocalStore(const std::string& root_dir);

}  // namespace strata::storage
