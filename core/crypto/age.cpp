#include "crypto/age.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <cstring>

#include "common/error.h"
#include "common/hmac_sha256.h"

namespace cdw::age {

namespace {

constexpr const char *kWrongKey = "28000";  // invalid_authorization_specification
constexpr size_t kMaxHeaderBytes = 1 << 20;
constexpr const char *kIdentityHrp = "age-secret-key-";
constexpr const char *kRecipientHrp = "age";
constexpr const char *kX25519Info = "age-encryption.org/v1/X25519";
constexpr const char *kScryptLabel = "age-encryption.org/v1/scrypt";

[[noreturn]] void Damaged(const std::string &what, const std::string &detail) {
  throw Error(sqlstate::kDataCorrupted, "encrypted object " + what + " is damaged", detail,
              "The object was changed or cut short after it was written; restore an earlier run "
              "or another copy of the object.");
}

void Check(bool ok, const char *what) {
  if (!ok)
    throw Error(sqlstate::kInternalError, std::string("OpenSSL failed: ") + what, {},
                "See the server log.");
}

std::string RandomBytes(size_t n) {
  std::string bytes(n, '\0');
  Check(RAND_bytes(reinterpret_cast<unsigned char *>(bytes.data()), static_cast<int>(n)) == 1,
        "RAND_bytes");
  return bytes;
}

// --- base64 without padding (the header's encoding), canonical only -----

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string B64Encode(const std::string &data) {
  std::string out;
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (uint8_t)data[i] << 16 | (uint8_t)data[i + 1] << 8 | (uint8_t)data[i + 2];
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (data.size() - i == 1) {
    uint32_t v = (uint8_t)data[i] << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
  } else if (data.size() - i == 2) {
    uint32_t v = (uint8_t)data[i] << 16 | (uint8_t)data[i + 1] << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
  }
  return out;
}

bool B64Decode(const std::string &text, std::string *out) {
  out->clear();
  if (text.size() % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const char *p = c ? strchr(kB64, c) : nullptr;
    if (!p) return false;
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Canonical: the unused low bits are zero.
  return (acc & ((1u << bits) - 1)) == 0;
}

// --- primitives -----------------------------------------------------------

std::string X25519(const std::string &secret, const std::string &peer_public) {
  EVP_PKEY *own = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_X25519, nullptr, reinterpret_cast<const unsigned char *>(secret.data()), 32);
  EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_X25519, nullptr, reinterpret_cast<const unsigned char *>(peer_public.data()), 32);
  EVP_PKEY_CTX *ctx = own ? EVP_PKEY_CTX_new(own, nullptr) : nullptr;
  std::string shared(32, '\0');
  size_t len = shared.size();
  bool ok = own && peer && ctx && EVP_PKEY_derive_init(ctx) == 1 &&
            EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
            EVP_PKEY_derive(ctx, reinterpret_cast<unsigned char *>(shared.data()), &len) == 1 &&
            len == 32;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer);
  EVP_PKEY_free(own);
  // OpenSSL refuses an all-zero result (a low-order share); so does age.
  if (!ok) shared.clear();
  return shared;
}

std::string PublicOf(const std::string &secret) {
  EVP_PKEY *key = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_X25519, nullptr, reinterpret_cast<const unsigned char *>(secret.data()), 32);
  Check(key != nullptr, "X25519 key");
  std::string pub(32, '\0');
  size_t len = 32;
  bool ok = EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char *>(pub.data()), &len);
  EVP_PKEY_free(key);
  Check(ok && len == 32, "X25519 public key");
  return pub;
}

// ChaCha20-Poly1305 with a 12-byte nonce; Open returns false when the tag
// does not verify.
class Aead {
 public:
  Aead() : ctx_(EVP_CIPHER_CTX_new()) { Check(ctx_ != nullptr, "cipher context"); }
  ~Aead() { EVP_CIPHER_CTX_free(ctx_); }
  Aead(const Aead &) = delete;
  Aead &operator=(const Aead &) = delete;

