#include "s3/s3_store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "common/error.h"
#include "s3/background_task.h"
#include "storage/file_store.h"

namespace cdw::s3 {

// Parts per size step: 10,000 parts make 11 full steps, so even 5 MiB parts
// reach S3's 5 TiB object limit (5 MiB * 900 * (2^11 - 1) + ... > 5 TiB).
constexpr int kPartsPerSize = 900;

uint64_t PartSizeFor(uint64_t base_part_size, int part_number) {
  uint64_t size = std::max(base_part_size, kMinPartSize);
  for (int doubling = (std::max(part_number, 1) - 1) / kPartsPerSize;
       doubling > 0 && size < kMaxPartSize; doubling--)
    size *= 2;
  return std::min(size, kMaxPartSize);
}

uint64_t MaxObjectSize(uint64_t base_part_size) {
  uint64_t total = 0;
  for (int part = 1; part <= kMaxParts; part++) total += PartSizeFor(base_part_size, part);
  return total;
}

// Aborting an upload runs during transaction abort, often right after a
// query cancel: it must not keep the user waiting more than ~1.5 s (two
// attempts of at most 650 ms; an abort over a kept-alive connection takes one
// round trip, well under that even across regions). An upload
// it cannot abort in that time is left to the bucket's lifecycle rule for
// incomplete multipart uploads (see README).
RetrySettings AbortRetrySettings() {
  RetrySettings settings;
  settings.max_attempts = 2;
  settings.max_total = std::chrono::milliseconds(1500);
  settings.base_delay = std::chrono::milliseconds(200);
  settings.max_delay = std::chrono::seconds(1);
  return settings;
}

namespace {

struct DeferredAbort {
  S3Location location;
  Credentials credentials;
  std::string key;
  std::string upload_id;
};
std::mutex g_deferred_mutex;
std::vector<DeferredAbort> g_deferred;

}  // namespace

void DeferAbort(const S3Location &location, const Credentials &credentials, const std::string &key,
                const std::string &upload_id) {
  try {
    std::lock_guard<std::mutex> lock(g_deferred_mutex);
    g_deferred.push_back({location, credentials, key, upload_id});
  } catch (...) {
    // Out of memory: the lifecycle rule remains.
  }
}

size_t RetryDeferredAborts(std::chrono::milliseconds budget, std::string *remaining_text) {
  std::vector<DeferredAbort> pending;
  {
    std::lock_guard<std::mutex> lock(g_deferred_mutex);
    pending.swap(g_deferred);
  }
  auto deadline = std::chrono::steady_clock::now() + budget;
  std::vector<DeferredAbort> remaining;
  for (auto &item : pending) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    bool done = false;
    if (left.count() > 0) {
      try {
        S3Client client(item.location, item.credentials);
        RetrySettings retry = AbortRetrySettings();
        retry.max_attempts = 100;
        retry.max_total = left;
        client.AbortMultipartUpload(
            item.key, item.upload_id, [] { return false; }, &retry);
        done = true;
      } catch (...) {
      }
    }
    if (!done) remaining.push_back(std::move(item));
  }
  std::lock_guard<std::mutex> lock(g_deferred_mutex);
  for (auto &item : remaining) g_deferred.push_back(std::move(item));
  if (remaining_text != nullptr) {
    try {
      remaining_text->clear();
      constexpr size_t kNamed = 5;
      for (size_t i = 0; i < g_deferred.size() && i < kNamed; ++i) {
        if (i > 0) *remaining_text += "; ";
        *remaining_text += g_deferred[i].location.DisplayUrl(g_deferred[i].key) + " (upload id " +
                           g_deferred[i].upload_id + ")";
      }
      if (g_deferred.size() > kNamed)
        *remaining_text += "; and " + std::to_string(g_deferred.size() - kNamed) + " more";
    } catch (...) {
      remaining_text->clear();
    }
  }
  return g_deferred.size();
}

