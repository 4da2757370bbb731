// The XML bodies of the S3 API (libxml2): error responses, ListObjectsV2,
// CreateMultipartUpload, ListMultipartUploads, and the
// CompleteMultipartUpload request. Element names are matched without their
// namespace, so S3, COS, MinIO and moto responses all parse.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/object_store.h"

namespace cdw::s3 {

// Initializes libxml2 once per process. S3Client calls it on the main
// thread, before any upload thread can parse an error body.
void InitXmlParser();

struct S3ErrorInfo {
  std::string code;     // "SignatureDoesNotMatch"
  std::string message;  // S3's sentence
  std::string request_id;
};

// True when `body` is an <Error> document; fills `out`. Anything else
// (empty, HTML from a proxy, truncated) returns false.
bool ParseS3Error(const std::string &body, S3ErrorInfo *out);

struct ListObjectsPage {
  std::vector<ObjectInfo> objects;  // full keys, decoded
  bool truncated = false;
  std::string next_continuation_token;
};

// A ListBucketResult (ListObjectsV2). Keys are URL-decoded when the response
// says EncodingType url. Throws cdw::Error on a body that is not one.
ListObjectsPage ParseListObjectsV2(const std::string &body);

// The UploadId of an InitiateMultipartUploadResult. Throws cdw::Error.
std::string ParseInitiateMultipartUpload(const std::string &body);

struct MultipartUploadInfo {
  std::string key;
  std::string upload_id;
};

struct ListUploadsPage {
  std::vector<MultipartUploadInfo> uploads;
  bool truncated = false;
  std::string next_key_marker;
  std::string next_upload_id_marker;
};

// A ListMultipartUploadsResult. Throws cdw::Error.
ListUploadsPage ParseListMultipartUploads(const std::string &body);

struct CompletedPart {
  int part_number = 0;
  std::string etag;            // as returned, quotes included
  std::string checksum_crc32;  // base64, as sent with the part; "" when none was
};

// <CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"..."</ETag>
// [<ChecksumCRC32>...</ChecksumCRC32>]</Part>...
std::string CompleteMultipartUploadBody(const std::vector<CompletedPart> &parts);

// Escapes &, < and > for element text (quotes stay, as ETags carry them).
std::string XmlEscape(const std::string &text);

}  // namespace cdw::s3
