#include "storage/object_store.h"

#include "common/error.h"

namespace cdw {

void ObjectStore::CheckInterrupts() const {
  if (interrupt_check_ && interrupt_check_()) throw Interrupted();
}

}  // namespace cdw