namespace {

void ReleaseBuffer(std::string *buffer) {
  std::string().swap(*buffer);
}

// A single PUT on a thread of its own (S3Writer::CommitInBackground): it
// owns the object's bytes and a connection of its own.
class BackgroundPut : public PendingCommit {
 public:
  BackgroundPut(std::unique_ptr<S3Client> client, std::string key, std::string body,
                std::string storage_class, AbortCheck interrupts)
      : client_(std::move(client)),
        key_(std::move(key)),
        body_(std::move(body)),
        storage_class_(std::move(storage_class)),
        interrupts_(std::move(interrupts)) {
    task_.Start([this](const std::atomic<bool> &cancelled) {
      client_->PutObject(
          key_, body_.data(), body_.size(), [&cancelled] { return cancelled.load(); },
          storage_class_);
      client_->CloseConnection();  // no descriptor kept by a finished upload
    });
  }
  bool Done() override { return cancelled_ || task_.Finished(); }
  void Wait() override {
    if (cancelled_)
      throw Error(sqlstate::kIoError, "upload of object \"" + client_->location().DisplayUrl(key_) +
                                          "\" was cancelled");
    task_.Wait(interrupts_);
    ReleaseBuffer(&body_);
  }
  void Cancel() noexcept override {
    if (task_.running()) cancelled_ = true;
    task_.Cancel();
  }
  int InFlightLimit() const override { return client_->location().uploads_in_flight; }
  uint64_t BufferedBytes() const override { return body_.capacity(); }

 private:
  std::unique_ptr<S3Client> client_;
  std::string key_;
  std::string body_;
  std::string storage_class_;
  AbortCheck interrupts_;
  bool cancelled_ = false;
  BackgroundTask task_;  // declared last: destroyed (cancelled, joined) first
};

// Up to uploads_in_flight parts of a multipart upload upload at once, each on
// its own thread and connection: one connection rarely fills the bandwidth
// of an object store, and each part's round trips overlap the others'.
struct PartSlot {
  std::unique_ptr<S3Client> client;  // used only by the slot's thread
  std::string buffer;
  CompletedPart part;
  bool busy = false;
  // Declared last: destroyed (cancelled, joined) first, while the client
  // and buffer its thread uses still exist. A slot array destroyed with a
  // part still uploading (a background commit whose own thread could not
  // start) freed them under the running thread first.
  BackgroundTask task;
};

// The end of a multipart upload on a thread of its own
// (S3Writer::CommitInBackground): it takes over the parts still uploading
// (their slots, threads and buffers), waits for them, releasing each buffer
// as its part lands, and sends CompleteMultipartUpload over the first
// slot's connection. On failure the upload is aborted (bounded, as
// S3Writer::Abort) before the thread ends, so a commit that did not succeed
// leaves no upload behind; on cancel the abort is deferred (DeferAbort). An
// object whose completion failed only as the client saw it is the owner's
// to remove (PendingCommit).
class BackgroundMultipartCommit : public PendingCommit {
 public:
  BackgroundMultipartCommit(const S3Location &location, Credentials credentials, std::string key,
                            std::string upload_id, std::unique_ptr<PartSlot[]> slots,
                            int slot_count, std::deque<int> order, std::vector<CompletedPart> parts,
                            uint64_t total, AbortCheck interrupts)
      : location_(location),
        credentials_(std::move(credentials)),
        key_(std::move(key)),
        upload_id_(std::move(upload_id)),
        slot_count_(slot_count),
        slots_(std::move(slots)),
        order_(std::move(order)),
        parts_(std::move(parts)),
        total_(total),
        interrupts_(std::move(interrupts)) {
    uint64_t buffered = 0;
    for (int index : order_) buffered += slots_[index].buffer.capacity();
    buffered_ = buffered;
    task_.Start([this](const std::atomic<bool> &cancelled) { Run(cancelled); });
  }
  bool Done() override { return cancelled_ || task_.Finished(); }
  void Wait() override {
    if (cancelled_)
      throw Error(sqlstate::kIoError,
                  "upload of object \"" + location_.DisplayUrl(key_) + "\" was cancelled");
    task_.Wait(interrupts_);
  }
  void Cancel() noexcept override {
    if (task_.running()) cancelled_ = true;
    task_.Cancel();
  }
  int InFlightLimit() const override { return location_.uploads_in_flight; }
  uint64_t BufferedBytes() const override { return buffered_.load(); }

