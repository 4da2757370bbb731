#include "storage/store_factory.h"

#include <cctype>

#include "common/error.h"
#include "common/rate_limiter.h"
#include "s3/s3_location.h"
#include "s3/s3_store.h"
#include "storage/encrypted_store.h"
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
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names = s3::S3OptionNames();
    names.push_back("max_rate");
    names.push_back(kEncryptionOption);  // storage/encrypted_store.h
    return names;
  }();
  return kNames;
}

uint64_t StoreMaxRate(const StoreOptions &options) {
  auto it = options.find("max_rate");
  return it == options.end() ? 0 : ParseRate("option \"max_rate\"", it->second);
}

StoreOptions ParseStoreOptionLines(const std::string &lines) {
  StoreOptions options;
  size_t start = 0;
  while (start < lines.size()) {
    size_t end = lines.find('\n', start);
    if (end == std::string::npos) end = lines.size();
    std::string line = lines.substr(start, end - start);
    size_t tab = line.find('\t');
    if (tab != std::string::npos) options[line.substr(0, tab)] = line.substr(tab + 1);
    start = end + 1;
  }
  return options;
}

LocationScheme ParseLocationScheme(const std::string &location) {
  if (StartsWith(location, "file://")) return LocationScheme::kFile;
  if (StartsWith(location, "s3://")) return LocationScheme::kS3;
  if (StartsWith(location, "cos://")) return LocationScheme::kCos;
  throw Error(sqlstate::kInvalidParameterValue, "unsupported backup location \"" + location + "\"",
              "A location must start with file://, s3:// or cos://.", kLocationFormsHint);
}

bool LocationSkipsTlsVerification(const std::string &location, const StoreOptions &options) {
  if (ParseLocationScheme(location) == LocationScheme::kFile) return false;
  return s3::SkipsTlsVerification(s3::ParseS3Location(location, options));
}

bool LocationNeedsCredentials(const std::string &location) {
  return ParseLocationScheme(location) != LocationScheme::kFile;
}

bool UsesServerCredentials(const StoreOptions &options) {
  auto it = options.find("credentials");
  if (it == options.end()) return false;
  std::string value = it->second;
  for (auto &c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return value != "static";
}

void ValidateLocation(const std::string &location, const StoreOptions &options) {
  (void)StoreMaxRate(options);
  switch (ParseLocationScheme(location)) {
    case LocationScheme::kFile:
      FileStore::ParseRoot(location);
      // Refused rather than ignored: a user who asks for an archive class
      // must not believe the backups are in one.
      for (const char *name :
           {"storage_class", "manifest_storage_class", "restore_tier", "restore_days"})
        if (options.count(name))
          throw Error(sqlstate::kFdwInvalidOptionName,
                      std::string("option \"") + name + "\" applies to object storage only",
                      "A file:// target has no storage classes and nothing to thaw.",
                      "Drop the option, or use an s3:// or cos:// location.");
      return;
    case LocationScheme::kS3:
    case LocationScheme::kCos:
      s3::ParseS3Location(location, options);
      return;
  }
}

void ValidateSseCustomerKey(const std::string &location, const StoreOptions &options,
                            const std::string &key) {
  if (key.empty()) return;
  if (ParseLocationScheme(location) == LocationScheme::kFile)
    throw Error(sqlstate::kInvalidParameterValue,
                "option \"sse_customer_key\" applies only to s3:// and cos:// locations", {},
                "Drop sse_customer_key for a file:// target.");
  s3::CheckSseCombination(s3::ParseS3Location(location, options).sse, s3::ParseSseCustomerKey(key));
}

size_t RetryDeferredCleanups(long budget_ms, std::string *remaining) {
  return s3::RetryDeferredAborts(std::chrono::milliseconds(budget_ms), remaining);
}

std::unique_ptr<ObjectStore> OpenObjectStore(const std::string &location,
                                             const StoreOptions &options,
                                             const Credentials &credentials) {
  if (ParseLocationScheme(location) == LocationScheme::kFile)
    return std::make_unique<FileStore>(FileStore::ParseRoot(location));
  return std::make_unique<s3::S3Store>(s3::ParseS3Location(location, options), credentials);
}

}  // namespace cdw