  void Seal(const std::string &key, const unsigned char *nonce, const char *in, size_t len,
            std::string *out) {
    size_t start = out->size();
    out->resize(start + len + kTagSize);
    auto *dst = reinterpret_cast<unsigned char *>(out->data() + start);
    int n = 0, m = 0;
    Check(EVP_EncryptInit_ex(ctx_, EVP_chacha20_poly1305(), nullptr,
                             reinterpret_cast<const unsigned char *>(key.data()), nonce) == 1 &&
              EVP_EncryptUpdate(ctx_, dst, &n, reinterpret_cast<const unsigned char *>(in),
                                static_cast<int>(len)) == 1 &&
              EVP_EncryptFinal_ex(ctx_, dst + n, &m) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, kTagSize, dst + len) == 1,
          "ChaCha20-Poly1305 encryption");
  }

  bool Open(const std::string &key, const unsigned char *nonce, const char *in, size_t len,
            std::string *out) {
    if (len < kTagSize) return false;
    size_t plain = len - kTagSize;
    out->resize(plain);
    auto *dst = reinterpret_cast<unsigned char *>(out->data());
    int n = 0, m = 0;
    Check(EVP_DecryptInit_ex(ctx_, EVP_chacha20_poly1305(), nullptr,
                             reinterpret_cast<const unsigned char *>(key.data()), nonce) == 1,
          "ChaCha20-Poly1305 decryption");
    if (EVP_DecryptUpdate(ctx_, dst, &n, reinterpret_cast<const unsigned char *>(in),
                          static_cast<int>(plain)) != 1)
      return false;
    if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, kTagSize,
                            const_cast<char *>(in + plain)) != 1)
      return false;
    return EVP_DecryptFinal_ex(ctx_, dst + n, &m) == 1;
  }

 private:
  EVP_CIPHER_CTX *ctx_;
};

const unsigned char kZeroNonce[12] = {};

std::string WrapFileKey(const std::string &wrap_key, const std::string &file_key) {
  Aead aead;
  std::string body;
  aead.Seal(wrap_key, kZeroNonce, file_key.data(), file_key.size(), &body);
  return body;
}

bool UnwrapBody(const std::string &wrap_key, const std::string &body, std::string *file_key) {
  Aead aead;
  return aead.Open(wrap_key, kZeroNonce, body.data(), body.size(), file_key);
}

std::string Scrypt(const std::string &passphrase, const std::string &salt, int log_n) {
  std::string key(32, '\0');
  std::string full_salt = std::string(kScryptLabel) + salt;
  uint64_t n = uint64_t{1} << log_n;
  Check(EVP_PBE_scrypt(passphrase.data(), passphrase.size(),
                       reinterpret_cast<const unsigned char *>(full_salt.data()), full_salt.size(),
                       n, 8, 1, 128 * 8 * n + (1 << 20),
                       reinterpret_cast<unsigned char *>(key.data()), key.size()) == 1,
        "scrypt");
  return key;
}

std::string HeaderMac(const std::string &file_key, const std::string &header_through_dashes) {
  return HmacSha256(HkdfSha256(file_key, "", "header", 32), header_through_dashes);
}

// A stanza's text: "-> args\n" and the body in 64-column base64 lines, the
// last one shorter than 64 (possibly empty).
std::string StanzaText(const std::vector<std::string> &args, const std::string &body) {
  std::string text = "->";
  for (const auto &arg : args) text += " " + arg;
  text += "\n";
  std::string b64 = B64Encode(body);
  size_t i = 0;
  for (; i + 64 <= b64.size(); i += 64) text += b64.substr(i, 64) + "\n";
  text += b64.substr(i) + "\n";
  return text;
}

std::string BuildHeader(const std::string &stanzas, const std::string &file_key) {
  std::string header = std::string(kMagic) + stanzas + "---";
  header += " " + B64Encode(HeaderMac(file_key, header)) + "\n";
  return header;
}

std::string X25519Stanza(const std::string &recipient, const std::string &file_key) {
  for (;;) {
    std::string ephemeral = RandomBytes(32);
    std::string share = PublicOf(ephemeral);
    std::string shared = X25519(ephemeral, recipient);
    if (shared.empty()) continue;  // cannot happen for a valid recipient
    std::string wrap_key = HkdfSha256(shared, share + recipient, kX25519Info, 32);
    return StanzaText({"X25519", B64Encode(share)}, WrapFileKey(wrap_key, file_key));
  }
}

