// One piece of work on a helper thread (a multipart part upload), started
// with every signal blocked so that signals keep reaching PostgreSQL's main
// thread. The work must not call PostgreSQL; it sees a cancel flag instead of
// the InterruptCheck, which only the main thread calls (in Wait()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace cdw::s3 {

class BackgroundTask {
 public:
  using Work = std::function<void(const std::atomic<bool> &cancelled)>;

  BackgroundTask() = default;
  ~BackgroundTask() { Cancel(); }
  BackgroundTask(const BackgroundTask &) = delete;
  BackgroundTask &operator=(const BackgroundTask &) = delete;

  // Starts `work` on a new thread. Only one task at a time: Wait() or
  // Cancel() the previous one first.
  void Start(Work work);
  bool running() const { return thread_.joinable(); }
  // Whether the started task has ended (Wait() would not block).
  bool Finished();

  // Waits for the task to finish, asking `interrupted` every `poll_ms`; when
  // it says stop, the task is cancelled and joined and cdw::Interrupted is
  // thrown. Rethrows the task's exception. No-op without a task.
  void Wait(const std::function<bool()> &interrupted, int poll_ms = 100);

  // Sets the cancel flag, joins, and forgets any error. Never throws.
  void Cancel() noexcept;

 private:
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::exception_ptr error_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace cdw::s3
