// Commits in flight for one writer (a backup worker): the objects of tables
// whose rows are written but whose upload is still under way
// (ObjectWriter::CommitInBackground), so that the next table is scanned
// while earlier ones travel and round trips to object storage overlap.
//
// Each group is one table's commits under the caller's tag. A group is
// reported as finished only when every commit of it ended; a table counts
// as written only then (and only when none failed). Bounded: Full() says a
// new group must wait, when as many groups as the store allows
// (PendingCommit::InFlightLimit, the option uploads_in_flight) are in
// flight or their buffers hold max_bytes. Main thread only; the commits'
// own threads never see this object.
#pragma once

#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <vector>

#include "storage/object_store.h"

namespace cdw {

class CommitQueue {
 public:
  explicit CommitQueue(uint64_t max_bytes = 32 << 20) : max_bytes_(max_bytes) {}

  struct Finished {
    int64_t tag = 0;
    std::exception_ptr error;  // the first failed commit's error; null when all succeeded
  };

  // Adds one table's commits (all of them, done or not).
  void Add(int64_t tag, std::vector<std::shared_ptr<PendingCommit>> commits);
  // Whether Add() should wait for a group to finish first.
  bool Full() const;
  bool empty() const { return groups_.empty(); }
  size_t size() const { return groups_.size(); }

  // A group all of whose commits ended, oldest first, into *finished;
  // with `wait`, the oldest group once it ended. Returns false when none
  // is in flight (or, without wait, none has ended). Interrupted (from a
  // commit's Wait()) propagates; other errors are the group's.
  bool Next(bool wait, Finished *finished);

  // Cancels every commit (joining their threads) and forgets them; never
  // throws. Their objects may exist or not.
  void Clear() noexcept;

 private:
  struct Group {
    int64_t tag;
    std::vector<std::shared_ptr<PendingCommit>> commits;
  };
  static bool Ended(const Group &group);
  static Finished Complete(Group *group);
  uint64_t Bytes() const;

  uint64_t max_bytes_;
  std::deque<Group> groups_;
};

}  // namespace cdw
