#include "s3/background_task.h"

#include <chrono>

#include "common/error.h"
#include "common/signals.h"

namespace cdw::s3 {

void BackgroundTask::Start(Work work) {
  Cancel();
  done_ = false;
  error_ = nullptr;
  cancelled_ = false;
  thread_ = StartThreadWithSignalsBlocked([this, work = std::move(work)] {
    std::exception_ptr error;
    try {
      work(cancelled_);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = error;
    done_ = true;
    done_cv_.notify_all();
  });
}

void BackgroundTask::Wait(const std::function<bool()> &interrupted, int poll_ms) {
  if (!thread_.joinable()) return;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!done_) {
      if (done_cv_.wait_for(lock, std::chrono::milliseconds(poll_ms), [this] { return done_; }))
        break;
      lock.unlock();
      bool stop = interrupted && interrupted();
      lock.lock();
      if (stop) {
        lock.unlock();
        Cancel();
        throw Interrupted();
      }
    }
  }
  thread_.join();
  std::exception_ptr error = error_;
  error_ = nullptr;
  if (error) std::rethrow_exception(error);
}

bool BackgroundTask::Finished() {
  if (!thread_.joinable()) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  return done_;
}

void BackgroundTask::Cancel() noexcept {
  if (!thread_.joinable()) return;
  cancelled_ = true;
  thread_.join();
  error_ = nullptr;
}

}  // namespace cdw::s3