std::string ChunkNonce(uint64_t counter, bool last) {
  std::string nonce(12, '\0');
  for (int i = 0; i < 8; i++) nonce[10 - i] = static_cast<char>((counter >> (8 * i)) & 0xff);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

// --- bech32 ---------------------------------------------------------------

constexpr char kBech32Chars[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

uint32_t Polymod(const std::vector<uint8_t> &values) {
  static const uint32_t kGen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  uint32_t chk = 1;
  for (uint8_t v : values) {
    uint8_t top = chk >> 25;
    chk = (chk & 0x1ffffff) << 5 ^ v;
    for (int i = 0; i < 5; i++)
      if ((top >> i) & 1) chk ^= kGen[i];
  }
  return chk;
}

std::vector<uint8_t> HrpExpand(const std::string &hrp) {
  std::vector<uint8_t> out;
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) >> 5);
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) & 31);
  return out;
}

bool ConvertBits(const std::vector<uint8_t> &in, int from, int to, bool pad,
                 std::vector<uint8_t> *out) {
  uint32_t acc = 0;
  int bits = 0;
  const uint32_t maxv = (1u << to) - 1;
  for (uint8_t value : in) {
    if (value >> from) return false;
    acc = (acc << from) | value;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out->push_back(static_cast<uint8_t>((acc >> bits) & maxv));
    }
  }
  if (pad) {
    if (bits) out->push_back(static_cast<uint8_t>((acc << (to - bits)) & maxv));
  } else if (bits >= from || ((acc << (to - bits)) & maxv)) {
    return false;
  }
  return true;
}

}  // namespace

std::string HkdfSha256(const std::string &ikm, const std::string &salt, const std::string &info,
                       size_t length) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  std::string out(length, '\0');
  size_t len = length;
  bool ok = ctx && EVP_PKEY_derive_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) == 1 &&
            EVP_PKEY_CTX_set1_hkdf_salt(ctx, reinterpret_cast<const unsigned char *>(salt.data()),
                                        static_cast<int>(salt.size())) == 1 &&
            EVP_PKEY_CTX_set1_hkdf_key(ctx, reinterpret_cast<const unsigned char *>(ikm.data()),
                                       static_cast<int>(ikm.size())) == 1 &&
            EVP_PKEY_CTX_add1_hkdf_info(ctx, reinterpret_cast<const unsigned char *>(info.data()),
                                        static_cast<int>(info.size())) == 1 &&
            EVP_PKEY_derive(ctx, reinterpret_cast<unsigned char *>(out.data()), &len) == 1;
  EVP_PKEY_CTX_free(ctx);
  Check(ok && len == length, "HKDF");
  return out;
}

std::string Bech32Encode(const std::string &hrp, const std::string &data) {
  std::vector<uint8_t> bytes(data.begin(), data.end()), values;
  ConvertBits(bytes, 8, 5, true, &values);
  std::vector<uint8_t> check = HrpExpand(hrp);
  check.insert(check.end(), values.begin(), values.end());
  check.insert(check.end(), 6, 0);
  uint32_t mod = Polymod(check) ^ 1;
  std::string out = hrp + "1";
  for (uint8_t v : values) out += kBech32Chars[v];
  for (int i = 0; i < 6; i++) out += kBech32Chars[(mod >> (5 * (5 - i))) & 31];
  return out;
}

