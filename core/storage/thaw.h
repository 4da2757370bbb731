// Thawing archived objects before a restore or verify reads them.
//
// A table's objects in an archive storage class (S3 GLACIER / DEEP_ARCHIVE,
// COS ARCHIVE / DEEP_ARCHIVE) cannot be read until the store has made a
// temporary readable copy. ThawPass() looks at each object (a HEAD) and,
// when asked, requests the copy of each archived one; callers repeat it
// for the objects still thawing until none is left (or they give up: the
// requests stay with the store, and a later call finds them under way
// instead of requesting them again).
#pragma once

#include <string>
#include <vector>

#include "storage/object_store.h"

namespace cdw {

struct ThawObject {
  std::string key;
  ArchiveState state = ArchiveState::kArchived;
  bool checked = false;    // state comes from the store
  bool archived = false;   // it was not readable when first checked
  bool requested = false;  // this caller requested its thaw
  bool failed = false;     // the store refused: the fields below say why
  std::string sqlstate, message, detail, hint;
};

// Checks every object that is neither readable nor failed; with
// `request_thaw`, requests the thaw of each archived one (tier and days
// from `request`). A store error on one object is recorded in it and the
// others go on; cdw::Interrupted is thrown.
void ThawPass(ObjectStore *store, std::vector<ThawObject> *objects, const ThawRequest &request,
              bool request_thaw);

// Counts over `objects`.
struct ThawCounts {
  size_t total = 0;      // objects that were archived when first checked (or failed)
  size_t readable = 0;   // of those, readable now
  size_t thawing = 0;    // of those, still thawing
  size_t requested = 0;  // thaws this caller requested
  size_t failed = 0;
};
ThawCounts CountThaw(const std::vector<ThawObject> &objects);

}  // namespace cdw
