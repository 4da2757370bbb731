#include "s3/s3_xml.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "s3/s3_client.h"
#include "s3/s3_location.h"

namespace cdw::s3 {
namespace {

TEST(S3XmlTest, ParsesErrorResponses) {
  S3ErrorInfo info;
  ASSERT_TRUE(ParseS3Error(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
      "<Message>The request signature we calculated does not match the signature you provided."
      "</Message><AWSAccessKeyId>AKIAEXAMPLE</AWSAccessKeyId><StringToSign>x</StringToSign>"
      "<RequestId>4442587FB7D0A2F9</RequestId><HostId>h</HostId></Error>",
      &info));
  EXPECT_EQ(info.code, "SignatureDoesNotMatch");
  EXPECT_EQ(info.message,
            "The request signature we calculated does not match the signature you provided.");
  EXPECT_EQ(info.request_id, "4442587FB7D0A2F9");
  // COS adds its own elements; moto wraps nothing; both parse.
  ASSERT_TRUE(ParseS3Error(
      "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message>"
      "<Resource>b-125.cos.ap-guangzhou.myqcloud.com</Resource><RequestId>NjE=</RequestId>"
      "<TraceId>abc</TraceId></Error>",
      &info));
  EXPECT_EQ(info.code, "NoSuchBucket");
  EXPECT_FALSE(ParseS3Error("", &info));
  EXPECT_FALSE(ParseS3Error("<html><body>502 Bad Gateway</body></html>", &info));
  EXPECT_FALSE(ParseS3Error("<Error><Code>Trunc", &info));
  EXPECT_FALSE(ParseS3Error("<ListBucketResult/>", &info));
}

TEST(S3XmlTest, ParsesListObjectsV2Pages) {
  ListObjectsPage page = ParseListObjectsV2(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>p%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
      "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
      "<Contents><Key>p/a%20b%2Bc%25.csv</Key><LastModified>2026-11-24T03:00:05.000Z</LastModified>"
      "<ETag>&quot;x&quot;</ETag><Size>12345678901</Size><StorageClass>STANDARD</StorageClass>"
      "</Contents><Contents><Key>p/%E6%BC%A2</Key><Size>0</Size></Contents>"
      "</ListBucketResult>");
  ASSERT_EQ(page.objects.size(), 2u);
  EXPECT_EQ(page.objects[0].key, "p/a b+c%.csv");
  EXPECT_EQ(page.objects[0].size, 12345678901ull);
  EXPECT_EQ(page.objects[1].key, "p/\xe6\xbc\xa2");
  EXPECT_EQ(page.objects[1].size, 0u);
  EXPECT_TRUE(page.truncated);
  EXPECT_EQ(page.next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

  // Without EncodingType keys are taken literally ('+' and '%' stay).
  ListObjectsPage raw = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b%20&amp;c</Key>"
      "<Size>3</Size></Contents></ListBucketResult>");
  ASSERT_EQ(raw.objects.size(), 1u);
  EXPECT_EQ(raw.objects[0].key, "a+b%20&c");
  EXPECT_FALSE(raw.truncated);

  EXPECT_TRUE(ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated>"
                                 "</ListBucketResult>")
                  .objects.empty());
  EXPECT_THROW(ParseListObjectsV2("<Error><Code>x</Code></Error>"), Error);
  EXPECT_THROW(ParseListObjectsV2("not xml"), Error);
  EXPECT_THROW(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                  "</ListBucketResult>"),
               Error);  // truncated without a token would loop forever
}

TEST(S3XmlTest, ParsesMultipartResponses) {
  EXPECT_EQ(ParseInitiateMultipartUpload(
                "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                "<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE</UploadId>"
                "</InitiateMultipartUploadResult>"),
            "VXBsb2FkIElE");
  EXPECT_THROW(ParseInitiateMultipartUpload("<InitiateMultipartUploadResult/>"), Error);

  ListUploadsPage uploads = ParseListMultipartUploads(
      "<ListMultipartUploadsResult><Bucket>b</Bucket><EncodingType>url</EncodingType>"
      "<NextKeyMarker>p%2Fz</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>"
      "<IsTruncated>true</IsTruncated>"
      "<Upload><Key>p%2Fa%20b</Key><UploadId>u1</UploadId></Upload>"
      "<Upload><Key>p/z</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>");
  ASSERT_EQ(uploads.uploads.size(), 2u);
  EXPECT_EQ(uploads.uploads[0].key, "p/a b");
  EXPECT_EQ(uploads.uploads[0].upload_id, "u1");
  EXPECT_TRUE(uploads.truncated);
  EXPECT_EQ(uploads.next_key_marker, "p/z");

  EXPECT_EQ(CompleteMultipartUploadBody({{1, "\"a1\"", ""}, {2, "\"b&2\"", "DUoRhQ=="}}),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>\"a1\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"b&amp;2\"</ETag>"
            "<ChecksumCRC32>DUoRhQ==</ChecksumCRC32></Part>"
            "</CompleteMultipartUpload>");
}

// Values from Python: base64.b64encode(binascii.crc32(data).to_bytes(4, "big")).
TEST(S3ChecksumTest, Crc32AsInAmzChecksumHeaders) {
  EXPECT_EQ(ChecksumCrc32Base64("", 0), "AAAAAA==");
  EXPECT_EQ(ChecksumCrc32Base64("hello world", 11), "DUoRhQ==");
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(ChecksumCrc32Base64(fox.data(), fox.size()), "QU+jOQ==");
}

TEST(S3ErrorHintTest, NamesTheFix) {
  S3Location loc = ParseS3Location("s3://cdw-test/pg", {});
  EXPECT_NE(HintForS3Error("SignatureDoesNotMatch", 403, "s3:PutObject", loc).find("secret_key"),
            std::string::npos);
  EXPECT_NE(HintForS3Error("InvalidAccessKeyId", 403, "s3:PutObject", loc).find("secret_id"),
            std::string::npos);
  std::string denied = HintForS3Error("AccessDenied", 403, "s3:PutObject", loc);
  EXPECT_NE(denied.find("must allow s3:PutObject on s3://cdw-test/pg/"), std::string::npos);
  EXPECT_NE(HintForS3Error("NoSuchBucket", 404, "s3:ListBucket", loc).find("bucket name"),
            std::string::npos);
  EXPECT_NE(HintForS3Error("AuthorizationHeaderMalformed", 400, "", loc).find("region"),
            std::string::npos);
  EXPECT_NE(HintForS3Error("RequestTimeTooSkewed", 403, "", loc).find("clock"), std::string::npos);
  EXPECT_NE(HintForS3Error("ExpiredToken", 400, "", loc).find("session_token"), std::string::npos);
  S3Location cos = ParseS3Location("cos://b-1250000000.cos.ap-guangzhou.myqcloud.com/pg", {});
  EXPECT_NE(HintForS3Error("NoSuchBucket", 404, "", cos).find("-<appid>"), std::string::npos);
}

TEST(S3ErrorHintTest, ScrubsSecrets) {
  Credentials creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "tok3n"};
  EXPECT_EQ(ScrubSecrets("key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "
                         "token tok3n tok3n",
                         creds),
            "key [redacted] secret [redacted] token [redacted] [redacted]");
  EXPECT_EQ(ScrubSecrets("nothing here", creds), "nothing here");
}

}  // namespace
}  // namespace cdw::s3
