#include "storage/thaw.h"

#include "common/error.h"

namespace cdw {

void ThawPass(ObjectStore *store, std::vector<ThawObject> *objects, const ThawRequest &request,
              bool request_thaw) {
  for (auto &object : *objects) {
    if (object.failed || (object.checked && object.state == ArchiveState::kReadable)) continue;
    try {
      object.state = store->Archive(object.key);
      if (!object.checked) object.archived = object.state != ArchiveState::kReadable;
      object.checked = true;
      if (object.state == ArchiveState::kArchived && request_thaw) {
        object.state = store->RequestThaw(object.key, request);
        object.requested = true;
      }
    } catch (const Interrupted &) {
      throw;
    } catch (const Error &e) {
      object.failed = true;
      object.sqlstate = e.sqlstate();
      object.message = e.what();
      object.detail = e.detail();
      object.hint = e.hint();
    }
  }
}

ThawCounts CountThaw(const std::vector<ThawObject> &objects) {
  ThawCounts counts;
  for (const auto &object : objects) {
    counts.requested += object.requested;
    if (object.failed) {
      counts.failed++;
      counts.total++;
      continue;
    }
    if (!object.archived) continue;
    counts.total++;
    if (object.state == ArchiveState::kReadable)
      counts.readable++;
    else
      counts.thawing++;
  }
  return counts;
}

}  // namespace cdw
