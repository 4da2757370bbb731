// Credential sources: option parsing, the shared credentials file, the
// instance metadata documents (EC2 IMDS and Tencent CVM), renewal times, and
// the environment provider.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <fstream>
#include <string>

#include "common/error.h"
#include "s3/credential_provider.h"
#include "s3/credentials.h"
#include "s3/s3_location.h"

namespace cdw::s3 {
namespace {

std::string ErrorText(const Error &e) {
  return e.sqlstate() + " " + e.what() + " | " + e.detail() + " | " + e.hint();
}

TEST(CredentialSettingsTest, SourcesAndTheirOptions) {
  EXPECT_EQ(ParseCredentialSettings({}, false).source, CredentialSource::kStatic);
  EXPECT_EQ(ParseCredentialSettings({{"credentials", "static"}}, false).source,
            CredentialSource::kStatic);
  EXPECT_EQ(ParseCredentialSettings({{"credentials", "ENV"}}, false).source,
            CredentialSource::kEnv);
  EXPECT_EQ(ParseCredentialSettings({{"credentials", "imds"}}, true).source,
            CredentialSource::kImds);
  EXPECT_EQ(ParseCredentialSettings({{"credentials", "cvm"}}, false).source,
            CredentialSource::kCvm);
  // 'instance' is the metadata service of the location's cloud.
  EXPECT_EQ(ParseCredentialSettings({{"credentials", "instance"}}, false).source,
            CredentialSource::kImds);
  EXPECT_EQ(ParseCredentialSettings({{"credentials", "instance"}}, true).source,
            CredentialSource::kCvm);

  auto env = ParseCredentialSettings({{"credentials", "env"}, {"profile", "backup"}}, false);
  EXPECT_EQ(env.profile, "backup");
  auto cvm = ParseCredentialSettings({{"credentials", "cvm"},
                                      {"role", "cdw-backup"},
                                      {"metadata_endpoint", "http://127.0.0.1:9/"}},
                                     true);
  EXPECT_EQ(cvm.role, "cdw-backup");
  EXPECT_EQ(cvm.MetadataEndpoint(), "http://127.0.0.1:9");
  EXPECT_EQ(ParseCredentialSettings({{"credentials", "cvm"}}, true).MetadataEndpoint(),
            "http://metadata.tencentyun.com");
  EXPECT_EQ(ParseCredentialSettings({{"credentials", "imds"}}, false).MetadataEndpoint(),
            "http://169.254.169.254");
}

TEST(CredentialSettingsTest, RejectsWhatDoesNotFit) {
  auto rejects = [](const StoreOptions &options, const std::string &needle) {
    try {
      ParseCredentialSettings(options, false);
      ADD_FAILURE() << "accepted " << needle;
    } catch (const Error &e) {
      EXPECT_EQ(e.sqlstate(), "HV024");
      EXPECT_NE(ErrorText(e).find(needle), std::string::npos) << ErrorText(e);
    }
  };
  rejects({{"credentials", "iam"}}, "'imds'");
  rejects({{"profile", "x"}}, "credentials 'env'");
  rejects({{"credentials", "imds"}, {"profile", "x"}}, "credentials 'env'");
  rejects({{"credentials", "env"}, {"role", "r"}}, "'imds' and 'cvm'");
  rejects({{"credentials", "env"}, {"metadata_endpoint", "http://127.0.0.1:1"}}, "tests");
  rejects({{"credentials", "imds"}, {"metadata_endpoint", "file:///etc/passwd"}}, "http://");
  rejects({{"credentials", "imds"}, {"metadata_endpoint", "http://h/latest?x"}}, "http://");
  rejects({{"credentials", "imds"}, {"role", "../../user-data"}}, "role name");
}

TEST(CredentialSettingsTest, AreLocationOptions) {
  S3Location loc = ParseS3Location("cos://backup-1250000000.cos.ap-guangzhou.myqcloud.com/p",
                                   {{"credentials", "instance"}, {"role", "cdw"}});
  EXPECT_EQ(loc.credential_settings.source, CredentialSource::kCvm);
  EXPECT_EQ(loc.credential_settings.role, "cdw");
  const auto &names = S3OptionNames();
  for (const char *name : {"credentials", "profile", "role", "metadata_endpoint"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  EXPECT_TRUE(UsesServerCredentials({{"credentials", "Env"}}));
  EXPECT_FALSE(UsesServerCredentials({{"credentials", "static"}}));
  EXPECT_FALSE(UsesServerCredentials({}));
}

TEST(MetadataDocumentTest, Imds) {
  auto parsed = ParseImdsCredentials(R"({
    "Code" : "Success", "LastUpdated" : "2026-12-02T03:00:00Z", "Type" : "AWS-HMAC",
    "AccessKeyId" : "ASIAEXAMPLE", "SecretAccessKey" : "s3cr3t/+", "Token" : "tok==",
    "Expiration" : "2026-12-02T09:27:46Z" })");
  EXPECT_EQ(parsed.credentials.access_key_id, "ASIAEXAMPLE");
  EXPECT_EQ(parsed.credentials.secret_access_key, "s3cr3t/+");
  EXPECT_EQ(parsed.credentials.session_token, "tok==");
  EXPECT_EQ(parsed.expires_at, 1796203666LL);
}

TEST(MetadataDocumentTest, Cvm) {
  auto parsed = ParseCvmCredentials(R"({"TmpSecretId":"AKIDtmp","TmpSecretKey":"k3y",
    "ExpiredTime":1506433269,"Expiration":"2017-09-26T13:41:09Z","Token":"cvmtoken",
    "Code":"Success"})");
  EXPECT_EQ(parsed.credentials.access_key_id, "AKIDtmp");
  EXPECT_EQ(parsed.credentials.secret_access_key, "k3y");
  EXPECT_EQ(parsed.credentials.session_token, "cvmtoken");
  EXPECT_EQ(parsed.expires_at, 1506433269LL);
  // Without ExpiredTime, Expiration is used.
  EXPECT_EQ(ParseCvmCredentials(R"({"TmpSecretId":"a","TmpSecretKey":"b","Token":"c",
                                    "Expiration":"2017-09-26T13:41:09Z"})")
                .expires_at,
            1506433269LL);
}

TEST(MetadataDocumentTest, ErrorsNeverEchoTheDocument) {
  auto fails = [](const std::string &json, bool cvm, const std::string &needle) {
    try {
      cvm ? ParseCvmCredentials(json) : ParseImdsCredentials(json);
      ADD_FAILURE() << json;
    } catch (const Error &e) {
      std::string text = ErrorText(e);
      EXPECT_EQ(e.sqlstate(), "28000");
      EXPECT_NE(text.find(needle), std::string::npos) << text;
      EXPECT_EQ(text.find("SECRETVALUE"), std::string::npos) << text;
    }
  };
  fails(R"({"AccessKeyId":"a","SecretAccessKey":"SECRETVALUE","Token":"t"})", false, "Expiration");
  fails(R"({"AccessKeyId":"a","SecretAccessKey":"SECRETVALUE","Expiration":"x"})", false, "Token");
  fails(R"({"AccessKeyId":"a","SecretAccessKey":"SECRETVALUE","Token":"t","Expiration":"soon"})",
        false, "ISO 8601");
  fails(R"({"Code":"AssumeRoleUnauthorizedAccess","SecretAccessKey":"SECRETVALUE"})", false,
        "AssumeRoleUnauthorizedAccess");
  fails("SECRETVALUE not json", false, "not valid JSON");
  fails(R"({"TmpSecretId":"a","TmpSecretKey":"SECRETVALUE","Token":"t"})", true, "ExpiredTime");
  fails(R"(["TmpSecretKey","SECRETVALUE"])", true, "not a JSON object");
}

TEST(MetadataDocumentTest, RoleListingAndTimes) {
  EXPECT_EQ(FirstRoleName("cdw-backup\n"), "cdw-backup");
  EXPECT_EQ(FirstRoleName("\n  first \nsecond"), "first");
  EXPECT_EQ(FirstRoleName(""), "");
  EXPECT_TRUE(ValidRoleName("CVM_QcsRole"));
  EXPECT_FALSE(ValidRoleName("a/b"));
  EXPECT_FALSE(ValidRoleName(""));
  EXPECT_EQ(ParseIso8601Utc("1970-01-01T00:00:10Z"), 10);
  EXPECT_EQ(ParseIso8601Utc("1970-01-01T00:01:00.123Z"), 60);
  EXPECT_EQ(ParseIso8601Utc("1970-01-01T00:01:00+00:00"), 60);
  EXPECT_FALSE(ParseIso8601Utc("1970-01-01T00:01:00+08:00"));
  EXPECT_FALSE(ParseIso8601Utc("1970-01-01"));
  EXPECT_FALSE(ParseIso8601Utc("1970-13-01T00:00:00Z"));
}

TEST(SharedCredentialsFileTest, Profiles) {
  const std::string text =
      "# comment\n"
      "[default]\n"
      "aws_access_key_id = AKIADEFAULT\n"
      "aws_secret_access_key=defaultsecret\n"
      "\n"
      "[backup]\r\n"
      "; another comment\r\n"
      "aws_access_key_id = AKIABACKUP\r\n"
      "aws_secret_access_key = backup/secret+=\r\n"
      "aws_session_token = FwoGZXIvYXdz\r\n"
      "region = eu-west-1\r\n"
      "[incomplete]\n"
      "aws_access_key_id = AKIAONLY\n";
  auto def = CredentialsFromIni(text, "default");
  ASSERT_TRUE(def);
  EXPECT_EQ(def->access_key_id, "AKIADEFAULT");
  EXPECT_EQ(def->secret_access_key, "defaultsecret");
  EXPECT_EQ(def->session_token, "");
  auto backup = CredentialsFromIni(text, "backup");
  ASSERT_TRUE(backup);
  EXPECT_EQ(backup->access_key_id, "AKIABACKUP");
  EXPECT_EQ(backup->secret_access_key, "backup/secret+=");
  EXPECT_EQ(backup->session_token, "FwoGZXIvYXdz");
  EXPECT_FALSE(CredentialsFromIni(text, "incomplete"));
  EXPECT_FALSE(CredentialsFromIni(text, "missing"));
  EXPECT_FALSE(CredentialsFromIni("", "default"));
}

TEST(RenewalTimeTest, BeforeExpiry) {
  EXPECT_EQ(RenewalTime(1000, 0), 0);                   // never expires
  EXPECT_EQ(RenewalTime(0, 6 * 3600), 6 * 3600 - 300);  // hours: 5 minutes before
  EXPECT_EQ(RenewalTime(0, 600), 600 - 150);            // a quarter of the lifetime
  EXPECT_EQ(RenewalTime(100, 112), 109);                // 12 s test credentials: 3 s before
  EXPECT_EQ(RenewalTime(100, 104), 102);                // at least 2 s before
  EXPECT_EQ(RenewalTime(100, 101), 101);                // but not before 1 s has passed
  EXPECT_EQ(RenewalTime(100, 90), 101);                 // already expired: retry in 1 s
}

struct EnvGuard {
  explicit EnvGuard(std::vector<std::pair<std::string, std::string>> values) {
    for (const char *name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                             "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"}) {
      const char *old = std::getenv(name);
      saved.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(name);
    }
    for (const auto &[name, value] : values) setenv(name.c_str(), value.c_str(), 1);
  }
  ~EnvGuard() {
    for (const auto &[name, value] : saved) {
      if (value)
        setenv(name.c_str(), value->c_str(), 1);
      else
        unsetenv(name.c_str());
    }
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
};

Credentials EnvCredentials(const std::string &profile = "") {
  CredentialSettings settings;
  settings.source = CredentialSource::kEnv;
  settings.profile = profile;
  return MakeCredentialProvider(settings, {}, "s3://b/")->Get({});
}

TEST(EnvCredentialsTest, VariablesThenFile) {
  std::string file = ::testing::TempDir() + "cdw_credentials_test.ini";
  {
    std::ofstream out(file);
    out << "[default]\naws_access_key_id=AKIAFILE\naws_secret_access_key=filesecret\n"
           "[other]\naws_access_key_id=AKIAOTHER\naws_secret_access_key=othersecret\n";
  }
  {
    EnvGuard env({{"AWS_ACCESS_KEY_ID", "AKIAENV"},
                  {"AWS_SECRET_ACCESS_KEY", "envsecret"},
                  {"AWS_SESSION_TOKEN", "envtoken"},
                  {"AWS_SHARED_CREDENTIALS_FILE", file}});
    Credentials c = EnvCredentials();
    EXPECT_EQ(c.access_key_id, "AKIAENV");
    EXPECT_EQ(c.session_token, "envtoken");
    // An explicit profile reads the file.
    EXPECT_EQ(EnvCredentials("other").access_key_id, "AKIAOTHER");
  }
  {
    EnvGuard env({{"AWS_SHARED_CREDENTIALS_FILE", file}});
    EXPECT_EQ(EnvCredentials().access_key_id, "AKIAFILE");
  }
  {
    EnvGuard env({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "other"}});
    EXPECT_EQ(EnvCredentials().secret_access_key, "othersecret");
  }
  {
    EnvGuard env({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_ACCESS_KEY_ID", "AKIAHALF"}});
    try {
      EnvCredentials("nosuch");
      ADD_FAILURE() << "no error";
    } catch (const Error &e) {
      std::string text = ErrorText(e);
      EXPECT_EQ(e.sqlstate(), "28000");
      EXPECT_NE(text.find("Profile \"nosuch\""), std::string::npos) << text;
      EXPECT_NE(text.find(file), std::string::npos) << text;
      EXPECT_NE(text.find("AWS_ACCESS_KEY_ID"), std::string::npos) << text;  // the hint
      EXPECT_EQ(text.find("filesecret"), std::string::npos) << text;
    }
  }
  std::remove(file.c_str());
}

TEST(CredentialProviderTest, StaticNeedsAndOthersRefuseGivenSecrets) {
  CredentialSettings settings;
  EXPECT_THROW(MakeCredentialProvider(settings, {}, "s3://b/"), Error);
  EXPECT_EQ(
      MakeCredentialProvider(settings, {"id", "key", "tok"}, "s3://b/")->Get({}).session_token,
      "tok");
  settings.source = CredentialSource::kImds;
  try {
    MakeCredentialProvider(settings, {"id", "key", ""}, "s3://b/");
    ADD_FAILURE() << "accepted secrets with credentials 'imds'";
  } catch (const Error &e) {
    EXPECT_NE(ErrorText(e).find("Drop secret_id"), std::string::npos) << ErrorText(e);
    EXPECT_EQ(std::string(e.what()).find("id\""), std::string::npos);
  }
}

}  // namespace
}  // namespace cdw::s3