 private:
  // On the commit's thread.
  void Run(const std::atomic<bool> &cancelled) {
    AbortCheck stop = [&cancelled] { return cancelled.load(); };
    try {
      while (!order_.empty()) {
        PartSlot &slot = slots_[order_.front()];
        order_.pop_front();
        slot.busy = false;
        slot.task.Wait(stop);  // throws Interrupted once cancelled
        parts_.push_back(slot.part);
        buffered_ -= std::min<uint64_t>(buffered_.load(), slot.buffer.capacity());
        ReleaseBuffer(&slot.buffer);
      }
      // Parts finish out of order when several upload at once.
      std::sort(parts_.begin(), parts_.end(), [](const CompletedPart &a, const CompletedPart &b) {
        return a.part_number < b.part_number;
      });
      Client()->CompleteMultipartUpload(key_, upload_id_, parts_, total_, stop);
      CloseConnections();
    } catch (...) {
      for (int i = 0; i < slot_count_; i++) {
        slots_[i].task.Cancel();
        ReleaseBuffer(&slots_[i].buffer);
      }
      buffered_ = 0;
      // A cancel (the worker's transaction aborts, perhaps with several
      // such commits in flight and a server that no longer answers) must
      // not wait for the abort: it is deferred, retried when the process
      // exits, and settling discards what remains under the run's prefix.
      if (cancelled.load()) {
        DeferAbort(location_, credentials_, key_, upload_id_);
      } else {
        try {
          RetrySettings retry = AbortRetrySettings();
          Client()->AbortMultipartUpload(key_, upload_id_, AbortCheck(), &retry);
        } catch (...) {
          DeferAbort(location_, credentials_, key_, upload_id_);
        }
      }
      CloseConnections();
      throw;
    }
  }
  // The first slot's client: it sent part 1, so it exists; its thread has
  // been joined by the time it is used here.
  S3Client *Client() {
    if (!slots_[0].client) slots_[0].client = std::make_unique<S3Client>(location_, credentials_);
    return slots_[0].client.get();
  }
  void CloseConnections() noexcept {
    for (int i = 0; i < slot_count_; i++)
      if (slots_[i].client) slots_[i].client->CloseConnection();
  }

  S3Location location_;
  Credentials credentials_;
  std::string key_;
  std::string upload_id_;
  int slot_count_;
  std::unique_ptr<PartSlot[]> slots_;
  std::deque<int> order_;  // slots still uploading, oldest first
  std::vector<CompletedPart> parts_;
  uint64_t total_;
  AbortCheck interrupts_;
  std::atomic<uint64_t> buffered_{0};
  bool cancelled_ = false;
  BackgroundTask task_;  // declared last: destroyed (cancelled, joined) first
};

// The upload id of a multipart upload being created on a part's thread
// (S3Writer::SubmitPart): set once, by that thread, then read by the writer.
struct UploadIdCell {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::string id;  // empty when the creation failed
  void Set(std::string value) {
    std::lock_guard<std::mutex> lock(mutex);
    id = std::move(value);
    done = true;
    done_cv.notify_all();
  }
};

class S3Writer : public ObjectWriter {
 public:
  S3Writer(std::shared_ptr<S3Client> client, Credentials credentials, std::string key,
           AbortCheck interrupts, std::string storage_class)
      : client_(std::move(client)),
        credentials_(std::move(credentials)),
        key_(std::move(key)),
        interrupts_(std::move(interrupts)),
        storage_class_(std::move(storage_class)),
        base_part_size_(client_->location().part_size),
        slot_count_(std::max(1, client_->location().uploads_in_flight)),
        slots_(new Slot[static_cast<size_t>(slot_count_)]) {}
  ~S3Writer() override { Abort(); }

