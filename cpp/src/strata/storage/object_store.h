/// \file
/// ObjectStore: all access to a table's files goes through this interface (the log, checkpoints,
/// deletion vectors), so local disk, S3 and a fault-injecting wrapper are interchangeable.
/// Data files are read and written through the Arrow FileSystem the store exposes.
/// Knows nothing of Delta, tables or Arrow data.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/filesystem/type_fwd.h>
#include <arrow/type_fwd.h>

#include "strata/common/status.h"

namespace strata::storage {

/// One object (file) below the store's root.
struct ObjectInfo {
  std::string path;        ///< relative to the store's root, '/'-separated
  int64_t size = 0;        ///< bytes (-1: not fetched, see ListNames)
  int64_t mtime_ms = 0;    ///< last modification, milliseconds since the epoch (-1: not fetched)
};

/// A flat namespace of immutable-ish objects below one root (a table's directory).
/// Paths are relative to the root and use '/'. Thread-safe: implementations hold no mutable
/// state that is not internally synchronized.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  /// The root as a URI or absolute path (for messages and for Arrow FileSystem paths).
  virtual const std::string& root() const = 0;

  /// The whole object; a missing object is an error for which IsNotFound() is true.
  virtual Result<std::shared_ptr<arrow::Buffer>> Read(const std::string& path) = 0;

  /// Creates or replaces the object. Readers never see a partial object.
  virtual Status Write(const std::string& path, std::string_view data) = 0;

  /// Creates the object only if it does not exist, atomically. Returns false when it existed
  /// (nothing written). This is the Delta commit primitive.
  virtual Result<bool> PutIfAbsent(const std::string& path, std::string_view data) = 0;

  /// Objects directly inside `dir` ("" for the root), not recursive, in no particular order.
  /// A missing directory lists as empty.
  virtual Result<std::vector<ObjectInfo>> List(const std::string& dir) = 0;

  /// Like List, but size and mtime may be left at -1 when learning them costs extra requests
  /// (a local listing then needs no stat() per entry).
  virtual Result<std::vector<ObjectInfo>> ListNames(const std::string& dir) { return List(dir); }

  /// Objects below `dir` at any depth.
  virtual Result<std::vector<ObjectInfo>> ListRecursive(const std::string& dir) = 0;

  /// Metadata of one object, or nullopt when it does not exist.
  virtual Result<std::optional<ObjectInfo>> Head(const std::string& path) = 0;

  /// Removes the object; removing a missing object is not an error.
  virtual Status Delete(const std::string& path) = 0;

  /// The Arrow filesystem for bulk data I/O, and the path of `rel` inside it.
  virtual std::shared_ptr<arrow::fs::FileSystem> filesystem() const = 0;
  virtual std::string FsPath(const std::string& rel) const = 0;

  /// A store rooted at `rel` (a relative '/'-separated path, no "." or ".." segments) below this
  /// one, reached the same way: on S3 the same endpoint, region and credentials, whether they
  /// came from options or the environment. Tables kept inside a table's directory (a contract's
  /// quarantine and results) open through it, so they need nothing the table did not.
  virtual Result<std::shared_ptr<ObjectStore>> OpenChild(const std::string& rel) const = 0;
};

/// Checks a path given to OpenChild: relative, non-empty segments, no "." or "..".
Status CheckChildPath(const std::string& rel);

/// True for the status a store returns when an object does not exist.
bool IsNotFound(const Status& st);
Status NotFound(const std::string& what);

/// Opens the store for a location: a local path, a file:// URI, or s3://bucket/prefix (credentials,
/// region and endpoint from the standard AWS environment variables).
Result<std::shared_ptr<ObjectStore>> OpenStore(const std::string& location);

/// Forwards every call to a target store; subclasses override only what they change.
class ObjectStoreWrapper : public ObjectStore {
 public:
  explicit ObjectStoreWrapper(std::shared_ptr<ObjectStore> target) : target_(std::move(target)) {}
  const std::string& root() const override { return target_->root(); }
  Result<std::shared_ptr<arrow::Buffer>> Read(const std::string& p) override { return target_->Read(p); }
  Status Write(const std::string& p, std::string_view d) override { return target_->Write(p, d); }
  Result<bool> PutIfAbsent(const std::string& p, std::string_view d) override {
    return target_->PutIfAbsent(p, d);
  }
  Result<std::vector<ObjectInfo>> List(const std::string& d) override { return target_->List(d); }
  Result<std::vector<ObjectInfo>> ListNames(const std::string& d) override { return target_->ListNames(d); }
  Result<std::vector<ObjectInfo>> ListRecursive(const std::string& d) override {
    return target_->ListRecursive(d);
  }
  Result<std::optional<ObjectInfo>> Head(const std::string& p) override { return target_->Head(p); }
  Status Delete(const std::string& p) override { return target_->Delete(p); }
  std::shared_ptr<arrow::fs::FileSystem> filesystem() const override { return target_->filesystem(); }
  std::string FsPath(const std::string& rel) const override { return target_->FsPath(rel); }
  /// The child is opened by the target: it does not go through this wrapper.
  Result<std::shared_ptr<ObjectStore>> OpenChild(const std::string& rel) const override {
    return target_->OpenChild(rel);
  }

 protected:
  std::shared_ptr<ObjectStore> target_;
};

}  // namespace strata::storage
