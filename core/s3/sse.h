// Server-side encryption of what cdw_backup writes to s3:// and cos://.
//
// Options (target options / FDW server options):
//   sse              s3://: 'AES256' (SSE-S3) or 'aws:kms' (SSE-KMS);
//                    cos://: 'AES256' (SSE-COS) or 'cos/kms' (SSE-KMS)
//   sse_kms_key_id   the KMS key (id, ARN or alias); only with sse 'aws:kms' / 'cos/kms'
//   sse_kms_context  the KMS encryption context: a JSON object of strings, given as
//                    such or base64-encoded; only with the KMS modes
// Secret (a target's secrets / an FDW user mapping, never a server option):
//   sse_customer_key SSE-C: a 256-bit key as 64 hexadecimal digits or base64
//                    (44 characters); excludes `sse`.
//
// What is sent (the header names each provider documents; x-cos-* on cos://):
//   PutObject, CreateMultipartUpload: <p>-server-side-encryption, its key id
//     and context (SSE-S3/KMS), or the three SSE-C headers.
//   UploadPart, CompleteMultipartUpload, every GET: the three SSE-C headers
//     (the store needs the key to encrypt each part and to decrypt).
//   <p>-server-side-encryption-customer-algorithm: AES256
//   <p>-server-side-encryption-customer-key:       base64 of the key
//   <p>-server-side-encryption-customer-key-MD5:   base64 of its MD5
// Nothing here ever puts the key, in any form, into an error text.
#pragma once

#include <string>
#include <vector>

#include "s3/sigv4.h"
#include "storage/store_factory.h"

namespace cdw::s3 {

enum class SseMode { kNone, kAes256, kKms };

struct SseSettings {
  SseMode mode = SseMode::kNone;
  std::string kms_key_id;
  std::string kms_context_base64;  // base64 of the JSON object; "" for none
};

// Parses sse, sse_kms_key_id and sse_kms_context. Throws cdw::Error (HV024)
// with a hint that lists the valid values for the provider.
SseSettings ParseSseOptions(bool cos, const StoreOptions &options);

// The option names above (sse_customer_key is not one: it is a secret).
const std::vector<std::string> &SseOptionNames();

inline constexpr const char *kSseCustomerKeyOption = "sse_customer_key";

// A parsed SSE-C key: the header values. Empty when no key is configured.
struct SseCustomerKey {
  std::string key_base64;
  std::string key_md5_base64;
  bool empty() const { return key_base64.empty(); }
};

// "" -> an empty key; 64 hex digits or base64 of 32 bytes -> the key.
// Throws cdw::Error (HV024) that never repeats the text.
SseCustomerKey ParseSseCustomerKey(const std::string &text);

// Checks that the SSE options and an SSE-C key go together (sse excludes a
// customer key). Throws cdw::Error (HV024).
void CheckSseCombination(const SseSettings &settings, const SseCustomerKey &key);

// Headers for PutObject and CreateMultipartUpload.
void AddSseObjectHeaders(HeaderList *headers, bool cos, const SseSettings &settings,
                         const SseCustomerKey &key);
// SSE-C headers for UploadPart, CompleteMultipartUpload and reads (nothing
// without a key).
void AddSseCustomerHeaders(HeaderList *headers, bool cos, const SseCustomerKey &key);

// A hint for an error the store gave to a request (an SSE-C key that is
// missing or wrong, a KMS key that cannot be used), or "" when the error is
// not about encryption. `read`: a GET of an object.
std::string HintForSseError(const std::string &code, long status, const std::string &message,
                            bool read, bool cos, const SseSettings &settings,
                            const SseCustomerKey &key);

}  // namespace cdw::s3
