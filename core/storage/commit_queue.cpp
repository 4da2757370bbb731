#include "storage/commit_queue.h"

#include <algorithm>

#include "common/error.h"

namespace cdw {

void CommitQueue::Add(int64_t tag, std::vector<std::shared_ptr<PendingCommit>> commits) {
  groups_.push_back(Group{tag, std::move(commits)});
}

uint64_t CommitQueue::Bytes() const {
  uint64_t total = 0;
  for (const auto &group : groups_)
    for (const auto &commit : group.commits) total += commit->BufferedBytes();
  return total;
}

bool CommitQueue::Full() const {
  if (groups_.empty()) return false;
  int limit = 1;
  for (const auto &commit : groups_.back().commits)
    limit = std::max(limit, commit->InFlightLimit());
  return groups_.size() >= static_cast<size_t>(limit) || Bytes() >= max_bytes_;
}

bool CommitQueue::Ended(const Group &group) {
  for (const auto &commit : group.commits)
    if (!commit->Done()) return false;
  return true;
}

CommitQueue::Finished CommitQueue::Complete(Group *group) {
  Finished finished;
  finished.tag = group->tag;
  for (const auto &commit : group->commits) {
    try {
      commit->Wait();
    } catch (const Interrupted &) {
      throw;
    } catch (...) {
      if (!finished.error) finished.error = std::current_exception();
    }
  }
  return finished;
}

bool CommitQueue::Next(bool wait, Finished *finished) {
  if (groups_.empty()) return false;
  auto it = groups_.begin();
  if (!wait) {
    while (it != groups_.end() && !Ended(*it)) ++it;
    if (it == groups_.end()) return false;
  }
  // Waits (for the oldest) before the group leaves the queue: an interrupt
  // leaves it there, for Clear() or the transaction's abort.
  Finished result = Complete(&*it);
  groups_.erase(it);
  *finished = std::move(result);
  return true;
}

void CommitQueue::Clear() noexcept {
  for (auto &group : groups_)
    for (auto &commit : group.commits) commit->Cancel();
  groups_.clear();
}

}  // namespace cdw
