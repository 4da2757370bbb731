#include "storage/throttled_store.h"

namespace cdw {

namespace {

class ThrottledWriter : public ObjectWriter {
 public:
  ThrottledWriter(std::unique_ptr<ObjectWriter> inner, std::shared_ptr<RateLimiter> limiter)
      : inner_(std::move(inner)), limiter_(std::move(limiter)) {}

  void Write(const char *data, size_t len) override {
    limiter_->Acquire(len);
    inner_->Write(data, len);
  }
  void Finish() override { inner_->Finish(); }
  void Commit() override { inner_->Commit(); }
  std::unique_ptr<PendingCommit> CommitInBackground() override {
    return inner_->CommitInBackground();
  }
  void Abort() noexcept override { inner_->Abort(); }

 private:
  std::unique_ptr<ObjectWriter> inner_;
  std::shared_ptr<RateLimiter> limiter_;
};

class ThrottledSource : public ByteSource {
 public:
  ThrottledSource(std::unique_ptr<ByteSource> inner, std::shared_ptr<RateLimiter> limiter)
      : inner_(std::move(inner)), limiter_(std::move(limiter)) {}

  size_t Read(char *buffer, size_t capacity) override {
    size_t n = inner_->Read(buffer, capacity);
    limiter_->Acquire(n);
    return n;
  }

 private:
  std::unique_ptr<ByteSource> inner_;
  std::shared_ptr<RateLimiter> limiter_;
};

class ThrottledStore : public ObjectStore {
 public:
  ThrottledStore(std::unique_ptr<ObjectStore> inner, RateBucket *bucket, InterruptCheck interrupted)
      : inner_(std::move(inner)),
        limiter_(std::make_shared<RateLimiter>(bucket, std::move(interrupted))) {}

  std::unique_ptr<ObjectWriter> Create(const std::string &key,
                                       ObjectKind kind = ObjectKind::kData) override {
    return std::make_unique<ThrottledWriter>(inner_->Create(key, kind), limiter_);
  }
  std::unique_ptr<ByteSource> Open(const std::string &key) override {
    return std::make_unique<ThrottledSource>(inner_->Open(key), limiter_);
  }
  std::vector<ObjectInfo> List(const std::string &prefix) override { return inner_->List(prefix); }
  void Remove(const std::string &key) override { inner_->Remove(key); }
  void RemoveQuickly(const std::string &key) override { inner_->RemoveQuickly(key); }
  void ReleaseConnections() noexcept override { inner_->ReleaseConnections(); }
  size_t DiscardIncomplete(const std::string &prefix) override {
    return inner_->DiscardIncomplete(prefix);
  }
  std::string Url(const std::string &key) const override { return inner_->Url(key); }
  // The inner store makes the requests, so it is the one that must poll:
  // a run index written under a deadline after a cancel (bgworker/run/
  // run_index.cpp) otherwise waited out the store's 120 s timeouts.
  void SetInterruptCheck(InterruptCheck check) override {
    inner_->SetInterruptCheck(check);
    ObjectStore::SetInterruptCheck(std::move(check));
  }
  ArchiveState Archive(const std::string &key, std::string *storage_class = nullptr) override {
    return inner_->Archive(key, storage_class);
  }
  ArchiveState RequestThaw(const std::string &key, const ThawRequest &request) override {
    return inner_->RequestThaw(key, request);
  }

 private:
  std::unique_ptr<ObjectStore> inner_;
  // Shared with the writers and readers, which may outlive the store.
  std::shared_ptr<RateLimiter> limiter_;
};

}  // namespace

std::unique_ptr<ObjectStore> ThrottleStore(std::unique_ptr<ObjectStore> inner, RateBucket *bucket,
                                           InterruptCheck interrupted) {
  return std::make_unique<ThrottledStore>(std::move(inner), bucket, std::move(interrupted));
}

}  // namespace cdw
