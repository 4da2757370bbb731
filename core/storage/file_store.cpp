#include "storage/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <vector>

#include "common/error.h"

namespace cdw {

namespace {

[[noreturn]] void ThrowIo(const std::string &action, const std::string &path, int err) {
  const char *state = (err == ENOENT)                   ? sqlstate::kUndefinedFile
                      : (err == EACCES || err == EPERM) ? sqlstate::kInsufficientPrivilege
                                                        : sqlstate::kIoError;
  std::string hint;
  if (err == EACCES || err == EPERM)
    hint = "Make the directory writable by the operating-system user that runs PostgreSQL.";
  else if (err == ENOSPC)
    hint = "Free space on the target file system or choose another location.";
  throw Error(state, "could not " + action + " \"" + path + "\": " + std::strerror(err), {}, hint);
}

[[noreturn]] void ThrowSymlink(const std::string &path) {
  throw Error(sqlstate::kInsufficientPrivilege,
              "refusing to follow symbolic link \"" + path + "\" in a file:// target",
              "cdw_backup reads and writes only plain files and directories below a target's "
              "directory, so that no link can steer a backup or a restore elsewhere.",
              "Remove the link, or point the target's location at the real directory.");
}

void FsyncPath(const std::string &path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) ThrowIo("open", path, errno);
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ThrowIo("fsync", path, err);
  }
  ::close(fd);
}

// SetDeferredFileSync: the files and directories still to fsync.
struct DeferredSyncs {
  std::mutex mutex;
  bool on = false;
  std::vector<std::string> files;
  std::set<std::string> directories;
};

DeferredSyncs &Deferred() {
  static DeferredSyncs deferred;
  return deferred;
}

// fsync, but a path removed since (a part rolled back) is not an error.
void FsyncIfExists(const std::string &path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) {
    if (errno == ENOENT) return;
    ThrowIo("open", path, errno);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ThrowIo("fsync", path, err);
  }
  ::close(fd);
}

// mkdir -p; directories are created with 0700 like PostgreSQL's own.
void MakeDirectories(const std::string &path) {
  // Most often the parents exist (a table's directory in its database's):
  // one mkdir instead of one per component.
  if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return;
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST)
      ThrowIo("create directory", partial, errno);
  }
}

std::string ParentOf(const std::string &path) {
  auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

class FileWriter : public ObjectWriter {
 public:
  FileWriter(std::string final_path, std::string temp_path, bool deferred)
      : final_path_(std::move(final_path)), temp_path_(std::move(temp_path)), deferred_(deferred) {
    MakeDirectories(ParentOf(final_path_));
    struct stat st;
    if (::lstat(final_path_.c_str(), &st) == 0)
      throw Error(sqlstate::kIoError, "backup object \"" + final_path_ + "\" already exists",
                  "Backups never overwrite existing objects.",
                  "Write to a new path or remove the old object first.");
    // O_EXCL: never through a symbolic link planted under the temporary name.
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0) ThrowIo("create file", temp_path_, errno);
  }
  ~FileWriter() override { Abort(); }

  void Write(const char *data, size_t len) override {
    while (len > 0) {
      ssize_t n = ::write(fd_, data, len);
      if (n < 0) {
        if (errno == EINTR) continue;
        ThrowIo("write to file", temp_path_, errno);
      }
      data += n;
      len -= static_cast<size_t>(n);
      written_ += static_cast<uint64_t>(n);
    }
    // Start writeback of what is written so far, without waiting for it, so
    // the fsync at the end has little left to do instead of the whole file.
    // Then drop the chunk before it, written back by now, from the page
    // cache: a backup should not push the database's working set out of
    // memory, and a writer that recycles its own pages does not pay for
    // fresh ones (on the VMs we measured, first-touch page-cache pages cost
    // up to a third of a backup's CPU). Both calls are advice: errors are
    // ignored, and the fsync at the end is what makes the part durable.
    if (written_ - flushed_ >= kWritebackChunk) {
#ifdef SYNC_FILE_RANGE_WRITE
      ::sync_file_range(fd_, static_cast<off_t>(flushed_), static_cast<off_t>(written_ - flushed_),
                        SYNC_FILE_RANGE_WRITE);
      if (flushed_ > dropped_ &&
          ::sync_file_range(
              fd_, static_cast<off_t>(dropped_), static_cast<off_t>(flushed_ - dropped_),
              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) ==
              0) {
#ifdef POSIX_FADV_DONTNEED
        ::posix_fadvise(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(flushed_ - dropped_),
                        POSIX_FADV_DONTNEED);
#endif
        dropped_ = flushed_;
      }
#endif
      flushed_ = written_;
    }
  }
  void Finish() override {
    if (deferred_) return;  // SyncDeferredFiles()
    if (::fsync(fd_) != 0) ThrowIo("fsync file", temp_path_, errno);
  }
  void Commit() override {
    if (::close(fd_) != 0) {
      fd_ = -1;
      ThrowIo("close file", temp_path_, errno);
    }
    fd_ = -1;
    // link() instead of rename(): it fails rather than replacing an object
    // that appeared under the final name since we checked.
    if (::link(temp_path_.c_str(), final_path_.c_str()) != 0)
      ThrowIo("rename file", temp_path_, errno);
    ::unlink(temp_path_.c_str());
    committed_ = true;
    if (deferred_) {
      // The file, its directory and the directory above (a table's
      // directory is new in its database's).
      DeferredSyncs &d = Deferred();
      std::lock_guard<std::mutex> guard(d.mutex);
      d.files.push_back(final_path_);
      std::string parent = ParentOf(final_path_);
      d.directories.insert(ParentOf(parent));
      d.directories.insert(std::move(parent));
      return;
    }
    FsyncPath(ParentOf(final_path_), true);
  }
  void Abort() noexcept override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!committed_) ::unlink(temp_path_.c_str());
  }

 private:
  static constexpr uint64_t kWritebackChunk = 8 << 20;

  std::string final_path_;
  std::string temp_path_;
  bool deferred_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
  uint64_t flushed_ = 0;  // writeback started up to here
  uint64_t dropped_ = 0;  // written back and dropped from the page cache up to here
};

