#include "storage/object_store.h"

#include "common/error.h"

namespace cdw {

namespace {
class DoneCommit : public PendingCommit {
 public:
  bool Done() override { return true; }
  void Wait() override {}
};
}  // namespace

std::unique_ptr<PendingCommit> ObjectWriter::CommitInBackground() {
  Commit();
  return std::make_unique<DoneCommit>();
}

void ObjectStore::CheckInterrupts() const {
  if (interrupt_check_ && interrupt_check_()) throw Interrupted();
}

}  // namespace cdw