  void Write(const char *data, size_t len) override {
    if (finished_ || committed_ || aborted_)
      throw Error(sqlstate::kInternalError, "write to a finished object writer");
    while (len > 0) {
      uint64_t target = PartSizeFor(base_part_size_, next_part_);
      // A full buffer becomes a part only once more data follows, so an
      // object of exactly one part size is still a single PUT.
      if (current_.size() >= target) {
        SubmitPart();
        target = PartSizeFor(base_part_size_, next_part_);
      }
      if (current_.capacity() < target) current_.reserve(target);
      size_t n = static_cast<size_t>(std::min<uint64_t>(len, target - current_.size()));
      current_.append(data, n);
      total_ += n;
      data += n;
      len -= n;
    }
  }

  void Finish() override {
    if (finished_) return;
    // The last part starts uploading; Commit() (or the background commit)
    // waits for the parts.
    if (multipart_) {
      if (!current_.empty()) SubmitPart();
      ReleaseBuffer(&current_);
    }
    finished_ = true;
  }

  void Commit() override {
    if (committed_) return;
    if (aborted_) throw Error(sqlstate::kInternalError, "commit of an aborted object writer");
    Finish();
    if (!multipart_)
      client_->PutObject(key_, current_.data(), current_.size(), interrupts_, storage_class_);
    else {
      WaitForAllParts();
      AwaitUploadId();
      for (int i = 0; i < slot_count_; i++) ReleaseBuffer(&slots_[i].buffer);
      // Parts finish out of order when several upload at once.
      std::sort(parts_.begin(), parts_.end(), [](const CompletedPart &a, const CompletedPart &b) {
        return a.part_number < b.part_number;
      });
      client_->CompleteMultipartUpload(key_, upload_id_, parts_, total_, interrupts_);
    }
    committed_ = true;
    ReleaseBuffer(&current_);
  }

  // An object of one part: its PUT on a thread and connection of its own.
  // A multipart upload: its parts still uploading and its completion on a
  // thread of their own (BackgroundMultipartCommit), so the writer's owner
  // goes on (scans the next block range) while the last parts land.
  std::unique_ptr<PendingCommit> CommitInBackground() override {
    if (committed_ || aborted_) return ObjectWriter::CommitInBackground();
    Finish();
    if (multipart_) {
      AwaitUploadId();
      for (int i = 0; i < slot_count_; i++)
        if (!slots_[i].busy) ReleaseBuffer(&slots_[i].buffer);
      std::unique_ptr<BackgroundMultipartCommit> pending;
      try {
        pending = std::make_unique<BackgroundMultipartCommit>(
            client_->location(), credentials_, key_, upload_id_, std::move(slots_), slot_count_,
            std::move(order_), std::move(parts_), total_, interrupts_);
      } catch (...) {
        // Its thread could not start (no thread or memory left): the
        // slots went with it (their threads joined as it was destroyed),
        // and Abort() has only the upload, still the writer's, to end.
        if (!slots_) slot_count_ = 0;
        order_.clear();
        throw;
      }
      // From now on the pending commit owns the upload and its slots.
      committed_ = true;
      multipart_ = false;
      upload_id_.clear();
      created_.reset();
      order_.clear();
      parts_.clear();
      slot_count_ = 0;
      return pending;
    }
    current_.shrink_to_fit();  // the part buffer was reserved at full part size
    auto pending = std::make_unique<BackgroundPut>(
        std::make_unique<S3Client>(client_->location(), credentials_), key_, std::move(current_),
        storage_class_, interrupts_);
    committed_ = true;  // from now on the pending commit owns the object
    ReleaseBuffer(&current_);
    return pending;
  }