class FileReader : public ByteSource {
 public:
  explicit FileReader(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd_ < 0 && errno == ELOOP) ThrowSymlink(path_);
    if (fd_ < 0) ThrowIo("open file", path_, errno);
#ifdef POSIX_FADV_SEQUENTIAL
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  }
  ~FileReader() override {
    if (fd_ >= 0) ::close(fd_);
  }
  size_t Read(char *buffer, size_t capacity) override {
    for (;;) {
      ssize_t n = ::read(fd_, buffer, capacity);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) ThrowIo("read file", path_, errno);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

void CheckRelativeKey(const std::string &key, const char *what) {
  auto reject = [&](const std::string &why) {
    throw Error(
        sqlstate::kFdwInvalidOptionValue, std::string("invalid ") + what + " \"" + key + "\"", why,
        "Use a relative path such as '20261124/sales/public.orders/' without \".\" or \"..\".");
  };
  if (key.empty()) reject("The path is empty.");
  if (key[0] == '/') reject("The path must be relative to the location.");
  if (key.find('\0') != std::string::npos) reject("The path contains a zero byte.");
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string component = key.substr(start, end - start);
    if (component == "..") reject("The path must not contain \"..\" components.");
    if (component == ".") reject("The path must not contain \".\" components.");
    if (component.empty() && end != key.size())
      reject("The path must not contain empty components.");
    if (component.rfind(FileStore::kTemporaryPrefix, 0) == 0)
      reject("Path components starting with \".tmp-\" are reserved for files being written.");
    start = end + 1;
  }
}

