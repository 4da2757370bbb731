#include "s3/s3_location.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "storage/store_factory.h"

namespace cdw::s3 {
namespace {

std::string ErrorOf(const std::string &location, const StoreOptions &options = {}) {
  try {
    ParseS3Location(location, options);
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), sqlstate::kFdwInvalidOptionValue);
    return std::string(e.what()) + " | " + e.detail() + " | " + e.hint();
  }
  return "";
}

TEST(S3LocationTest, AwsDefaultsToVirtualHostedHttps) {
  S3Location loc = ParseS3Location("s3://my-bucket/pg/prod/", {});
  EXPECT_FALSE(loc.cos);
  EXPECT_EQ(loc.bucket, "my-bucket");
  EXPECT_EQ(loc.prefix, "pg/prod/");
  EXPECT_EQ(loc.region, "us-east-1");
  EXPECT_TRUE(loc.https);
  EXPECT_FALSE(loc.path_style);
  EXPECT_EQ(loc.RequestHost(), "my-bucket.s3.us-east-1.amazonaws.com");
  EXPECT_EQ(loc.BaseUrl(), "https://my-bucket.s3.us-east-1.amazonaws.com");
  EXPECT_EQ(loc.RequestPath("pg/prod/a b"), "/pg/prod/a b");
  EXPECT_EQ(loc.RequestPath(""), "/");
  EXPECT_EQ(loc.DisplayUrl("pg/prod/x.csv"), "s3://my-bucket/pg/prod/x.csv");
  EXPECT_EQ(loc.ConnectionTarget(), "my-bucket.s3.us-east-1.amazonaws.com:443");

  S3Location eu = ParseS3Location("s3://my-bucket", {{"region", "eu-central-1"}});
  EXPECT_EQ(eu.prefix, "");
  EXPECT_EQ(eu.RequestHost(), "my-bucket.s3.eu-central-1.amazonaws.com");
}

TEST(S3LocationTest, EndpointDefaultsToPathStyle) {
  S3Location loc = ParseS3Location("s3://cdw-test/a", {{"endpoint", "http://127.0.0.1:5000"}});
  EXPECT_TRUE(loc.path_style);
  EXPECT_FALSE(loc.https);
  EXPECT_EQ(loc.RequestHost(), "127.0.0.1:5000");
  EXPECT_EQ(loc.RequestPath("a/k"), "/cdw-test/a/k");
  EXPECT_EQ(loc.RequestPath(""), "/cdw-test");
  EXPECT_EQ(loc.BaseUrl(), "http://127.0.0.1:5000");

  S3Location vhost = ParseS3Location(
      "s3://cdw-test", {{"endpoint", "https://minio.example.com:443/"}, {"path_style", "false"}});
  EXPECT_FALSE(vhost.path_style);
  EXPECT_EQ(vhost.RequestHost(), "cdw-test.minio.example.com");  // default port omitted

  S3Location no_scheme =
      ParseS3Location("s3://b-1/x", {{"endpoint", "minio:9000"}, {"https", "off"}});
  EXPECT_EQ(no_scheme.BaseUrl(), "http://minio:9000");
  S3Location v6 = ParseS3Location("s3://b-1/x", {{"endpoint", "http://[::1]:9000"}});
  EXPECT_EQ(v6.RequestHost(), "[::1]:9000");
}

TEST(S3LocationTest, DottedAwsBucketsUsePathStyleOverHttps) {
  EXPECT_TRUE(ParseS3Location("s3://my.dotted.bucket/p", {}).path_style);
  EXPECT_FALSE(ParseS3Location("s3://my.dotted.bucket/p", {{"path_style", "false"}}).path_style);
  // Names that are no DNS label cannot be virtual-hosted at all.
  EXPECT_NE(ErrorOf("s3://Legacy_Bucket/p", {{"path_style", "false"}}).find("path_style"),
            std::string::npos);
  EXPECT_TRUE(ParseS3Location("s3://Legacy_Bucket/p", {{"path_style", "true"}}).path_style);
}