  void Abort() noexcept override {
    if (!committed_) aborted_ = true;
    for (int i = 0; i < slot_count_; i++) slots_[i].task.Cancel();
    // The part threads are joined: an upload created on one of them has
    // its id in the cell by now.
    if (upload_id_.empty() && created_) {
      std::lock_guard<std::mutex> lock(created_->mutex);
      upload_id_ = created_->id;
    }
    if (!committed_ && !upload_id_.empty()) {
      try {
        RetrySettings retry = AbortRetrySettings();
        client_->AbortMultipartUpload(key_, upload_id_, AbortCheck(), &retry);
      } catch (...) {
        // Try again later (see DeferAbort); a bucket lifecycle rule for
        // incomplete uploads is the last backstop.
        DeferAbort(client_->location(), credentials_, key_, upload_id_);
      }
    }
    upload_id_.clear();
    created_.reset();  // a second Abort() (the destructor's) has nothing left
    ReleaseBuffer(&current_);
    for (int i = 0; i < slot_count_; i++) {
      ReleaseBuffer(&slots_[i].buffer);
      slots_[i].busy = false;
    }
    order_.clear();
  }

 private:
  // Parts upload in PartSlots (above); memory stays bounded by
  // (uploads_in_flight + 1) part buffers.
  using Slot = PartSlot;

  // Part 1 creates the multipart upload on its own thread before it
  // uploads, so the writer goes on filling part 2 meanwhile instead of
  // waiting a round trip; later parts take the id from created_.
  void SubmitPart() {
    bool create = !multipart_;
    if (create) {
      multipart_ = true;
      created_ = std::make_shared<UploadIdCell>();
    } else {
      AwaitUploadId();
    }
    if (next_part_ > kMaxParts)
      throw Error(sqlstate::kIoError,
                  "object \"" + client_->location().DisplayUrl(key_) + "\" is too large",
                  "A multipart upload has at most 10000 parts.", "Use a larger part_size.");
    int free = -1;
    for (int i = 0; i < slot_count_ && free < 0; i++)
      if (!slots_[i].busy) free = i;
    if (free < 0) {
      free = order_.front();
      CompleteOldestPart();
    }
    Slot &slot = slots_[free];
    if (!slot.client) slot.client = std::make_unique<S3Client>(client_->location(), credentials_);
    slot.buffer.swap(current_);
    current_.clear();
    slot.part = CompletedPart();
    slot.part.part_number = next_part_++;
    slot.busy = true;
    order_.push_back(free);
    // The task names nothing of the writer's but its slot: a background
    // commit takes the slots over and may outlive the writer.
    std::shared_ptr<UploadIdCell> cell = create ? created_ : nullptr;
    slot.task.Start([&slot, key = key_, upload_id = upload_id_, cell,
                     storage_class = storage_class_](const std::atomic<bool> &cancelled) {
      AbortCheck stop = [&cancelled] { return cancelled.load(); };
      std::string id = upload_id;
      if (cell) {
        try {
          id = slot.client->CreateMultipartUpload(key, stop, storage_class);
        } catch (...) {
          cell->Set(std::string());
          throw;
        }
        cell->Set(id);
      }
      slot.part = slot.client->UploadPart(key, id, slot.part.part_number, slot.buffer.data(),
                                          slot.buffer.size(), stop);
    });
  }

  // Waits for the part that started first; rethrows its error.
  void CompleteOldestPart() {
    int index = order_.front();
    order_.pop_front();
    Slot &slot = slots_[index];
    slot.busy = false;
    slot.task.Wait(interrupts_);
    parts_.push_back(slot.part);
  }

  void WaitForAllParts() {
    while (!order_.empty()) CompleteOldestPart();
  }