bool Bech32Decode(const std::string &text, const std::string &hrp, std::string *data) {
  bool lower = false, upper = false;
  std::string s;
  for (char c : text) {
    if (c < 33 || c > 126) return false;
    lower |= (c >= 'a' && c <= 'z');
    upper |= (c >= 'A' && c <= 'Z');
    s += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  if (lower && upper) return false;
  size_t sep = s.rfind('1');
  if (sep == std::string::npos || sep == 0 || sep + 7 > s.size()) return false;
  if (s.substr(0, sep) != hrp) return false;
  std::vector<uint8_t> values;
  for (size_t i = sep + 1; i < s.size(); i++) {
    const char *p = strchr(kBech32Chars, s[i]);
    if (!p || !s[i]) return false;
    values.push_back(static_cast<uint8_t>(p - kBech32Chars));
  }
  std::vector<uint8_t> check = HrpExpand(hrp);
  check.insert(check.end(), values.begin(), values.end());
  if (Polymod(check) != 1) return false;
  values.resize(values.size() - 6);
  std::vector<uint8_t> bytes;
  if (!ConvertBits(values, 5, 8, false, &bytes)) return false;
  data->assign(bytes.begin(), bytes.end());
  return true;
}

std::string EncodeIdentity(const std::string &secret) {
  std::string text = Bech32Encode(kIdentityHrp, secret);
  for (auto &c : text)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return text;
}

std::string EncodeRecipient(const std::string &public_key) {
  return Bech32Encode(kRecipientHrp, public_key);
}

Key ParseKey(const std::string &text) {
  Key key;
  std::string lowered;
  for (char c : text.substr(0, 15)) lowered += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (lowered == kIdentityHrp) {
    std::string secret;
    if (!Bech32Decode(text, kIdentityHrp, &secret) || secret.size() != 32)
      throw Error(sqlstate::kInvalidParameterValue, "invalid encryption key",
                  "It starts like an age identity but is not one (bad length or checksum).",
                  "Pass an identity as age-keygen writes it (AGE-SECRET-KEY-1...), or a "
                  "passphrase.");
    key.kind = Key::Kind::kX25519;
    key.secret = secret;
    key.public_key = PublicOf(secret);
    return key;
  }
  if (text.size() < 8 || text.find_first_of("\n\r") != std::string::npos)
    throw Error(sqlstate::kInvalidParameterValue, "invalid encryption key",
                "A passphrase has at least 8 bytes and no line breaks.",
                "Pass an age identity (age-keygen writes one: AGE-SECRET-KEY-1...) or a longer "
                "passphrase.");
  key.kind = Key::Kind::kPassphrase;
  key.secret = text;
  return key;
}

std::vector<Key> ParseKeyRing(const std::string &lines) {
  std::vector<Key> ring;
  size_t start = 0;
  while (start < lines.size()) {
    size_t end = lines.find('\n', start);
    if (end == std::string::npos) end = lines.size();
    if (end > start) ring.push_back(ParseKey(lines.substr(start, end - start)));
    start = end + 1;
  }
  return ring;
}

Key GenerateIdentity() {
  Key key;
  key.secret = RandomBytes(32);
  key.public_key = PublicOf(key.secret);
  return key;
}

std::string KeyLabel(const Key &key) {
  return key.kind == Key::Kind::kX25519 ? EncodeRecipient(key.public_key) : "passphrase";
}

bool LooksLikeAge(const std::string &prefix) {
  std::string magic = kMagic;
  size_t n = std::min(prefix.size(), magic.size());
  return prefix.compare(0, n, magic, 0, n) == 0;
}

// --- encryption -----------------------------------------------------------

namespace {

class EncryptingSink : public ByteSink {
 public:
  EncryptingSink(ByteSink *downstream, const std::string &header, const std::string &file_key)
      : downstream_(downstream) {
    std::string nonce = RandomBytes(kNonceSize);
    payload_key_ = HkdfSha256(file_key, nonce, "payload", 32);
    std::string start = header + nonce;
    downstream_->Write(start.data(), start.size());
    plain_.reserve(kChunkSize);
    sealed_.reserve(kOutputBatch + kChunkSize + kTagSize);
  }

  void Write(const char *data, size_t len) override {
    while (len > 0) {
      // A full chunk goes out only once more data follows it: the last
      // chunk (full or not) carries the last flag.
      if (plain_.size() == kChunkSize) {
        Emit(plain_.data(), plain_.size(), false);
        plain_.clear();
      }
      if (plain_.empty() && len > kChunkSize) {
        // A whole chunk with more after it: sealed from the caller's bytes.
        Emit(data, kChunkSize, false);
        data += kChunkSize;
        len -= kChunkSize;
        continue;
      }
      size_t n = std::min(len, kChunkSize - plain_.size());
      plain_.append(data, n);
      data += n;
      len -= n;
    }
  }

  void Finish() override {
    Emit(plain_.data(), plain_.size(), true);
    Flush();
    downstream_->Finish();
  }

 private:
  // Sealed chunks go downstream in batches of about 1 MiB (fewer, larger
  // writes for the store), so at most that much is buffered.
  static constexpr size_t kOutputBatch = 16 * (kChunkSize + kTagSize);

  void Emit(const char *data, size_t len, bool last) {
    std::string nonce = ChunkNonce(counter_++, last);
    aead_.Seal(payload_key_, reinterpret_cast<const unsigned char *>(nonce.data()), data, len,
               &sealed_);
    if (sealed_.size() >= kOutputBatch) Flush();
  }

  void Flush() {
    if (!sealed_.empty()) downstream_->Write(sealed_.data(), sealed_.size());
    sealed_.clear();
  }

  ByteSink *downstream_;
  std::string payload_key_;
  std::string plain_, sealed_;
  uint64_t counter_ = 0;
  Aead aead_;
};

}  // namespace

Encryptor::Encryptor(const Key &key, int scrypt_log_n) : key_(key), scrypt_log_n_(scrypt_log_n) {}

Encryptor::~Encryptor() {
  OPENSSL_cleanse(cached_file_key_.data(), cached_file_key_.size());
}

std::unique_ptr<ByteSink> Encryptor::Encrypt(ByteSink *downstream) {
  if (key_.kind == Key::Kind::kX25519) {
    std::string file_key = RandomBytes(kFileKeySize);
    std::string header = BuildHeader(X25519Stanza(key_.public_key, file_key), file_key);
    return std::make_unique<EncryptingSink>(downstream, header, file_key);
  }
  if (cached_header_.empty()) {
    cached_file_key_ = RandomBytes(kFileKeySize);
    std::string salt = RandomBytes(16);
    std::string wrap_key = Scrypt(key_.secret, salt, scrypt_log_n_);
    std::string stanza = StanzaText({"scrypt", B64Encode(salt), std::to_string(scrypt_log_n_)},
                                    WrapFileKey(wrap_key, cached_file_key_));
    cached_header_ = BuildHeader(stanza, cached_file_key_);
  }
  return std::make_unique<EncryptingSink>(downstream, cached_header_, cached_file_key_);
}

std::string Encryptor::EncryptString(const std::string &plaintext) {
  std::string out;
  StringSink sink(&out);
  auto encrypting = Encrypt(&sink);
  encrypting->Write(plaintext.data(), plaintext.size());
  encrypting->Finish();
  return out;
}

// --- decryption -----------------------------------------------------------

namespace {

struct Stanza {
  std::vector<std::string> args;
  std::string body;
};

bool IsArgChar(char c) {
  return c >= 33 && c <= 126;
}

// Parses a header (the text up to and including the MAC line). Returns the
// stanzas, the MAC and the bytes it covers; throws Damaged otherwise.
void ParseHeader(const std::string &text, const std::string &what, std::vector<Stanza> *stanzas,
                 std::string *mac, size_t *covered) {
  const std::string magic = kMagic;
  if (text.compare(0, magic.size(), magic) != 0)
    Damaged(what, "It does not start with \"age-encryption.org/v1\".");
  size_t pos = magic.size();
  auto next_line = [&](std::string *line) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) Damaged(what, "Its header is cut short.");
    *line = text.substr(pos, end - pos);
    pos = end + 1;
  };
  std::string line;
  next_line(&line);
  for (;;) {
    if (line.compare(0, 3, "---") == 0) break;
    if (line.compare(0, 3, "-> ") != 0) Damaged(what, "Its header has a line that is no stanza.");
    Stanza stanza;
    size_t start = 3;
    for (;;) {
      size_t space = line.find(' ', start);
      std::string arg =
          line.substr(start, space == std::string::npos ? std::string::npos : space - start);
      if (arg.empty()) Damaged(what, "A stanza of its header has an empty argument.");
      for (char c : arg)
        if (!IsArgChar(c)) Damaged(what, "A stanza of its header has an invalid character.");
      stanza.args.push_back(arg);
      if (space == std::string::npos) break;
      start = space + 1;
    }
    std::string b64;
    for (;;) {
      next_line(&line);
      if (line.size() > 64) Damaged(what, "A stanza body line of its header is too long.");
      b64 += line;
      if (line.size() < 64) break;
    }
    if (!B64Decode(b64, &stanza.body))
      Damaged(what, "A stanza body of its header is not canonical base64.");
    stanzas->push_back(std::move(stanza));
    next_line(&line);
  }
  *covered = pos - line.size() - 1 + 3;  // through "---"
  if (line.size() != 4 + 43 || line[3] != ' ' || !B64Decode(line.substr(4), mac) ||
      mac->size() != 32)
    Damaged(what, "The MAC line of its header is malformed.");
  if (stanzas->empty()) Damaged(what, "Its header has no recipient stanza.");
}

}  // namespace

