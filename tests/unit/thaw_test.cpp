#include "storage/thaw.h"

#include <gtest/gtest.h>

#include <map>

#include "common/error.h"

namespace cdw {
namespace {

// An object store whose objects have an archive state and count requests.
class ArchiveStore : public ObjectStore {
 public:
  std::map<std::string, ArchiveState> states;
  std::map<std::string, int> thaw_requests;
  std::string refused;  // RequestThaw of this key fails
  ThawRequest last_request;

  std::unique_ptr<ObjectWriter> Create(const std::string &, ObjectKind) override {
    throw Error(sqlstate::kInternalError, "not here");
  }
  std::unique_ptr<ByteSource> Open(const std::string &) override {
    throw Error(sqlstate::kInternalError, "not here");
  }
  std::vector<ObjectInfo> List(const std::string &) override { return {}; }
  void Remove(const std::string &) override {}
  std::string Url(const std::string &key) const override { return "fake://" + key; }
  ArchiveState Archive(const std::string &key, std::string *) override {
    auto it = states.find(key);
    if (it == states.end()) throw Error(sqlstate::kUndefinedFile, "missing " + key);
    return it->second;
  }
  ArchiveState RequestThaw(const std::string &key, const ThawRequest &request) override {
    last_request = request;
    if (key == refused)
      throw Error(sqlstate::kInsufficientPrivilege, "could not thaw object: AccessDenied",
                  "HTTP 403", "allow s3:RestoreObject");
    thaw_requests[key]++;
    return states[key] = ArchiveState::kThawing;
  }
};

std::vector<ThawObject> Objects(std::initializer_list<const char *> keys) {
  std::vector<ThawObject> objects;
  for (const char *key : keys) {
    ThawObject object;
    object.key = key;
    objects.push_back(object);
  }
  return objects;
}

TEST(ThawTest, RequestsOnlyArchivedObjectsOnce) {
  ArchiveStore store;
  store.states = {{"hot", ArchiveState::kReadable},
                  {"cold", ArchiveState::kArchived},
                  {"warming", ArchiveState::kThawing}};
  auto objects = Objects({"hot", "cold", "warming"});
  ThawPass(&store, &objects, ThawRequest{"Bulk", 3}, true);
  EXPECT_EQ(store.thaw_requests, (std::map<std::string, int>{{"cold", 1}}));
  EXPECT_EQ(store.last_request.tier, "Bulk");
  EXPECT_EQ(store.last_request.days, 3);
  ThawCounts counts = CountThaw(objects);
  EXPECT_EQ(counts.total, 2u);  // "hot" was never archived
  EXPECT_EQ(counts.thawing, 2u);
  EXPECT_EQ(counts.readable, 0u);
  EXPECT_EQ(counts.requested, 1u);
  // The store finishes one thaw: the next pass sees it, requests nothing.
  store.states["cold"] = ArchiveState::kReadable;
  ThawPass(&store, &objects, ThawRequest{"Bulk", 3}, true);
  EXPECT_EQ(store.thaw_requests["cold"], 1);
  counts = CountThaw(objects);
  EXPECT_EQ(counts.readable, 1u);
  EXPECT_EQ(counts.thawing, 1u);
}

TEST(ThawTest, WithoutRequestNothingIsRequested) {
  ArchiveStore store;
  store.states = {{"cold", ArchiveState::kArchived}};
  auto objects = Objects({"cold"});
  ThawPass(&store, &objects, ThawRequest{"Standard", 1}, false);
  EXPECT_TRUE(store.thaw_requests.empty());
  EXPECT_EQ(CountThaw(objects).thawing, 1u);
}

TEST(ThawTest, ARefusalIsRecordedPerObjectAndTheOthersGoOn) {
  ArchiveStore store;
  store.states = {{"a", ArchiveState::kArchived}, {"b", ArchiveState::kArchived}};
  store.refused = "a";
  auto objects = Objects({"a", "b", "gone"});
  ThawPass(&store, &objects, ThawRequest{"Standard", 1}, true);
  EXPECT_TRUE(objects[0].failed);
  EXPECT_EQ(objects[0].sqlstate, sqlstate::kInsufficientPrivilege);
  EXPECT_NE(objects[0].message.find("AccessDenied"), std::string::npos);
  EXPECT_EQ(objects[0].hint, "allow s3:RestoreObject");
  EXPECT_FALSE(objects[1].failed);
  EXPECT_EQ(store.thaw_requests["b"], 1);
  EXPECT_TRUE(objects[2].failed);  // missing
  EXPECT_EQ(CountThaw(objects).failed, 2u);
  // Failed objects are not tried again.
  store.refused.clear();
  ThawPass(&store, &objects, ThawRequest{"Standard", 1}, true);
  EXPECT_EQ(store.thaw_requests.count("a"), 0u);
}

}  // namespace
}  // namespace cdw