TEST(S3LocationTest, CosVirtualHostedForm) {
  S3Location loc =
      ParseS3Location("cos://backup-1250000000.cos.ap-guangzhou.myqcloud.com/pg/daily", {});
  EXPECT_TRUE(loc.cos);
  EXPECT_EQ(loc.bucket, "backup-1250000000");
  EXPECT_EQ(loc.region, "ap-guangzhou");
  EXPECT_EQ(loc.prefix, "pg/daily/");
  EXPECT_FALSE(loc.path_style);
  EXPECT_TRUE(loc.https);
  EXPECT_EQ(loc.RequestHost(), "backup-1250000000.cos.ap-guangzhou.myqcloud.com");
  EXPECT_EQ(loc.BaseUrl(), "https://backup-1250000000.cos.ap-guangzhou.myqcloud.com");
  EXPECT_EQ(loc.RequestPath("pg/daily/x"), "/pg/daily/x");
  EXPECT_EQ(loc.DisplayUrl("pg/daily/x"),
            "cos://backup-1250000000.cos.ap-guangzhou.myqcloud.com/pg/daily/x");

  S3Location http = ParseS3Location("cos://backup-1250000000.cos.ap-guangzhou.myqcloud.com/",
                                    {{"https", "false"}});
  EXPECT_EQ(http.BaseUrl(), "http://backup-1250000000.cos.ap-guangzhou.myqcloud.com");
  EXPECT_EQ(http.prefix, "");
}

TEST(S3LocationTest, CosOlderFormMapsToVirtualHosted) {
  S3Location loc =
      ParseS3Location("cos://cos.ap-shanghai.myqcloud.com/backup-1250000000/pg/x/", {});
  EXPECT_EQ(loc.bucket, "backup-1250000000");
  EXPECT_EQ(loc.region, "ap-shanghai");
  EXPECT_EQ(loc.prefix, "pg/x/");
  EXPECT_EQ(loc.RequestHost(), "backup-1250000000.cos.ap-shanghai.myqcloud.com");
  EXPECT_FALSE(loc.path_style);
}

TEST(S3LocationTest, CosEndpointAndConnectTo) {
  // endpoint replaces the service endpoint; requests stay virtual-hosted on it.
  S3Location loc = ParseS3Location("cos://backup-1250000000.cos.ap-guangzhou.myqcloud.com/pg",
                                   {{"endpoint", "http://cos.ap-guangzhou.myqcloud.com:8080"},
                                    {"connect_to", "127.0.0.1:5000"}});
  EXPECT_FALSE(loc.path_style);
  EXPECT_EQ(loc.RequestHost(), "backup-1250000000.cos.ap-guangzhou.myqcloud.com:8080");
  EXPECT_EQ(loc.BaseUrl(), "http://backup-1250000000.cos.ap-guangzhou.myqcloud.com:8080");
  EXPECT_EQ(loc.connect_to, "127.0.0.1:5000");
  EXPECT_EQ(loc.ConnectionTarget(), "127.0.0.1:5000");
  EXPECT_EQ(loc.region, "ap-guangzhou");
  EXPECT_TRUE(ParseS3Location("cos://backup-1250000000.cos.ap-guangzhou.myqcloud.com/pg",
                              {{"endpoint", "http://127.0.0.1:9"}, {"path_style", "true"}})
                  .path_style);
}

