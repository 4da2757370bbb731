// Server-side encryption options (s3/sse.h): parsing per provider, the
// headers each request gets, the hints for the store's refusals, and that
// the SSE-C key never appears in an error.
#include "s3/sse.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "s3/s3_client.h"
#include "s3/s3_location.h"

namespace cdw::s3 {
namespace {

constexpr const char *kHexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr const char *kBase64Key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr const char *kKeyMd5 = "tP/LI3N87DFaSk0aoqYgzg==";

std::string ErrorOf(bool cos, const StoreOptions &options) {
  try {
    ParseSseOptions(cos, options);
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), sqlstate::kFdwInvalidOptionValue);
    return std::string(e.what()) + " | " + e.detail() + " | " + e.hint();
  }
  return "";
}

std::string Header(const HeaderList &headers, const std::string &name) {
  for (const auto &[key, value] : headers)
    if (key == name) return value;
  return "<absent>";
}

TEST(S3SseTest, ModesPerProvider) {
  EXPECT_EQ(ParseSseOptions(false, {}).mode, SseMode::kNone);
  EXPECT_EQ(ParseSseOptions(false, {{"sse", "AES256"}}).mode, SseMode::kAes256);
  EXPECT_EQ(ParseSseOptions(false, {{"sse", "aws:kms"}}).mode, SseMode::kKms);
  EXPECT_EQ(ParseSseOptions(true, {{"sse", "AES256"}}).mode, SseMode::kAes256);
  EXPECT_EQ(ParseSseOptions(true, {{"sse", "cos/kms"}}).mode, SseMode::kKms);
  // The other provider's name of SSE-KMS is refused with the right one.
  EXPECT_NE(ErrorOf(true, {{"sse", "aws:kms"}}).find("Use sse 'cos/kms' on cos://"),
            std::string::npos);
  EXPECT_NE(ErrorOf(false, {{"sse", "cos/kms"}}).find("Use sse 'aws:kms' on s3://"),
            std::string::npos);
  std::string unknown = ErrorOf(false, {{"sse", "DES"}});
  EXPECT_NE(unknown.find("invalid value for option \"sse\""), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("'AES256' (SSE-S3) or 'aws:kms' (SSE-KMS)"), std::string::npos);
  EXPECT_NE(unknown.find("sse_customer_key"), std::string::npos);
  EXPECT_NE(ErrorOf(true, {{"sse", "x"}}).find("'AES256' (SSE-COS) or 'cos/kms'"),
            std::string::npos);
}

TEST(S3SseTest, KmsKeyAndContextNeedKms) {
  std::string e = ErrorOf(false, {{"sse_kms_key_id", "alias/backup"}});
  EXPECT_NE(e.find("Add sse 'aws:kms'"), std::string::npos) << e;
  e = ErrorOf(false, {{"sse", "AES256"}, {"sse_kms_key_id", "alias/backup"}});
  EXPECT_NE(e.find("only with SSE-KMS"), std::string::npos) << e;
  e = ErrorOf(true, {{"sse_kms_context", "{}"}});
  EXPECT_NE(e.find("Add sse 'cos/kms'"), std::string::npos) << e;
  e = ErrorOf(false, {{"sse", "aws:kms"}, {"sse_kms_key_id", "has space"}});
  EXPECT_NE(e.find("no spaces"), std::string::npos) << e;

  SseSettings s = ParseSseOptions(false, {{"sse", "aws:kms"},
                                          {"sse_kms_key_id", "alias/backup"},
                                          {"sse_kms_context", "{\"app\": \"cdw\"}"}});
  EXPECT_EQ(s.kms_key_id, "alias/backup");
  EXPECT_EQ(s.kms_context_base64, "eyJhcHAiOiAiY2R3In0=");  // base64 of the JSON as given
  // Given as base64, kept as such.
  s = ParseSseOptions(false, {{"sse", "aws:kms"}, {"sse_kms_context", "eyJhcHAiOiAiY2R3In0="}});
  EXPECT_EQ(s.kms_context_base64, "eyJhcHAiOiAiY2R3In0=");
  EXPECT_NE(ErrorOf(false, {{"sse", "aws:kms"}, {"sse_kms_context", "{\"n\": 1}"}})
                .find("values are strings"),
            std::string::npos);
  EXPECT_NE(ErrorOf(false, {{"sse", "aws:kms"}, {"sse_kms_context", "not base64!"}})
                .find("neither a JSON object nor base64"),
            std::string::npos);
  EXPECT_NE(ErrorOf(false, {{"sse", "aws:kms"}, {"sse_kms_context", "WzFd"}})  // [1]
                .find("not a JSON object"),
            std::string::npos);
}

