#include "s3/storage_class.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "s3/s3_location.h"
#include "storage/store_factory.h"

namespace cdw::s3 {
namespace {

std::string ErrorOf(const std::string &location, const StoreOptions &options) {
  try {
    ValidateLocation(location, options);
  } catch (const Error &e) {
    return std::string(e.sqlstate()) + " | " + e.what() + " | " + e.detail() + " | " + e.hint();
  }
  return "";
}

constexpr const char *kCos = "cos://b-1250000000.cos.ap-guangzhou.myqcloud.com/p";

TEST(StorageClassTest, OptionsAreParsedPerProvider) {
  S3Location s3 = ParseS3Location("s3://bucket/p", {{"storage_class", "glacier"}});
  EXPECT_EQ(s3.storage_class, "GLACIER");
  EXPECT_EQ(s3.manifest_storage_class, "STANDARD");  // metadata stays readable at once
  S3Location cos = ParseS3Location(kCos, {{"storage_class", "ARCHIVE"},
                                          {"manifest_storage_class", "standard_ia"},
                                          {"restore_tier", "bulk"},
                                          {"restore_days", "7"}});
  EXPECT_EQ(cos.storage_class, "ARCHIVE");
  EXPECT_EQ(cos.manifest_storage_class, "STANDARD_IA");
  EXPECT_EQ(cos.restore_tier, "Bulk");
  EXPECT_EQ(cos.restore_days, 7);
  // Nothing given: nothing sent, as before.
  S3Location plain = ParseS3Location("s3://bucket/p", {});
  EXPECT_EQ(plain.storage_class, "");
  EXPECT_EQ(plain.manifest_storage_class, "");
  EXPECT_EQ(plain.restore_tier, "Standard");
  EXPECT_EQ(plain.restore_days, 1);
}

TEST(StorageClassTest, WrongNamesListTheProvidersClasses) {
  std::string s3 = ErrorOf("s3://bucket/p", {{"storage_class", "ARCHIVE"}});
  EXPECT_NE(s3.find("HV024"), std::string::npos) << s3;
  EXPECT_NE(s3.find("S3 calls it GLACIER or DEEP_ARCHIVE"), std::string::npos) << s3;
  EXPECT_NE(s3.find("x-amz-storage-class"), std::string::npos) << s3;
  EXPECT_NE(s3.find("GLACIER_IR"), std::string::npos) << s3;
  std::string cos = ErrorOf(kCos, {{"manifest_storage_class", "GLACIER"}});
  EXPECT_NE(cos.find("\"manifest_storage_class\""), std::string::npos) << cos;
  EXPECT_NE(cos.find("COS calls it ARCHIVE"), std::string::npos) << cos;
  EXPECT_NE(cos.find("MAZ_STANDARD_IA"), std::string::npos) << cos;
  EXPECT_NE(cos.find("x-cos-storage-class"), std::string::npos) << cos;
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"restore_tier", "fast"}}).find("Expedited"),
            std::string::npos);
  for (const char *days : {"0", "366", "x", ""})
    EXPECT_NE(ErrorOf("s3://bucket/p", {{"restore_days", days}}).find("between 1 and 365"),
              std::string::npos)
        << days;
}

TEST(StorageClassTest, FileTargetsRefuseTheOptions) {
  for (const char *name :
       {"storage_class", "manifest_storage_class", "restore_tier", "restore_days"}) {
    std::string error = ErrorOf("file:///tmp/backups", {{name, "STANDARD"}});
    EXPECT_NE(error.find("HV00D"), std::string::npos) << error;
    EXPECT_NE(error.find("applies to object storage only"), std::string::npos) << error;
  }
  EXPECT_EQ(ErrorOf("file:///tmp/backups", {}), "");
}

TEST(StorageClassTest, HeaderNamesPerProvider) {
  EXPECT_STREQ(StorageClassHeader(false), "x-amz-storage-class");
  EXPECT_STREQ(StorageClassHeader(true), "x-cos-storage-class");
  EXPECT_STREQ(RestoreHeader(false), "x-amz-restore");
  EXPECT_STREQ(RestoreHeader(true), "x-cos-restore");
}

TEST(StorageClassTest, OnlyArchiveClassesNeedAThaw) {
  for (const char *name : {"GLACIER", "DEEP_ARCHIVE", "ARCHIVE", "deep_archive"})
    EXPECT_TRUE(NeedsThaw(name)) << name;
  for (const char *name : {"", "STANDARD", "STANDARD_IA", "GLACIER_IR", "INTELLIGENT_TIERING"})
    EXPECT_FALSE(NeedsThaw(name)) << name;
}

TEST(StorageClassTest, RestoreRequestBodies) {
  EXPECT_EQ(RestoreRequestBody(3, "Expedited", false),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Days>3</Days>"
            "<GlacierJobParameters><Tier>Expedited</Tier></GlacierJobParameters>"
            "</RestoreRequest>");
  std::string cos = RestoreRequestBody(1, "Bulk", true);
  EXPECT_NE(cos.find("<Days>1</Days><CASJobParameters><Tier>Bulk</Tier></CASJobParameters>"),
            std::string::npos)
      << cos;
  EXPECT_EQ(cos.find("Glacier"), std::string::npos);
}

TEST(StorageClassTest, RestoreHeaderValues) {
  RestoreHeaderInfo none = ParseRestoreHeaderValue("");
  EXPECT_FALSE(none.present);
  RestoreHeaderInfo ongoing = ParseRestoreHeaderValue("ongoing-request=\"true\"");
  EXPECT_TRUE(ongoing.present);
  EXPECT_TRUE(ongoing.ongoing);
  RestoreHeaderInfo done = ParseRestoreHeaderValue(
      "ongoing-request=\"false\", expiry-date=\"Fri, 23 Dec 2012 00:00:00 GMT\"");
  EXPECT_TRUE(done.present);
  EXPECT_FALSE(done.ongoing);
  EXPECT_EQ(done.expiry, "Fri, 23 Dec 2012 00:00:00 GMT");
  EXPECT_FALSE(ParseRestoreHeaderValue("garbage").present);
}

}  // namespace
}  // namespace cdw::s3
