// Threads the extension starts must never take a signal meant for the
// backend: PostgreSQL's handlers (SIGINT, SIGTERM, SIGALRM, SIGUSR1, ...) set
// flags of the main thread and longjmp on it. A thread that blocks signals
// only once it runs leaves a window in which the kernel may deliver one to
// it, so the mask is set in the parent around the thread's creation (a new
// thread inherits its creator's mask) and restored right after.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <utility>

namespace cdw {

// Blocks every signal in the calling thread for its lifetime.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked &) = delete;
  AllSignalsBlocked &operator=(const AllSignalsBlocked &) = delete;

 private:
  sigset_t saved_;
};

// A std::thread running `fn` with every signal blocked from its first
// instruction; the caller's mask is unchanged afterwards (also when the
// thread cannot be created and std::system_error is thrown).
template <typename Fn>
std::thread StartThreadWithSignalsBlocked(Fn &&fn) {
  AllSignalsBlocked blocked;
  return std::thread(std::forward<Fn>(fn));
}

}  // namespace cdw