TEST(S3SseTest, LocationCarriesTheSettings) {
  S3Location loc = ParseS3Location("cos://b-1250000000.cos.ap-guangzhou.myqcloud.com/p",
                                   {{"sse", "cos/kms"}, {"sse_kms_key_id", "key-1"}});
  EXPECT_EQ(loc.sse.mode, SseMode::kKms);
  EXPECT_EQ(loc.sse.kms_key_id, "key-1");
  const auto &names = S3OptionNames();
  for (const char *name : {"sse", "sse_kms_key_id", "sse_kms_context"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  // The key is a secret, never a location option.
  EXPECT_EQ(std::find(names.begin(), names.end(), "sse_customer_key"), names.end());
}

TEST(S3SseTest, CustomerKeyInHexOrBase64) {
  EXPECT_TRUE(ParseSseCustomerKey("").empty());
  for (const char *text : {kHexKey, kBase64Key}) {
    SseCustomerKey key = ParseSseCustomerKey(text);
    EXPECT_EQ(key.key_base64, kBase64Key);
    EXPECT_EQ(key.key_md5_base64, kKeyMd5);
  }
  // 31 or 33 bytes, bad characters, a 64-character text that is not hex:
  // refused, and the text is never repeated.
  const std::string bad[] = {std::string(kHexKey).substr(2), std::string(kHexKey) + "20",
                             "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",  // 31 bytes
                             "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                             "secret-password"};
  for (const auto &text : bad) {
    try {
      ParseSseCustomerKey(text);
      FAIL() << text;
    } catch (const Error &e) {
      std::string all = std::string(e.what()) + e.detail() + e.hint();
      EXPECT_EQ(all.find(text), std::string::npos) << all;
      EXPECT_NE(all.find("64 hexadecimal digits or 44 characters of base64"), std::string::npos);
      EXPECT_NE(all.find("openssl rand -base64 32"), std::string::npos);
    }
  }
  try {
    CheckSseCombination(ParseSseOptions(false, {{"sse", "AES256"}}), ParseSseCustomerKey(kHexKey));
    FAIL();
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("exclude each other"), std::string::npos);
  }
}

TEST(S3SseTest, HeadersEachProviderDocuments) {
  HeaderList h;
  AddSseObjectHeaders(&h, false,
                      ParseSseOptions(false, {{"sse", "aws:kms"},
                                              {"sse_kms_key_id", "arn:aws:kms:k"},
                                              {"sse_kms_context", "{\"a\": \"b\"}"}}),
                      {});
  EXPECT_EQ(Header(h, "x-amz-server-side-encryption"), "aws:kms");
  EXPECT_EQ(Header(h, "x-amz-server-side-encryption-aws-kms-key-id"), "arn:aws:kms:k");
  EXPECT_EQ(Header(h, "x-amz-server-side-encryption-context"), "eyJhIjogImIifQ==");
  EXPECT_EQ(h.size(), 3u);

  h.clear();
  AddSseObjectHeaders(&h, true,
                      ParseSseOptions(true, {{"sse", "cos/kms"}, {"sse_kms_key_id", "k"}}), {});
  EXPECT_EQ(Header(h, "x-cos-server-side-encryption"), "cos/kms");
  EXPECT_EQ(Header(h, "x-cos-server-side-encryption-cos-kms-key-id"), "k");
  EXPECT_EQ(h.size(), 2u);

  h.clear();
  AddSseObjectHeaders(&h, true, ParseSseOptions(true, {{"sse", "aes256"}}), {});
  EXPECT_EQ(Header(h, "x-cos-server-side-encryption"), "AES256");

  for (bool cos : {false, true}) {
    const std::string p = cos ? "x-cos-" : "x-amz-";
    h.clear();
    AddSseObjectHeaders(&h, cos, {}, ParseSseCustomerKey(kHexKey));
    EXPECT_EQ(Header(h, p + "server-side-encryption"), "<absent>");
    EXPECT_EQ(Header(h, p + "server-side-encryption-customer-algorithm"), "AES256");
    EXPECT_EQ(Header(h, p + "server-side-encryption-customer-key"), kBase64Key);
    EXPECT_EQ(Header(h, p + "server-side-encryption-customer-key-md5"), kKeyMd5);
    HeaderList reads;
    AddSseCustomerHeaders(&reads, cos, ParseSseCustomerKey(kBase64Key));
    EXPECT_EQ(reads, h);
  }
  h.clear();
  AddSseCustomerHeaders(&h, false, {});
  EXPECT_TRUE(h.empty());
}

TEST(S3SseTest, HintsNameTheOption) {
  SseCustomerKey key = ParseSseCustomerKey(kHexKey);
  // A read with a wrong key (AWS: 403 AccessDenied) or without one (400).
  EXPECT_NE(
      HintForSseError("AccessDenied", 403, "", true, false, {}, key).find("Check sse_customer_key"),
      std::string::npos);
  EXPECT_NE(HintForSseError("InvalidRequest", 400,
                            "The object was stored using a form of Server Side Encryption.", true,
                            false, {}, {})
                .find("set sse_customer_key"),
            std::string::npos);
  EXPECT_NE(HintForSseError("InvalidArgument", 400, "", false, false, {}, key)
                .find("refused the SSE-C headers"),
            std::string::npos);
  SseSettings kms = ParseSseOptions(false, {{"sse", "aws:kms"}, {"sse_kms_key_id", "alias/x"}});
  EXPECT_NE(HintForSseError("KMS.NotFoundException", 400, "", false, false, kms, {})
                .find("Check sse_kms_key_id (now \"alias/x\")"),
            std::string::npos);
  // Not about encryption: the caller's usual hint applies.
  EXPECT_EQ(HintForSseError("NoSuchBucket", 404, "", true, false, {}, key), "");
  EXPECT_EQ(HintForSseError("AccessDenied", 403, "", true, false, {}, {}), "");
  EXPECT_EQ(HintForSseError("SignatureDoesNotMatch", 403, "", false, false, {}, key), "");
}

TEST(S3SseTest, ScrubRemovesTheKeyInEveryForm) {
  Credentials c{"AKID1234", "SECRET1234", "", kHexKey};
  std::string text =
      std::string("echo ") + kHexKey + " and " + kBase64Key + " md5 " + kKeyMd5 + " end";
  std::string scrubbed = ScrubSecrets(text, c);
  EXPECT_EQ(scrubbed.find(kHexKey), std::string::npos) << scrubbed;
  EXPECT_EQ(scrubbed.find(kBase64Key), std::string::npos) << scrubbed;
  EXPECT_NE(scrubbed.find(kKeyMd5), std::string::npos);  // not a secret
}

}  // namespace
}  // namespace cdw::s3
