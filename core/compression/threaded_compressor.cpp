#include "compression/threaded_compressor.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/signals.h"

namespace cdw {

namespace {

constexpr size_t kChunkBytes = 1 << 20;
constexpr size_t kMaxChunksInFlight = 3;

class ThreadedCompressor : public ByteSink {
 public:
  ThreadedCompressor(Compression compression, int level, ByteSink *downstream)
      : downstream_(downstream) {
    compressor_ = MakeCompressor(compression, level, &collector_);
    input_.reserve(kChunkBytes);
  }

  ~ThreadedCompressor() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    work_ready_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void Write(const char *data, size_t len) override {
    while (len > 0) {
      size_t take = std::min(len, kChunkBytes - input_.size());
      input_.append(data, take);
      data += take;
      len -= take;
      if (input_.size() == kChunkBytes) Submit(false);
    }
    DrainFinished(false);
  }

  void Finish() override {
    if (!thread_.joinable()) {
      // Everything fit in one chunk: compressed here. Most parts of a
      // database of many small tables are a few kB, and a thread started
      // and joined for each was 5% of a 10,000-table run (clone3, a fresh
      // stack) for nothing to overlap.
      Chunk chunk;
      chunk.input.swap(input_);
      chunk.output = TakeSpare(&spare_outputs_);
      chunk.last = true;
      Compress(&chunk);
      if (!chunk.output.empty()) downstream_->Write(chunk.output.data(), chunk.output.size());
      downstream_->Finish();
      return;
    }
    Submit(true);
    DrainFinished(true);
    downstream_->Finish();
  }

 private:
  struct Chunk {
    std::string input;
    std::string output;
    bool last = false;
  };

  // Hands the current input to the thread, waiting while too much is in flight.
  // The thread starts with the first full chunk (see Finish).
  void Submit(bool last) {
    // Signals belong to the backend's main thread: blocked before the thread
    // exists, so there is no moment at which it could take one.
    if (!thread_.joinable()) thread_ = StartThreadWithSignalsBlocked([this] { Run(); });
    Chunk chunk;
    chunk.input.swap(input_);
    chunk.last = last;
    input_ = TakeSpare(&spare_inputs_);
    chunk.output = TakeSpare(&spare_outputs_);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (in_flight_ >= kMaxChunksInFlight && !failed_) {
        lock.unlock();
        DrainFinished(false, /*wait_for_one=*/true);
        lock.lock();
      }
      RethrowLocked();
      pending_.push_back(std::move(chunk));
      in_flight_++;
    }
    work_ready_.notify_one();
  }

  // Writes finished chunks downstream, in order, on the calling thread.
  void DrainFinished(bool until_empty, bool wait_for_one = false) {
    for (;;) {
      Chunk chunk;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if ((until_empty && in_flight_ > 0) || wait_for_one)
          done_ready_.wait(lock, [this] { return !done_.empty() || failed_; });
        RethrowLocked();
        if (done_.empty()) return;
        chunk = std::move(done_.front());
        done_.pop_front();
        in_flight_--;
      }
      if (!chunk.output.empty()) downstream_->Write(chunk.output.data(), chunk.output.size());
      Recycle(std::move(chunk.input), &spare_inputs_);
      Recycle(std::move(chunk.output), &spare_outputs_);
      if (wait_for_one) return;
      if (until_empty) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (in_flight_ == 0) return;
      }
    }
  }

  // Chunk buffers are reused: a fresh 1 MiB buffer per chunk costs page
  // faults and zeroed pages (glibc serves it with mmap), measured at ~5% of
  // a gzip backup. At most kMaxChunksInFlight + 1 of each kind exist.
  static std::string TakeSpare(std::vector<std::string> *spares) {
    if (spares->empty()) {
      std::string fresh;
      fresh.reserve(kChunkBytes);
      return fresh;
    }
    std::string spare = std::move(spares->back());
    spares->pop_back();
    spare.clear();
    return spare;
  }
  static void Recycle(std::string buffer, std::vector<std::string> *spares) {
    if (buffer.capacity() > 0 && spares->size() <= kMaxChunksInFlight)
      spares->push_back(std::move(buffer));
  }

  void RethrowLocked() {
    if (failed_) std::rethrow_exception(error_);
  }

  // Compresses `chunk`'s input into its output (and the trailer after the
  // last): on the thread, or on the caller's for a part of one chunk.
  void Compress(Chunk *chunk) {
    collector_.Retarget(&chunk->output);
    if (!chunk->input.empty()) compressor_->Write(chunk->input.data(), chunk->input.size());
    if (chunk->last) compressor_->Finish();
  }

  void Run() {
    for (;;) {
      Chunk chunk;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_ready_.wait(lock, [this] { return !pending_.empty() || stop_; });
        if (pending_.empty()) return;
        chunk = std::move(pending_.front());
        pending_.pop_front();
      }
      try {
        Compress(&chunk);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        failed_ = true;
        error_ = std::current_exception();
        done_ready_.notify_all();
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.push_back(std::move(chunk));
      }
      done_ready_.notify_all();
    }
  }

  ByteSink *downstream_;
  StringSink collector_;                  // what the compressor writes for one chunk
  std::unique_ptr<ByteSink> compressor_;  // the thread's once it runs (see Finish)
  std::string input_;
  std::vector<std::string> spare_inputs_;  // used by the calling thread only
  std::vector<std::string> spare_outputs_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable done_ready_;
  std::deque<Chunk> pending_;
  std::deque<Chunk> done_;
  size_t in_flight_ = 0;
  bool stop_ = false;
  bool failed_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<ByteSink> MakeThreadedCompressor(Compression compression, int level,
                                                 ByteSink *downstream) {
  if (compression == Compression::kNone) return MakeCompressor(compression, level, downstream);
  return std::make_unique<ThreadedCompressor>(compression, level, downstream);
}

}  // namespace cdw