Decryptor::Decryptor(std::vector<Key> ring) : ring_(std::move(ring)) {}

Decryptor::~Decryptor() {
  for (auto &[salt, key] : scrypt_cache_) OPENSSL_cleanse(key.data(), key.size());
}

std::string Decryptor::UnwrapFileKey(const std::string &text, const std::string &what,
                                     size_t *header_bytes) {
  std::vector<Stanza> stanzas;
  std::string mac;
  size_t covered = 0;
  ParseHeader(text, what, &stanzas, &mac, &covered);
  *header_bytes = covered + 1 + 43 + 1;
  bool has_scrypt = false;
  for (const auto &s : stanzas) has_scrypt |= s.args[0] == "scrypt";
  if (has_scrypt && stanzas.size() != 1)
    Damaged(what, "Its header has a passphrase stanza beside other stanzas.");
  std::string file_key;
  bool found = false;
  for (const auto &s : stanzas) {
    if (s.args[0] == "X25519") {
      std::string share;
      if (s.args.size() != 2 || !B64Decode(s.args[1], &share) || share.size() != 32 ||
          s.body.size() != 32)
        Damaged(what, "An X25519 stanza of its header is malformed.");
      for (const auto &key : ring_) {
        if (key.kind != Key::Kind::kX25519) continue;
        std::string shared = X25519(key.secret, share);
        if (shared.empty()) Damaged(what, "An X25519 stanza of its header has a low-order share.");
        std::string wrap_key = HkdfSha256(shared, share + key.public_key, kX25519Info, 32);
        if (UnwrapBody(wrap_key, s.body, &file_key)) {
          found = true;
          break;
        }
      }
    } else if (s.args[0] == "scrypt") {
      std::string salt;
      const std::string &factor = s.args.size() == 3 ? s.args[2] : std::string();
      bool factor_ok = !factor.empty() && factor.size() <= 2 && factor[0] != '0' &&
                       factor.find_first_not_of("0123456789") == std::string::npos;
      if (s.args.size() != 3 || !B64Decode(s.args[1], &salt) || salt.size() != 16 || !factor_ok ||
          s.body.size() != 32)
        Damaged(what, "The passphrase stanza of its header is malformed.");
      int log_n = std::stoi(factor);
      if (log_n > kMaxScryptLogN)
        Damaged(what, "Its passphrase stanza asks for a work factor above 2^" +
                          std::to_string(kMaxScryptLogN) + ".");
      for (size_t k = 0; k < ring_.size(); k++) {
        if (ring_[k].kind != Key::Kind::kPassphrase) continue;
        std::string cache_key = salt + factor + "/" + std::to_string(k);
        auto it = scrypt_cache_.find(cache_key);
        if (it == scrypt_cache_.end())
          it = scrypt_cache_.emplace(cache_key, Scrypt(ring_[k].secret, salt, log_n)).first;
        if (UnwrapBody(it->second, s.body, &file_key)) {
          found = true;
          break;
        }
      }
    }
    if (found) break;
  }
  if (!found) {
    size_t identities = 0, passphrases = 0;
    for (const auto &key : ring_) (key.kind == Key::Kind::kX25519 ? identities : passphrases)++;
    std::string kinds;
    for (const auto &s : stanzas) kinds += (kinds.empty() ? "" : ", ") + s.args[0];
    throw Error(
        kWrongKey, "no key of the target's key ring decrypts " + what,
        "The object is encrypted to " + std::to_string(stanzas.size()) + " recipient(s) (" + kinds +
            "); the key ring holds " + std::to_string(identities) + " identity(ies) and " +
            std::to_string(passphrases) + " passphrase(s), none of which opens it.",
        "Add the key the backup was written with: SELECT "
        "cdw_backup_add_decryption_key('<target>', '<AGE-SECRET-KEY-1... or passphrase>');");
  }
  if (file_key.size() != kFileKeySize) Damaged(what, "Its file key has the wrong length.");
  if (!ConstantTimeEqual(mac, HeaderMac(file_key, text.substr(0, covered))))
    Damaged(what, "The MAC of its header does not verify.");
  return file_key;
}

