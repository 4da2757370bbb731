#include "s3/storage_class.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "common/error.h"

namespace cdw::s3 {

namespace {

std::string Upper(std::string s) {
  for (auto &c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Joined(const std::vector<std::string> &names) {
  std::string list;
  for (const auto &name : names) list += (list.empty() ? "" : ", ") + name;
  return list;
}

[[noreturn]] void BadValue(const std::string &option, const std::string &value,
                           const std::string &detail, const std::string &hint) {
  throw Error(sqlstate::kFdwInvalidOptionValue,
              "invalid value for option \"" + option + "\": \"" + value + "\"", detail, hint);
}

}  // namespace

const std::vector<std::string> &StorageClassNames(bool cos) {
  static const std::vector<std::string> kS3 = {"STANDARD",   "REDUCED_REDUNDANCY",  "STANDARD_IA",
                                               "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR",
                                               "GLACIER",    "DEEP_ARCHIVE",        "OUTPOSTS",
                                               "SNOW",       "EXPRESS_ONEZONE"};
  static const std::vector<std::string> kCos = {"STANDARD",
                                                "STANDARD_IA",
                                                "ARCHIVE",
                                                "DEEP_ARCHIVE",
                                                "INTELLIGENT_TIERING",
                                                "MAZ_STANDARD",
                                                "MAZ_STANDARD_IA",
                                                "MAZ_INTELLIGENT_TIERING",
                                                "MAZ_ARCHIVE"};
  return cos ? kCos : kS3;
}

std::string ParseStorageClass(const std::string &option, const std::string &value, bool cos) {
  std::string canonical = Upper(value);
  for (const auto &name : StorageClassNames(cos))
    if (name == canonical) return canonical;
  std::string detail;
  if (!cos && (canonical == "ARCHIVE"))
    detail = "ARCHIVE is a COS storage class; S3 calls it GLACIER or DEEP_ARCHIVE.";
  if (cos && (canonical == "GLACIER" || canonical == "GLACIER_IR"))
    detail = canonical + " is an S3 storage class; COS calls it ARCHIVE.";
  BadValue(option, value, detail,
           std::string(cos ? "COS" : "S3") + " storage classes (" + StorageClassHeader(cos) +
               ") are: " + Joined(StorageClassNames(cos)) + ".");
}

const char *StorageClassHeader(bool cos) {
  return cos ? "x-cos-storage-class" : "x-amz-storage-class";
}

const char *RestoreHeader(bool cos) {
  return cos ? "x-cos-restore" : "x-amz-restore";
}

bool NeedsThaw(const std::string &storage_class) {
  std::string name = Upper(storage_class);
  return name == "GLACIER" || name == "DEEP_ARCHIVE" || name == "ARCHIVE" || name == "MAZ_ARCHIVE";
}

std::string ParseRestoreTier(const std::string &option, const std::string &value) {
  std::string canonical = Upper(value);
  if (canonical == "EXPEDITED") return "Expedited";
  if (canonical == "STANDARD") return "Standard";
  if (canonical == "BULK") return "Bulk";
  BadValue(option, value, {},
           "Use Expedited (minutes, the dearest), Standard (hours) or Bulk (the cheapest, up to "
           "two days).");
}

int ParseRestoreDays(const std::string &option, const std::string &value) {
  char *end = nullptr;
  errno = 0;
  long long days = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || days < 1 || days > 365)
    BadValue(option, value, {},
             "Use a number of days between 1 and 365: how long the thawed copy stays readable.");
  return static_cast<int>(days);
}

std::string RestoreRequestBody(int days, const std::string &tier, bool cos) {
  const char *parameters = cos ? "CASJobParameters" : "GlacierJobParameters";
  return std::string(
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">") +
         "<Days>" + std::to_string(days) + "</Days><" + parameters + "><Tier>" + tier +
         "</Tier></" + parameters + "></RestoreRequest>";
}

RestoreHeaderInfo ParseRestoreHeaderValue(const std::string &value) {
  RestoreHeaderInfo info;
  auto field = [&](const char *name, std::string *out) {
    std::string key = std::string(name) + "=\"";
    size_t start = value.find(key);
    if (start == std::string::npos) return false;
    start += key.size();
    size_t end = value.find('"', start);
    if (end == std::string::npos) return false;
    *out = value.substr(start, end - start);
    return true;
  };
  std::string ongoing;
  if (!field("ongoing-request", &ongoing)) return info;
  info.present = true;
  info.ongoing = ongoing == "true";
  field("expiry-date", &info.expiry);
  return info;
}

}  // namespace cdw::s3
