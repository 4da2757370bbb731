#include "s3/background_task.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>

#include "common/error.h"

namespace cdw::s3 {

namespace {

// Blocks every signal in the calling thread for its lifetime, so a thread
// created meanwhile inherits a full mask (no window where it could take a
// signal meant for the backend).
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }

 private:
  sigset_t saved_;
};

}  // namespace

void BackgroundTask::Start(Work work) {
  Cancel();
  done_ = false;
  error_ = nullptr;
  cancelled_ = false;
  AllSignalsBlocked blocked;
  thread_ = std::thread([this, work = std::move(work)] {
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

void BackgroundTask::Cancel() noexcept {
  if (!thread_.joinable()) return;
  cancelled_ = true;
  thread_.join();
  error_ = nullptr;
}

}  // namespace cdw::s3