FileStore::FileStore(std::string root_directory) : root_(std::move(root_directory)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string FileStore::ParseRoot(const std::string &location) {
  static const std::string kScheme = "file://";
  const char *hint = "Use an absolute path, e.g. file:///var/backups/pg.";
  if (location.rfind(kScheme, 0) != 0)
    throw Error(sqlstate::kFdwInvalidOptionValue, "invalid file location \"" + location + "\"",
                "A file location starts with file://.", hint);
  std::string rest = location.substr(kScheme.size());
  if (rest.rfind("localhost/", 0) == 0) rest = rest.substr(strlen("localhost"));
  if (rest.empty() || rest[0] != '/')
    throw Error(sqlstate::kFdwInvalidOptionValue, "invalid file location \"" + location + "\"",
                "The path of a file:// location must be absolute (three slashes: file:///dir).",
                hint);
  std::string relative = rest.substr(1);
  while (!relative.empty() && relative.back() == '/') relative.pop_back();
  if (!relative.empty()) {
    try {
      CheckRelativeKey(relative, "location path");
    } catch (const Error &e) {
      throw Error(sqlstate::kFdwInvalidOptionValue, "invalid file location \"" + location + "\"",
                  e.detail(), hint);
    }
  }
  return "/" + relative;
}

std::string FileStore::PathOf(const std::string &key) const {
  CheckRelativeKey(key, "object key");
  std::string path = (root_ == "/" ? "" : root_) + "/" + key;
  // No component below the root may be a symbolic link (the root itself
  // may: it is the administrator's choice). Components that do not exist
  // yet end the check; directories are created as real ones.
  for (size_t slash = root_.size() == 1 ? 0 : root_.size(); slash != std::string::npos;) {
    size_t next = path.find('/', slash + 1);
    std::string partial = path.substr(0, next);
    struct stat st;
    if (::lstat(partial.c_str(), &st) != 0) break;
    if (S_ISLNK(st.st_mode)) ThrowSymlink(partial);
    slash = next;
  }
  return path;
}

std::unique_ptr<ObjectWriter> FileStore::Create(const std::string &key, ObjectKind kind) {
  std::string final_path = PathOf(key);
  auto slash = final_path.rfind('/');
  std::string temp_path =
      final_path.substr(0, slash + 1) + kTemporaryPrefix + final_path.substr(slash + 1);
  bool deferred = false;
  if (kind == ObjectKind::kData) {
    DeferredSyncs &d = Deferred();
    std::lock_guard<std::mutex> guard(d.mutex);
    deferred = d.on;
  }
  return std::make_unique<FileWriter>(final_path, temp_path, deferred);
}

void SetDeferredFileSync(bool on) {
  DeferredSyncs &d = Deferred();
  std::lock_guard<std::mutex> guard(d.mutex);
  d.on = on;
}

void SyncDeferredFiles() {
  DeferredSyncs &d = Deferred();
  std::vector<std::string> files;
  std::set<std::string> directories;
  {
    std::lock_guard<std::mutex> guard(d.mutex);
    files.swap(d.files);
    directories.swap(d.directories);
  }
  for (const auto &file : files) FsyncIfExists(file, false);
  for (const auto &directory : directories) FsyncIfExists(directory, true);
}

std::unique_ptr<ByteSource> FileStore::Open(const std::string &key) {
  return std::make_unique<FileReader>(PathOf(key));
}

std::vector<ObjectInfo> FileStore::List(const std::string &prefix) {
  std::vector<ObjectInfo> result;
  // Start at the deepest directory named by the prefix, then filter by the
  // full prefix string (S3 semantics: "a/b" matches "a/bc/d").
  std::string dir_part =
      prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/'));
  std::string start = dir_part.empty() ? root_ : PathOf(dir_part);
  std::function<void(const std::string &, const std::string &)> walk =
      [&](const std::string &path, const std::string &key_prefix) {
        CheckInterrupts();
        DIR *dir = ::opendir(path.c_str());
        if (!dir) {
          if (errno == ENOENT || errno == ENOTDIR) return;
          ThrowIo("open directory", path, errno);
        }
        std::vector<std::string> names;
        while (struct dirent *entry = ::readdir(dir)) {
          std::string name = entry->d_name;
          if (name == "." || name == ".." || name.rfind(kTemporaryPrefix, 0) == 0) continue;
          names.push_back(name);
        }
        ::closedir(dir);
        for (const auto &name : names) {
          std::string child = path + "/" + name;
          std::string key = key_prefix.empty() ? name : key_prefix + "/" + name;
          struct stat st;
          // lstat: symbolic links are neither followed nor listed.
          if (::lstat(child.c_str(), &st) != 0) continue;  // removed meanwhile
          if (S_ISDIR(st.st_mode)) {
            if (key.compare(0, std::min(key.size(), prefix.size()), prefix, 0,
                            std::min(key.size(), prefix.size())) == 0)
              walk(child, key);
          } else if (S_ISREG(st.st_mode) && key.rfind(prefix, 0) == 0) {
            result.push_back({key, static_cast<uint64_t>(st.st_size)});
          }
        }
      };
  walk(start, dir_part);
  std::sort(result.begin(), result.end(),
            [](const ObjectInfo &a, const ObjectInfo &b) { return a.key < b.key; });
  return result;
}

void FileStore::Remove(const std::string &key) {
  std::string path = PathOf(key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) ThrowIo("remove file", path, errno);
  // Remove directories the object leaves empty (expired runs leave no
  // skeleton behind); rmdir fails harmlessly on the first non-empty one.
  for (std::string dir = ParentOf(path); dir.size() > root_.size(); dir = ParentOf(dir))
    if (::rmdir(dir.c_str()) != 0) break;
}

size_t FileStore::DiscardIncomplete(const std::string &prefix) {
  std::string start =
      prefix.empty() ? root_
                     : PathOf(prefix.back() == '/' ? prefix.substr(0, prefix.size() - 1) : prefix);
  size_t removed = 0;
  std::function<void(const std::string &)> walk = [&](const std::string &path) {
    CheckInterrupts();
    DIR *dir = ::opendir(path.c_str());
    if (!dir) return;  // nothing there (or not a directory)
    std::vector<std::string> names;
    while (struct dirent *entry = ::readdir(dir)) names.push_back(entry->d_name);
    ::closedir(dir);
    for (const auto &name : names) {
      if (name == "." || name == "..") continue;
      std::string child = path + "/" + name;
      struct stat st;
      if (::lstat(child.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        walk(child);
      } else if (name.rfind(kTemporaryPrefix, 0) == 0 && ::unlink(child.c_str()) == 0) {
        removed++;
      }
    }
  };
  walk(start);
  return removed;
}

std::string FileStore::Url(const std::string &key) const {
  return "file://" + (root_ == "/" ? std::string() : root_) + "/" + key;
}

}  // namespace cdw