namespace {

class DecryptingSource : public ByteSource {
 public:
  DecryptingSource(Decryptor *decryptor, std::unique_ptr<ByteSource> upstream, std::string what)
      : decryptor_(decryptor), upstream_(std::move(upstream)), what_(std::move(what)) {}

  size_t Read(char *buffer, size_t capacity) override {
    if (!started_) Start();
    while (plain_offset_ == plain_.size()) {
      if (done_) return 0;
      NextChunk();
    }
    size_t n = std::min(capacity, plain_.size() - plain_offset_);
    memcpy(buffer, plain_.data() + plain_offset_, n);
    plain_offset_ += n;
    return n;
  }

 private:
  // Reads until `in_` holds at least `want` bytes or the upstream ends.
  void Fill(size_t want) {
    char block[1 << 16];
    while (!eof_ && in_.size() - in_offset_ < want) {
      size_t n = upstream_->Read(block, sizeof block);
      if (n == 0)
        eof_ = true;
      else
        in_.append(block, n);
    }
  }

  void Compact() {
    if (in_offset_ > (1 << 17)) {
      in_.erase(0, in_offset_);
      in_offset_ = 0;
    }
  }

  void Start() {
    started_ = true;
    // The header ends with the line "--- <43 base64>\n".
    size_t searched = 0;
    for (;;) {
      size_t mac = in_.find("\n---", searched > 4 ? searched - 4 : 0);
      if (mac != std::string::npos) {
        size_t end = in_.find('\n', mac + 1);
        if (end != std::string::npos) break;
      }
      searched = in_.size();
      if (in_.size() > kMaxHeaderBytes) Damaged(what_, "Its header is longer than 1 MiB.");
      if (eof_) {
        if (!LooksLikeAge(in_))
          Damaged(what_, "It is not an age file (it is not encrypted, or it was replaced).");
        Damaged(what_, "Its header is cut short.");
      }
      Fill(in_.size() + 1);
      if (!LooksLikeAge(in_))
        Damaged(what_, "It is not an age file (it is not encrypted, or it was replaced).");
    }
    size_t header_bytes = 0;
    std::string file_key = decryptor_->UnwrapFileKey(in_, what_, &header_bytes);
    in_offset_ = header_bytes;
    Fill(kNonceSize);
    if (in_.size() - in_offset_ < kNonceSize) Damaged(what_, "Its payload nonce is cut short.");
    payload_key_ = HkdfSha256(file_key, in_.substr(in_offset_, kNonceSize), "payload", 32);
    OPENSSL_cleanse(file_key.data(), file_key.size());
    in_offset_ += kNonceSize;
  }