TEST(S3LocationTest, RejectsMalformedLocations) {
  EXPECT_NE(ErrorOf("cos://backup.cos.ap-guangzhou.myqcloud.com/p").find("<appid>"),
            std::string::npos);
  EXPECT_NE(ErrorOf("cos://backup-125.example.com/p").find("myqcloud.com"), std::string::npos);
  EXPECT_NE(ErrorOf("cos://cos.ap-guangzhou.myqcloud.com/").find("appid"), std::string::npos);
  EXPECT_NE(ErrorOf("cos://backup-125.cos.ap-guangzhou.myqcloud.com:81/p").find("endpoint"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://ab/p").find("bucket"), std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/a/../b").find(".."), std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/a?region=x").find("options"), std::string::npos);
  EXPECT_NE(ErrorOf("s3://").find("bucket"), std::string::npos);
  // Credentials in a location are refused without echoing them.
  std::string leaked = ErrorOf("s3://AKIA:SECRETXYZ@bucket/p");
  EXPECT_NE(leaked.find("user mapping"), std::string::npos);
  EXPECT_EQ(leaked.find("SECRETXYZ"), std::string::npos);
  std::string endpoint_leak = ErrorOf("s3://bucket/p", {{"endpoint", "http://k:SECRETXYZ@h"}});
  EXPECT_EQ(endpoint_leak.find("SECRETXYZ"), std::string::npos);
}

TEST(S3LocationTest, ValidatesOptions) {
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"path_style", "maybe"}}).find("true or false"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"endpoint", "ftp://x"}}).find("endpoint"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"endpoint", "http://h/path"}}).find("without"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf("s3://bucket/p", {{"endpoint", "https://h"}, {"https", "false"}}).find("conflicting"),
      std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"connect_to", "127.0.0.1"}}).find("host:port"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"connect_to", "h:99999"}}).find("host:port"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"region", "US East"}}).find("region"), std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"retry_max_attempts", "0"}}).find("between 1 and 100"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"retry_max_seconds", "x"}}).find("integer"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"part_size", "4MB"}}).find("5MB"), std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"part_size", "6GB"}}).find("5GB"), std::string::npos);

  S3Location loc = ParseS3Location(
      "s3://bucket/p",
      {{"retry_max_attempts", "3"}, {"retry_max_seconds", "30"}, {"part_size", "16MB"}});
  EXPECT_EQ(loc.retry.max_attempts, 3);
  EXPECT_EQ(loc.retry.max_total, std::chrono::seconds(30));
  EXPECT_EQ(loc.part_size, 16 * kMiB);
  EXPECT_EQ(ParseByteSize("part_size", "5242880"), 5 * kMiB);
  EXPECT_EQ(ParseByteSize("part_size", "1GB"), 1024 * kMiB);
  EXPECT_EQ(ParseByteSize("part_size", "64MiB"), 64 * kMiB);
  EXPECT_THROW(ParseByteSize("part_size", "MB"), Error);
  EXPECT_THROW(ParseByteSize("part_size", "12 parsecs"), Error);
}

TEST(S3LocationTest, ChecksumDefaultsToCrc32ForS3AndCanBeTurnedOff) {
  EXPECT_TRUE(ParseS3Location("s3://bucket/p", {}).checksum_crc32);
  EXPECT_FALSE(
      ParseS3Location("cos://b-1250000000.cos.ap-guangzhou.myqcloud.com/p", {}).checksum_crc32);
  EXPECT_FALSE(ParseS3Location("s3://bucket/p", {{"checksum", "none"}}).checksum_crc32);
  EXPECT_TRUE(ParseS3Location("s3://bucket/p", {{"checksum", "CRC32"}}).checksum_crc32);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"checksum", "md5"}}).find("'none'"), std::string::npos);
}

