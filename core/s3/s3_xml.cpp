#include "s3/s3_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cstdlib>
#include <memory>
#include <mutex>

#include "common/error.h"
#include "s3/sigv4.h"

namespace cdw::s3 {

namespace {

struct DocFree {
  void operator()(xmlDoc *doc) const { xmlFreeDoc(doc); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocFree>;

DocPtr Parse(const std::string &body) {
  InitXmlParser();
  if (body.empty()) return nullptr;
  return DocPtr(xmlReadMemory(body.data(), static_cast<int>(body.size()), "s3.xml", nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
}

bool Named(const xmlNode *node, const char *name) {
  return node && node->type == XML_ELEMENT_NODE &&
         xmlStrcmp(node->name, reinterpret_cast<const xmlChar *>(name)) == 0;
}

const xmlNode *Child(const xmlNode *parent, const char *name) {
  for (const xmlNode *n = parent ? parent->children : nullptr; n; n = n->next)
    if (Named(n, name)) return n;
  return nullptr;
}

std::string Text(const xmlNode *node) {
  if (!node) return {};
  xmlChar *content = xmlNodeGetContent(node);
  std::string text = content ? reinterpret_cast<const char *>(content) : "";
  xmlFree(content);
  return text;
}

std::string ChildText(const xmlNode *parent, const char *name) {
  return Text(Child(parent, name));
}

const xmlNode *RootNamed(const DocPtr &doc, const char *name, const char *what) {
  const xmlNode *root = doc ? xmlDocGetRootElement(doc.get()) : nullptr;
  if (!Named(root, name))
    throw Error(sqlstate::kIoError,
                std::string("unexpected response from object storage to ") + what,
                std::string("Expected an XML ") + name + " document.");
  return root;
}

}  // namespace

void InitXmlParser() {
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
}

bool ParseS3Error(const std::string &body, S3ErrorInfo *out) {
  DocPtr doc = Parse(body);
  const xmlNode *root = doc ? xmlDocGetRootElement(doc.get()) : nullptr;
  if (!Named(root, "Error")) return false;
  out->code = ChildText(root, "Code");
  out->message = ChildText(root, "Message");
  out->request_id = ChildText(root, "RequestId");
  return true;
}

ListObjectsPage ParseListObjectsV2(const std::string &body) {
  DocPtr doc = Parse(body);
  const xmlNode *root = RootNamed(doc, "ListBucketResult", "a list request");
  bool url_encoded = ChildText(root, "EncodingType") == "url";
  ListObjectsPage page;
  page.truncated = ChildText(root, "IsTruncated") == "true";
  page.next_continuation_token = ChildText(root, "NextContinuationToken");
  for (const xmlNode *n = root->children; n; n = n->next) {
    if (!Named(n, "Contents")) continue;
    ObjectInfo info;
    info.key = ChildText(n, "Key");
    if (url_encoded) info.key = UriDecode(info.key);
    info.size = std::strtoull(ChildText(n, "Size").c_str(), nullptr, 10);
    page.objects.push_back(std::move(info));
  }
  if (page.truncated && page.next_continuation_token.empty())
    throw Error(sqlstate::kIoError, "unexpected response from object storage to a list request",
                "The listing is truncated but has no NextContinuationToken.");
  return page;
}

std::string ParseInitiateMultipartUpload(const std::string &body) {
  DocPtr doc = Parse(body);
  const xmlNode *root =
      RootNamed(doc, "InitiateMultipartUploadResult", "a multipart upload request");
  std::string id = ChildText(root, "UploadId");
  if (id.empty())
    throw Error(sqlstate::kIoError,
                "unexpected response from object storage to a multipart upload request",
                "The response has no UploadId.");
  return id;
}

ListUploadsPage ParseListMultipartUploads(const std::string &body) {
  DocPtr doc = Parse(body);
  const xmlNode *root = RootNamed(doc, "ListMultipartUploadsResult", "a list uploads request");
  bool url_encoded = ChildText(root, "EncodingType") == "url";
  ListUploadsPage page;
  page.truncated = ChildText(root, "IsTruncated") == "true";
  page.next_key_marker = ChildText(root, "NextKeyMarker");
  page.next_upload_id_marker = ChildText(root, "NextUploadIdMarker");
  if (url_encoded) page.next_key_marker = UriDecode(page.next_key_marker);
  for (const xmlNode *n = root->children; n; n = n->next) {
    if (!Named(n, "Upload")) continue;
    MultipartUploadInfo upload;
    upload.key = ChildText(n, "Key");
    if (url_encoded) upload.key = UriDecode(upload.key);
    upload.upload_id = ChildText(n, "UploadId");
    page.uploads.push_back(std::move(upload));
  }
  return page;
}

std::string XmlEscape(const std::string &text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string CompleteMultipartUploadBody(const std::vector<CompletedPart> &parts) {
  std::string body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const auto &part : parts) {
    body += "<Part><PartNumber>" + std::to_string(part.part_number) + "</PartNumber><ETag>" +
            XmlEscape(part.etag) + "</ETag>";
    if (!part.checksum_crc32.empty())
      body += "<ChecksumCRC32>" + XmlEscape(part.checksum_crc32) + "</ChecksumCRC32>";
    body += "</Part>";
  }
  body += "</CompleteMultipartUpload>";
  return body;
}

}  // namespace cdw::s3
