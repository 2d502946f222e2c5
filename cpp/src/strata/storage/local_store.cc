#include "strata/storage/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

#include <arrow/buffer.h>
#include <arrow/filesystem/localfs.h>

namespace strata::storage {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  int e = errno;
  if (e == ENOENT) return NotFound(path);
  return Status::IOError(what, " '", path, "': ", std::strerror(e));
}

Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return Status::OK();
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return Errno("cannot create directory", cur);
  }
  return Status::OK();
}

std::string ParentOf(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == std::string::npos ? std::string() : p.substr(0, slash);
}

std::string TempName(const std::string& target) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  return ParentOf(target) + "/.strata-tmp-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter++) + "-" + std::to_string(rng() % 1000000007ULL);
}

Status WriteFileFully(const std::string& path, std::string_view data, bool sync) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", path);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = Errno("cannot write", path);
      ::close(fd);
      return st;
    }
    off += static_cast<size_t>(n);
  }
  if (sync && ::fdatasync(fd) != 0) {
    Status st = Errno("cannot sync", path);
    ::close(fd);
    return st;
  }
  if (::close(fd) != 0) return Errno("cannot close", path);
  return Status::OK();
}

ObjectInfo InfoFromStat(std::string rel, const struct stat& st) {
  ObjectInfo info;
  info.path = std::move(rel);
  info.size = st.st_size;
  info.mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  return info;
}

class LocalStore final : public ObjectStore {
 public:
  explicit LocalStore(std::string root)
      : root_(std::move(root)), fs_(std::make_shared<arrow::fs::LocalFileSystem>()) {}

  const std::string& root() const override { return root_; }

  Result<std::shared_ptr<arrow::Buffer>> Read(const std::string& path) override {
    std::string full = Full(path);
    int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("cannot open", full);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = Errno("cannot stat", full);
      ::close(fd);
      return s;
    }
    auto maybe = arrow::AllocateResizableBuffer(st.st_size);
    if (!maybe.ok()) {
      ::close(fd);
      return maybe.status();
    }
    std::shared_ptr<arrow::ResizableBuffer> buf = std::move(*maybe);
    int64_t off = 0;
    while (off < st.st_size) {
      ssize_t n = ::pread(fd, buf->mutable_data() + off, st.st_size - off, off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        Status s = Errno("cannot read", full);
        ::close(fd);
        return s;
      }
      if (n == 0) break;  // file shrank under us: return what is there
      off += n;
    }
    ::close(fd);
    ARROW_RETURN_NOT_OK(buf->Resize(off));
    return std::shared_ptr<arrow::Buffer>(std::move(buf));
  }

  Status Write(const std::string& path, std::string_view data) override {
    std::string full = Full(path);
    ARROW_RETURN_NOT_OK(MakeDirs(ParentOf(full)));
    std::string tmp = TempName(full);
    ARROW_RETURN_NOT_OK(WriteFileFully(tmp, data, /*sync=*/false));
    if (::rename(tmp.c_str(), full.c_str()) != 0) {
      Status s = Errno("cannot rename into", full);
      ::unlink(tmp.c_str());
      return s;
    }
    return Status::OK();
  }

  Result<bool> PutIfAbsent(const std::string& path, std::string_view data) override {
    std::string full = Full(path);
    ARROW_RETURN_NOT_OK(MakeDirs(ParentOf(full)));
    std::string tmp = TempName(full);
    // The commit must be complete and durable before it becomes visible under its name.
    ARROW_RETURN_NOT_OK(WriteFileFully(tmp, data, /*sync=*/true));
    int rc = ::link(tmp.c_str(), full.c_str());
    int err = errno;
    ::unlink(tmp.c_str());
    if (rc == 0) return true;
    if (err == EEXIST) return false;
    errno = err;
    return Errno("cannot link commit file", full);
  }

  Result<std::vector<ObjectInfo>> List(const std::string& dir) override {
    std::vector<ObjectInfo> out;
    ARROW_RETURN_NOT_OK(ListInto(dir, /*recursive=*/false, &out));
    return out;
  }

  Result<std::vector<ObjectInfo>> ListNames(const std::string& dir) override {
    std::string full = Full(dir);
    DIR* d = ::opendir(full.c_str());
    if (d == nullptr) {
      if (errno == ENOENT || errno == ENOTDIR) return std::vector<ObjectInfo>{};
      return Errno("cannot list", full);
    }
    std::vector<ObjectInfo> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == ".." || e->d_type == DT_DIR) continue;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st;
        if (::stat((full + "/" + name).c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
      }
      ObjectInfo info;
      info.path = dir.empty() ? name : dir + "/" + name;
      info.size = info.mtime_ms = -1;
      out.push_back(std::move(info));
    }
    ::closedir(d);
    return out;
  }

  Result<std::vector<ObjectInfo>> ListRecursive(const std::string& dir) override {
    std::vector<ObjectInfo> out;
    ARROW_RETURN_NOT_OK(ListInto(dir, /*recursive=*/true, &out));
    return out;
  }

  Result<std::optional<ObjectInfo>> Head(const std::string& path) override {
    struct stat st;
    std::string full = Full(path);
    if (::stat(full.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
      return Errno("cannot stat", full);
    }
    return InfoFromStat(path, st);
  }

  Status Delete(const std::string& path) override {
    std::string full = Full(path);
    if (::unlink(full.c_str()) != 0 && errno != ENOENT) return Errno("cannot delete", full);
    return Status::OK();
  }

  std::shared_ptr<arrow::fs::FileSystem> filesystem() const override { return fs_; }
  std::string FsPath(const std::string& rel) const override { return Full(rel); }

  Result<std::shared_ptr<ObjectStore>> OpenChild(const std::string& rel) const override {
    ARROW_RETURN_NOT_OK(CheckChildPath(rel));
    return std::shared_ptr<ObjectStore>(std::make_shared<LocalStore>(Full(rel)));
  }

 private:
  std::string Full(const std::string& rel) const {
    if (rel.empty()) return root_;
    return root_ + "/" + rel;
  }

  Status ListInto(const std::string& dir, bool recursive, std::vector<ObjectInfo>* out) {
    std::string full = Full(dir);
    DIR* d = ::opendir(full.c_str());
    if (d == nullptr) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::OK();
      return Errno("cannot list", full);
    }
    std::vector<std::string> subdirs;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string rel = dir.empty() ? name : dir + "/" + name;
      struct stat st;
      if (::stat((full + "/" + name).c_str(), &st) != 0) continue;  // raced with a delete
      if (S_ISDIR(st.st_mode)) {
        if (recursive) subdirs.push_back(rel);
        continue;
      }
      out->push_back(InfoFromStat(std::move(rel), st));
    }
    ::closedir(d);
    for (const auto& sub : subdirs) ARROW_RETURN_NOT_OK(ListInto(sub, true, out));
    return Status::OK();
  }

  std::string root_;
  std::shared_ptr<arrow::fs::FileSystem> fs_;
};

}  // namespace

Result<std::shared_ptr<ObjectStore>> MakeLocalStore(const std::string& root_dir) {
  std::string root = root_dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root.empty()) return Status::Invalid("empty table path");
  if (root[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd)) == nullptr) return Status::IOError("getcwd failed");
    root = std::string(cwd) + "/" + root;
  }
  return std::shared_ptr<ObjectStore>(std::make_shared<LocalStore>(std::move(root)));
}

}  // namespace strata::storage