TEST(S3LocationTest, TlsProxyAndTimeoutOptions) {
  S3Location plain = ParseS3Location("s3://bucket/p", {});
  EXPECT_TRUE(plain.tls_verify);
  EXPECT_FALSE(plain.proxy_set);  // libcurl's default: the environment's proxy
  EXPECT_EQ(plain.connect_timeout_ms, 10000);
  EXPECT_EQ(plain.request_timeout_ms, 0);

  S3Location loc = ParseS3Location("s3://bucket/p", {{"ca_file", "/dev/null"},
                                                     {"ca_path", "/"},
                                                     {"tls_verify", "false"},
                                                     {"proxy", "http://proxy.example:3128"},
                                                     {"connect_timeout", "500ms"},
                                                     {"request_timeout", "2min"}});
  EXPECT_EQ(loc.ca_path, "/");
  EXPECT_FALSE(loc.tls_verify);
  EXPECT_TRUE(SkipsTlsVerification(loc));
  EXPECT_TRUE(loc.proxy_set);
  EXPECT_EQ(loc.proxy, "http://proxy.example:3128");
  EXPECT_EQ(loc.connect_timeout_ms, 500);
  EXPECT_EQ(loc.request_timeout_ms, 120000);
  S3Location none = ParseS3Location("s3://bucket/p", {{"proxy", "none"}});
  EXPECT_TRUE(none.proxy_set);
  EXPECT_EQ(none.proxy, "");
  // Over plain http nothing is verified anyway: nothing to warn about.
  EXPECT_FALSE(SkipsTlsVerification(ParseS3Location(
      "s3://bucket/p", {{"endpoint", "http://127.0.0.1:9000"}, {"tls_verify", "false"}})));

  EXPECT_EQ(ParseDurationMs("t", "30"), 30000);
  EXPECT_EQ(ParseDurationMs("t", "2.5"), 2500);
  EXPECT_EQ(ParseDurationMs("t", "1 minute"), 60000);
  EXPECT_EQ(ParseDurationMs("t", "1h"), 3600000);
  EXPECT_EQ(ParseDurationMs("t", "250 ms"), 250);
  for (const char *bad : {"", "s", "1.2.3", "10 parsecs", "-1", "1e9"})
    EXPECT_THROW(ParseDurationMs("t", bad), Error) << bad;

  EXPECT_NE(ErrorOf("s3://bucket/p", {{"ca_file", "ca.pem"}}).find("absolute"), std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"ca_file", "/no/such/ca.pem"}}).find("No such file"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"ca_path", "/dev/null"}}).find("Not a directory"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"proxy", "ftp://p:21"}}).find("'none'"), std::string::npos);
  std::string with_password = ErrorOf("s3://bucket/p", {{"proxy", "http://u:s3cr3t@p:3128"}});
  EXPECT_NE(with_password.find("https_proxy"), std::string::npos);
  EXPECT_EQ(with_password.find("s3cr3t"), std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"connect_timeout", "50ms"}}).find("100 milliseconds"),
            std::string::npos);
  EXPECT_NE(ErrorOf("s3://bucket/p", {{"request_timeout", "soon"}}).find("'500ms'"),
            std::string::npos);
}

TEST(S3LocationTest, OptionNamesAreTheStoreOptions) {
  const auto &names = S3OptionNames();
  for (const char *name : {"endpoint", "region", "path_style", "https", "connect_to",
                           "retry_max_attempts", "retry_max_seconds", "part_size"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  // The store options are the S3 options and the scheme-independent ones (max_rate).
  const auto &store = StoreOptionNames();
  for (const auto &name : names)
    EXPECT_NE(std::find(store.begin(), store.end(), name), store.end()) << name;
  for (const auto &name : names) EXPECT_EQ(name.find("secret"), std::string::npos);
}

TEST(S3LocationTest, StoreFactoryValidatesObjectStorageLocations) {
  EXPECT_NO_THROW(ValidateLocation("s3://bucket/p", {{"endpoint", "http://127.0.0.1:9000"}}));
  EXPECT_NO_THROW(ValidateLocation("cos://b-1250000000.cos.ap-guangzhou.myqcloud.com/p", {}));
  EXPECT_THROW(ValidateLocation("cos://b.cos.ap-guangzhou.myqcloud.com/p", {}), Error);
  EXPECT_THROW(ValidateLocation("s3://bucket/p", {{"part_size", "1MB"}}), Error);
  EXPECT_TRUE(LocationNeedsCredentials("s3://bucket/p"));
  // Opening without credentials says where they belong.
  try {
    OpenObjectStore("s3://bucket/p", {}, Credentials{});
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("secret_id and secret_key"), std::string::npos);
    EXPECT_NE(e.hint().find("USER MAPPING"), std::string::npos);
  }
}

}  // namespace
}  // namespace cdw::s3
