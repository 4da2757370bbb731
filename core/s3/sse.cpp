#include "s3/sse.h"

#include <openssl/evp.h>

#include <cctype>

#include "common/error.h"
#include "common/hmac_sha256.h"
#include "manifest/json_value.h"

namespace cdw::s3 {

namespace {

constexpr size_t kCustomerKeyBytes = 32;
constexpr size_t kMaxKmsKeyIdBytes = 2048;
constexpr size_t kMaxKmsContextBytes = 1536;

std::string Lower(std::string s) {
  for (auto &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Base64(const unsigned char *data, size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<size_t>(n));
  return out;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict standard base64 with padding; false when malformed.
bool DecodeBase64(const std::string &text, std::string *out) {
  out->clear();
  if (text.empty() || text.size() % 4 != 0) return false;
  size_t padding = 0;
  if (text.back() == '=') padding++;
  if (text.size() >= 2 && text[text.size() - 2] == '=') padding++;
  for (size_t i = 0; i < text.size(); i += 4) {
    unsigned value = 0;
    for (size_t j = 0; j < 4; j++) {
      char c = text[i + j];
      int v = 0;
      if (c == '=') {
        if (i + j < text.size() - padding) return false;
      } else {
        v = Base64Value(c);
        if (v < 0) return false;
      }
      value = (value << 6) | static_cast<unsigned>(v);
    }
    out->push_back(static_cast<char>((value >> 16) & 0xFF));
    out->push_back(static_cast<char>((value >> 8) & 0xFF));
    out->push_back(static_cast<char>(value & 0xFF));
  }
  out->resize(out->size() - padding);
  return true;
}

[[noreturn]] void BadOption(const std::string &name, const std::string &detail,
                            const std::string &hint) {
  throw Error(sqlstate::kFdwInvalidOptionValue, "invalid value for option \"" + name + "\"", detail,
              hint);
}

const std::string *Find(const StoreOptions &options, const char *name) {
  auto it = options.find(name);
  return it == options.end() ? nullptr : &it->second;
}

const char *KmsName(bool cos) {
  return cos ? "cos/kms" : "aws:kms";
}

const char *Prefix(bool cos) {
  return cos ? "x-cos-" : "x-amz-";
}

// A JSON object whose values are strings (what S3 and COS accept as an
// encryption context).
bool IsStringMap(const std::string &json) {
  try {
    JsonValue value = ParseJson(json);
    if (value.type() != JsonValue::Type::kObject) return false;
    for (const auto &member : value.members())
      if (member.second.type() != JsonValue::Type::kString) return false;
    return true;
  } catch (const Error &) {
    return false;
  }
}

bool Contains(const std::string &text, const char *word) {
  return Lower(text).find(word) != std::string::npos;
}

}  // namespace

const std::vector<std::string> &SseOptionNames() {
  static const std::vector<std::string> kNames = {"sse", "sse_kms_key_id", "sse_kms_context"};
  return kNames;
}

SseSettings ParseSseOptions(bool cos, const StoreOptions &options) {
  SseSettings settings;
  const std::string valid = cos ? "'AES256' (SSE-COS) or 'cos/kms' (SSE-KMS)"
                                : "'AES256' (SSE-S3) or 'aws:kms' (SSE-KMS)";
  if (const auto *value = Find(options, "sse")) {
    std::string mode = Lower(*value);
    if (mode == "aes256") {
      settings.mode = SseMode::kAes256;
    } else if (mode == KmsName(cos)) {
      settings.mode = SseMode::kKms;
    } else if (mode == KmsName(!cos)) {
      BadOption("sse", "\"" + *value + "\" is the " + (cos ? "S3" : "COS") + " name of SSE-KMS.",
                std::string("Use sse '") + KmsName(cos) + "' on " + (cos ? "cos://" : "s3://") +
                    " locations.");
    } else {
      BadOption("sse", "\"" + *value + "\" is not a server-side encryption of this provider.",
                "Use " + valid +
                    "; for encryption with a key of your own, set sse_customer_key instead.");
    }
  }
  if (const auto *value = Find(options, "sse_kms_key_id")) {
    if (settings.mode != SseMode::kKms)
      BadOption("sse_kms_key_id", "A KMS key is used only with SSE-KMS.",
                std::string("Add sse '") + KmsName(cos) + "', or drop sse_kms_key_id.");
    bool clean = !value->empty() && value->size() <= kMaxKmsKeyIdBytes;
    for (char c : *value) clean &= std::isgraph(static_cast<unsigned char>(c)) != 0;
    if (!clean)
      BadOption("sse_kms_key_id", "A KMS key id has 1 to 2048 characters and no spaces.",
                cos ? "Use the key id the KMS console shows."
                    : "Use a key id, a key ARN or an alias (alias/name).");
    settings.kms_key_id = *value;
  }
  if (const auto *value = Find(options, "sse_kms_context")) {
    if (settings.mode != SseMode::kKms)
      BadOption("sse_kms_context", "An encryption context is used only with SSE-KMS.",
                std::string("Add sse '") + KmsName(cos) + "', or drop sse_kms_context.");
    const char *hint =
        "Use a JSON object of strings, e.g. '{\"app\": \"cdw_backup\"}', or its base64 "
        "encoding.";
    std::string json;
    size_t first = value->find_first_not_of(" \t");
    if (first != std::string::npos && (*value)[first] == '{') {
      json = *value;
      settings.kms_context_base64 =
          Base64(reinterpret_cast<const unsigned char *>(json.data()), json.size());
    } else if (DecodeBase64(*value, &json)) {
      settings.kms_context_base64 = *value;
    } else {
      BadOption("sse_kms_context", "It is neither a JSON object nor base64.", hint);
    }
    if (!IsStringMap(json))
      BadOption("sse_kms_context", "It is not a JSON object whose values are strings.", hint);
    if (settings.kms_context_base64.size() > kMaxKmsContextBytes)
      BadOption("sse_kms_context", "An encryption context is at most 1536 bytes as base64.",
                "Use fewer or shorter pairs.");
  }
  return settings;
}

SseCustomerKey ParseSseCustomerKey(const std::string &text) {
  SseCustomerKey key;
  if (text.empty()) return key;
  std::string raw;
  bool valid = false;
  if (text.size() == 2 * kCustomerKeyBytes) {
    auto bytes = HexDecode(text);
    if (bytes && bytes->size() == kCustomerKeyBytes) {
      raw.assign(bytes->begin(), bytes->end());
      valid = true;
    }
  }
  if (!valid) valid = DecodeBase64(text, &raw) && raw.size() == kCustomerKeyBytes;
  if (!valid)
    throw Error(sqlstate::kFdwInvalidOptionValue, "invalid value for option \"sse_customer_key\"",
                "An SSE-C key is 256 bits: 64 hexadecimal digits or 44 characters of base64 "
                "(the value is not shown).",
                "Generate one with: openssl rand -base64 32");
  const auto *bytes = reinterpret_cast<const unsigned char *>(raw.data());
  key.key_base64 = Base64(bytes, raw.size());
  unsigned char md5[EVP_MAX_MD_SIZE];
  unsigned int md5_len = 0;
  if (EVP_Digest(bytes, raw.size(), md5, &md5_len, EVP_md5(), nullptr) != 1)
    throw Error(sqlstate::kInternalError, "could not compute the MD5 of the SSE-C key");
  key.key_md5_base64 = Base64(md5, md5_len);
  OPENSSL_cleanse(raw.data(), raw.size());
  return key;
}

void CheckSseCombination(const SseSettings &settings, const SseCustomerKey &key) {
  if (settings.mode != SseMode::kNone && !key.empty())
    throw Error(sqlstate::kFdwInvalidOptionValue,
                "options \"sse\" and \"sse_customer_key\" exclude each other",
                "With sse_customer_key the store encrypts with your key (SSE-C); sse chooses a "
                "key the store manages.",
                "Drop one of them.");
}

void AddSseObjectHeaders(HeaderList *headers, bool cos, const SseSettings &settings,
                         const SseCustomerKey &key) {
  const std::string p = Prefix(cos);
  if (settings.mode == SseMode::kAes256) {
    headers->emplace_back(p + "server-side-encryption", "AES256");
  } else if (settings.mode == SseMode::kKms) {
    headers->emplace_back(p + "server-side-encryption", KmsName(cos));
    if (!settings.kms_key_id.empty())
      headers->emplace_back(p + (cos ? "server-side-encryption-cos-kms-key-id"
                                     : "server-side-encryption-aws-kms-key-id"),
                            settings.kms_key_id);
    if (!settings.kms_context_base64.empty())
      headers->emplace_back(p + "server-side-encryption-context", settings.kms_context_base64);
  }
  AddSseCustomerHeaders(headers, cos, key);
}

void AddSseCustomerHeaders(HeaderList *headers, bool cos, const SseCustomerKey &key) {
  if (key.empty()) return;
  const std::string p = Prefix(cos);
  headers->emplace_back(p + "server-side-encryption-customer-algorithm", "AES256");
  headers->emplace_back(p + "server-side-encryption-customer-key", key.key_base64);
  headers->emplace_back(p + "server-side-encryption-customer-key-md5", key.key_md5_base64);
}

std::string HintForSseError(const std::string &code, long status, const std::string &message,
                            bool read, bool cos, const SseSettings &settings,
                            const SseCustomerKey &key) {
  const bool refused = status == 400 || status == 403;
  const bool about_request = code == "InvalidRequest" || code == "InvalidArgument" ||
                             code == "BadRequest" || code == "AccessDenied" ||
                             code == "InvalidEncryptionAlgorithmError";
  if (!key.empty()) {
    if (read && refused && about_request)
      return "Check sse_customer_key: the object was written with another SSE-C key or "
             "without one (the key is kept with the target's secrets, or on the FDW user "
             "mapping).";
    if (!read && status == 400 && about_request)
      return "The store refused the SSE-C headers: check sse_customer_key, and that the server "
             "accepts SSE-C (Ceph RGW accepts it only over https unless rgw crypt require ssl "
             "is false).";
    return {};
  }
  if (read && status == 400 && about_request &&
      (message.empty() || Contains(message, "encrypt") || Contains(message, "customer")))
    return "The object is encrypted with a customer-provided key (SSE-C): set sse_customer_key "
           "(target secret or FDW user mapping) to the key it was written with.";
  if (settings.mode == SseMode::kNone || read) return {};
  const std::string kms = KmsName(cos);
  if (settings.mode == SseMode::kKms &&
      (code.rfind("KMS", 0) == 0 || Contains(message, "kms") || code == "AccessDenied"))
    return "Check sse_kms_key_id" +
           (settings.kms_key_id.empty() ? std::string(" (none given: the account's default key)")
                                        : " (now \"" + settings.kms_key_id + "\")") +
           ": the key must exist and be enabled in the bucket's region, and the access key "
           "needs " +
           (cos ? "the KMS permissions to encrypt with it"
                : "kms:GenerateDataKey and kms:Decrypt") +
           " as well as s3:PutObject; check sse_kms_context too.";
  if (status == 400 && (about_request || code == "NotImplemented"))
    return "The store refused the server-side encryption headers: check the sse option (now \"" +
           std::string(settings.mode == SseMode::kAes256 ? "AES256" : kms) +
           "\") and that the server supports it.";
  return {};
}

}  // namespace cdw::s3