  // Sets upload_id_ once part 1's thread created the upload, polling
  // interrupts_; when the creation failed, rethrows its error (from part
  // 1's task).
  void AwaitUploadId() {
    if (!upload_id_.empty() || !created_) return;
    {
      std::unique_lock<std::mutex> lock(created_->mutex);
      while (!created_->done) {
        if (created_->done_cv.wait_for(lock, std::chrono::milliseconds(100),
                                       [this] { return created_->done; }))
          break;
        lock.unlock();
        bool stop = interrupts_ && interrupts_();
        lock.lock();
        if (stop) throw Interrupted();
      }
      upload_id_ = created_->id;
    }
    if (!upload_id_.empty()) return;
    // Part 1 (the oldest part in flight) holds the creation's error.
    while (!order_.empty()) CompleteOldestPart();
    throw Error(sqlstate::kIoError, "multipart upload of object \"" +
                                        client_->location().DisplayUrl(key_) +
                                        "\" could not be created");
  }

  std::shared_ptr<S3Client> client_;
  Credentials credentials_;
  std::string key_;
  AbortCheck interrupts_;
  std::string storage_class_;  // "" sends none
  uint64_t base_part_size_;
  std::string current_;  // the part being filled
  int next_part_ = 1;
  std::deque<int> order_;  // slots uploading, oldest first
  std::vector<CompletedPart> parts_;
  std::string upload_id_;                  // once known (AwaitUploadId)
  std::shared_ptr<UploadIdCell> created_;  // set by part 1's thread
  bool multipart_ = false;                 // part 1 was submitted
  uint64_t total_ = 0;
  bool finished_ = false;
  bool committed_ = false;
  bool aborted_ = false;
  int slot_count_;                 // 0 once a background commit took the slots
  std::unique_ptr<Slot[]> slots_;  // declared last: destroyed (joined) first
};

class S3Reader : public ByteSource {
 public:
  S3Reader(std::shared_ptr<S3Client> client, std::string key, AbortCheck interrupts)
      : client_(std::move(client)), key_(std::move(key)), interrupts_(std::move(interrupts)) {
    Fetch();  // fails early for a missing object, and learns the size
  }

  size_t Read(char *buffer, size_t capacity) override {
    if (position_ == buffer_.size()) {
      if (offset_ >= total_) return 0;
      Fetch();
    }
    size_t n = std::min(capacity, buffer_.size() - position_);
    std::copy_n(buffer_.data() + position_, n, buffer);
    position_ += n;
    return n;
  }

 private:
  void Fetch() {
    const uint64_t range = client_->location().range_size;
    uint64_t length = known_size_ ? std::min<uint64_t>(range, total_ - offset_) : range;
    uint64_t total = 0;
    client_->GetRange(key_, offset_, length, &buffer_, &total, interrupts_);
    if (known_size_ && total != total_)
      throw Error(sqlstate::kDataCorrupted,
                  "object \"" + client_->location().DisplayUrl(key_) + "\" changed while reading",
                  "Its size went from " + std::to_string(total_) + " to " + std::to_string(total) +
                      " bytes.");
    total_ = total;
    known_size_ = true;
    if (buffer_.empty() && offset_ < total_)
      throw Error(sqlstate::kIoError,
                  "short read from object \"" + client_->location().DisplayUrl(key_) + "\"",
                  "A ranged GET at offset " + std::to_string(offset_) + " returned no data.");
    offset_ += buffer_.size();
    position_ = 0;
  }

  std::shared_ptr<S3Client> client_;
  std::string key_;
  AbortCheck interrupts_;
  std::string buffer_;
  size_t position_ = 0;
  uint64_t offset_ = 0;  // object offset just past buffer_
  uint64_t total_ = 0;
  bool known_size_ = false;
};

}  // namespace

S3Store::S3Store(S3Location location, Credentials credentials)
    : client_(std::make_shared<S3Client>(std::move(location), credentials)),
      credentials_(std::move(credentials)) {}

std::string S3Store::FullKey(const std::string &key) const {
  CheckRelativeKey(key, "object key");
  return client_->location().prefix + key;
}

AbortCheck S3Store::Interrupts() const {
  return interrupt_check_;
}