  void NextChunk() {
    const size_t sealed = kChunkSize + kTagSize;
    Fill(sealed + 1);
    size_t available = in_.size() - in_offset_;
    bool last = available <= sealed;
    size_t len = last ? available : sealed;
    if (last && len == 0) Damaged(what_, "Its payload has no final chunk (it was cut short).");
    std::string nonce = ChunkNonce(counter_, last);
    if (!aead_.Open(payload_key_, reinterpret_cast<const unsigned char *>(nonce.data()),
                    in_.data() + in_offset_, len, &plain_))
      Damaged(what_, "Chunk " + std::to_string(counter_) +
                         " of its payload does not verify (changed, cut short or extended).");
    if (last && plain_.empty() && counter_ > 0)
      Damaged(what_, "Its payload ends with an empty chunk.");
    in_offset_ += len;
    plain_offset_ = 0;
    counter_++;
    done_ = last;
    Compact();
  }

  Decryptor *decryptor_;
  std::unique_ptr<ByteSource> upstream_;
  std::string what_;
  bool started_ = false, eof_ = false, done_ = false;
  std::string in_;
  size_t in_offset_ = 0;
  std::string payload_key_;
  std::string plain_;
  size_t plain_offset_ = 0;
  uint64_t counter_ = 0;
  Aead aead_;
};

}  // namespace

std::unique_ptr<ByteSource> Decryptor::Decrypt(std::unique_ptr<ByteSource> upstream,
                                               const std::string &what) {
  return std::make_unique<DecryptingSource>(this, std::move(upstream), what);
}

std::string Decryptor::DecryptString(const std::string &ciphertext, const std::string &what) {
  auto source = Decrypt(std::make_unique<StringSource>(ciphertext), what);
  return ReadToString(source.get());
}

