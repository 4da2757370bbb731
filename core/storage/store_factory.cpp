#include "storage/store_factory.h"

#include "common/error.h"
#include "storage/file_store.h"

namespace cdw {

namespace {
constexpr const char *kLocationFormsHint =
    "Use file:///absolute/directory, s3://bucket/prefix or "
    "cos://bucket-appid.cos.region.myqcloud.com/prefix.";

bool StartsWith(const std::string &s, const char *prefix) {
  return s.rfind(prefix, 0) == 0;
}
}  // namespace

const std::vector<std::string> &StoreOptionNames() {
  static const std::vector<std::string> kNames = {"endpoint", "region", "path_style", "https",
                                                  "connect_to"};
  return kNames;
}

LocationScheme ParseLocationScheme(const std::string &location) {
  if (StartsWith(location, "file://")) return LocationScheme::kFile;
  if (StartsWith(location, "s3://")) return LocationScheme::kS3;
  if (StartsWith(location, "cos://")) return LocationScheme::kCos;
  throw Error(sqlstate::kInvalidParameterValue, "unsupported backup location \"" + location + "\"",
              "A location must start with file://, s3:// or cos://.", kLocationFormsHint);
}

bool LocationNeedsCredentials(const std::string &location) {
  return ParseLocationScheme(location) != LocationScheme::kFile;
}

void ValidateLocation(const std::string &location, const StoreOptions &options) {
  switch (ParseLocationScheme(location)) {
    case LocationScheme::kFile:
      FileStore::ParseRoot(location);
      return;
    case LocationScheme::kS3:
    case LocationScheme::kCos:
      (void)options;
      throw Error(sqlstate::kFdwInvalidOptionValue,
                  "object storage locations are not supported by this build",
                  "Location \"" + location + "\" needs S3 support.", kLocationFormsHint);
  }
}

std::unique_ptr<ObjectStore> OpenObjectStore(const std::string &location,
                                             const StoreOptions &options,
                                             const Credentials &credentials) {
  ValidateLocation(location, options);
  (void)credentials;
  return std::make_unique<FileStore>(FileStore::ParseRoot(location));
}

}  // namespace cdw