std::unique_ptr<ObjectWriter> S3Store::Create(const std::string &key, ObjectKind kind) {
  std::string full = FullKey(key);
  // Parts are at keys nobody else produces (ObjectKind::kPart): no GET
  // before their PUT. Other objects are checked, so a backup never
  // overwrites one.
  if (kind != ObjectKind::kPart && client_->ObjectSize(full, Interrupts()).has_value())
    throw Error(sqlstate::kIoError,
                "backup object \"" + client_->location().DisplayUrl(full) + "\" already exists",
                "Backups never overwrite existing objects.",
                "Write to a new path or remove the old object first.");
  const S3Location &location = client_->location();
  return std::make_unique<S3Writer>(
      client_, credentials_, full, Interrupts(),
      kind == ObjectKind::kMetadata ? location.manifest_storage_class : location.storage_class);
}

std::unique_ptr<ByteSource> S3Store::Open(const std::string &key) {
  return std::make_unique<S3Reader>(client_, FullKey(key), Interrupts());
}

std::vector<ObjectInfo> S3Store::List(const std::string &prefix) {
  const std::string &root = client_->location().prefix;
  std::vector<ObjectInfo> result;
  for (auto &object : client_->ListAll(root + prefix, Interrupts())) {
    if (object.key.size() <= root.size() || object.key.compare(0, root.size(), root) != 0) continue;
    if (object.key.back() == '/') continue;  // "directory" placeholder objects
    object.key.erase(0, root.size());
    result.push_back(std::move(object));
  }
  std::sort(result.begin(), result.end(),
            [](const ObjectInfo &a, const ObjectInfo &b) { return a.key < b.key; });
  return result;
}

void S3Store::Remove(const std::string &key) {
  client_->DeleteObject(FullKey(key), Interrupts());
}

void S3Store::RemoveQuickly(const std::string &key) {
  RetrySettings retry = AbortRetrySettings();
  client_->DeleteObject(FullKey(key), Interrupts(), &retry);
}

void S3Store::ReleaseConnections() noexcept {
  client_->CloseConnection();
}

std::string S3Store::Url(const std::string &key) const {
  return client_->location().DisplayUrl(client_->location().prefix + key);
}

ArchiveState S3Store::Archive(const std::string &key, std::string *storage_class) {
  std::string full = FullKey(key);
  S3Client::HeadInfo head = client_->HeadObject(full, Interrupts());
  if (storage_class) *storage_class = head.storage_class;
  if (!head.exists)
    throw Error(sqlstate::kUndefinedFile,
                "backup object \"" + client_->location().DisplayUrl(full) + "\" is missing",
                "The manifest lists it, but the target has no such object.",
                "Restore from another run: cdw_backup_list() shows them.");
  if (!NeedsThaw(head.storage_class)) return ArchiveState::kReadable;
  if (!head.restore.present) return ArchiveState::kArchived;
  return head.restore.ongoing ? ArchiveState::kThawing : ArchiveState::kReadable;
}

ArchiveState S3Store::RequestThaw(const std::string &key, const ThawRequest &request) {
  bool ongoing = client_->RestoreObject(FullKey(key), request.days, request.tier, Interrupts());
  return ongoing ? ArchiveState::kThawing : ArchiveState::kReadable;
}

std::vector<MultipartUploadInfo> S3Store::ListMultipartUploads(const std::string &prefix) {
  const std::string &root = client_->location().prefix;
  std::vector<MultipartUploadInfo> result;
  for (auto &upload : client_->ListMultipartUploads(root + prefix, Interrupts())) {
    if (upload.key.compare(0, root.size(), root) != 0) continue;
    upload.key.erase(0, root.size());
    result.push_back(std::move(upload));
  }
  return result;
}

size_t S3Store::DiscardIncomplete(const std::string &prefix) {
  size_t aborted = 0;
  for (const auto &upload : ListMultipartUploads(prefix)) {
    AbortMultipartUpload(upload.key, upload.upload_id);
    aborted++;
  }
  return aborted;
}

void S3Store::AbortMultipartUpload(const std::string &key, const std::string &upload_id) {
  client_->AbortMultipartUpload(FullKey(key), upload_id, Interrupts());
}

}  // namespace cdw::s3