RangeDecryptor::RangeDecryptor(Decryptor *decryptor, RandomAccessSource *source, std::string what)
    : source_(source), what_(std::move(what)) {
  const uint64_t size = source_->Size();
  // The header ends with the line "--- <43 base64>\n": read until it is in.
  std::string head;
  for (size_t want = 4096;; want *= 2) {
    want = std::min<uint64_t>({want, size, kMaxHeaderBytes + 64});
    head.resize(want);
    head.resize(source_->ReadAt(0, head.data(), want));
    if (!LooksLikeAge(head))
      Damaged(what_, "It is not an age file (it is not encrypted, or it was replaced).");
    size_t mac = head.find("\n---");
    if (mac != std::string::npos && head.find('\n', mac + 1) != std::string::npos) break;
    if (head.size() < want || want == size) Damaged(what_, "Its header is cut short.");
    if (want > kMaxHeaderBytes) Damaged(what_, "Its header is longer than 1 MiB.");
  }
  size_t header_bytes = 0;
  std::string file_key = decryptor->UnwrapFileKey(head, what_, &header_bytes);
  header_bytes_ = header_bytes;
  std::string nonce(kNonceSize, '\0');
  if (size < header_bytes_ + kNonceSize ||
      source_->ReadAt(header_bytes_, nonce.data(), kNonceSize) != kNonceSize) {
    OPENSSL_cleanse(file_key.data(), file_key.size());
    Damaged(what_, "Its payload nonce is cut short.");
  }
  payload_key_ = HkdfSha256(file_key, nonce, "payload", 32);
  OPENSSL_cleanse(file_key.data(), file_key.size());
  // The chunk framing follows from the size: every chunk but the last is
  // sealed full (64 KiB + tag); the last holds at least a tag, and at least
  // one byte unless it is the only chunk.
  const uint64_t sealed = kChunkSize + kTagSize;
  const uint64_t payload = size - header_bytes_ - kNonceSize;
  if (payload == 0) Damaged(what_, "Its payload has no final chunk (it was cut short).");
  chunks_ = (payload + sealed - 1) / sealed;
  last_sealed_ = payload - (chunks_ - 1) * sealed;
  if (last_sealed_ < kTagSize || (chunks_ > 1 && last_sealed_ == kTagSize))
    Damaged(what_, "Its size does not end on a chunk (it was cut short or extended).");
  plaintext_size_ = (chunks_ - 1) * kChunkSize + last_sealed_ - kTagSize;
}

RangeDecryptor::~RangeDecryptor() {
  OPENSSL_cleanse(payload_key_.data(), payload_key_.size());
}

std::string RangeDecryptor::Read(uint64_t offset, size_t len) {
  std::string out;
  if (offset >= plaintext_size_ || len == 0) return out;
  const uint64_t end =
      std::min<uint64_t>(plaintext_size_, offset + std::min<uint64_t>(len, plaintext_size_));
  out.reserve(end - offset);
  Aead aead;
  std::string sealed(kChunkSize + kTagSize, '\0'), plain;
  for (uint64_t i = offset / kChunkSize; i * kChunkSize < end; i++) {
    const bool last = i + 1 == chunks_;
    const size_t want = last ? last_sealed_ : kChunkSize + kTagSize;
    if (source_->ReadAt(PayloadChunkOffset(header_bytes_, i), sealed.data(), want) != want)
      Damaged(what_, "Chunk " + std::to_string(i) +
                         " of its payload is cut short (the object "
                         "changed while it was read).");
    std::string nonce = ChunkNonce(i, last);
    if (!aead.Open(payload_key_, reinterpret_cast<const unsigned char *>(nonce.data()),
                   sealed.data(), want, &plain))
      Damaged(what_,
              "Chunk " + std::to_string(i) +
                  " of its payload does not verify (changed, moved, cut short or extended).");
    const uint64_t chunk_start = i * kChunkSize;
    const uint64_t from = std::max(offset, chunk_start) - chunk_start;
    const uint64_t to = std::min<uint64_t>(end - chunk_start, plain.size());
    out.append(plain, from, to - from);
  }
  OPENSSL_cleanse(plain.data(), plain.size());
  return out;
}

std::string DecryptPayload(const std::string &file_key, const std::string &payload,
                           const std::string &what) {
  // A decryptor that never unwraps: a fake header is not needed, so walk the
  // chunks directly.
  if (payload.size() < kNonceSize) Damaged(what, "Its payload nonce is cut short.");
  std::string key = HkdfSha256(file_key, payload.substr(0, kNonceSize), "payload", 32);
  Aead aead;
  std::string out, plain;
  size_t offset = kNonceSize;
  uint64_t counter = 0;
  const size_t sealed = kChunkSize + kTagSize;
  for (;;) {
    size_t available = payload.size() - offset;
    bool last = available <= sealed;
    size_t len = last ? available : sealed;
    if (last && len == 0) Damaged(what, "Its payload has no final chunk (it was cut short).");
    std::string nonce = ChunkNonce(counter, last);
    if (!aead.Open(key, reinterpret_cast<const unsigned char *>(nonce.data()),
                   payload.data() + offset, len, &plain))
      Damaged(what, "Chunk " + std::to_string(counter) + " of its payload does not verify.");
    if (last && plain.empty() && counter > 0)
      Damaged(what, "Its payload ends with an empty chunk.");
    out += plain;
    offset += len;
    counter++;
    if (last) return out;
  }
}

}  // namespace cdw::age
