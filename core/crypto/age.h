// Client-side encryption in the age file format (https://age-encryption.org/v1),
// so that anyone holding the key can decrypt a stored object with the stock
// `age` command, without cdw_backup:
//
//   age-encryption.org/v1
//   -> X25519 <ephemeral share>          one stanza per recipient: the file
//   <wrapped file key>                   key wrapped with ChaCha20-Poly1305
//   --- <HMAC-SHA-256 of the header>     under an HKDF key from the file key
//   <16-byte nonce><STREAM payload>      64 KiB chunks, each ChaCha20-Poly1305
//                                        with a counter nonce and a last flag
//
// Keys are X25519 identities ("AGE-SECRET-KEY-1...", as age-keygen writes
// them) or passphrases (the scrypt recipient). Everything is streaming with
// bounded memory: one 64 KiB chunk is buffered reading, and at most ~1 MiB
// of sealed chunks writing (the store gets fewer, larger writes); a chunk
// is handed on only after its tag verified, so a changed byte is an
// error, never wrong data. Chunk i of the payload starts at
// header size + 16 + i * (64 KiB + 16) (PayloadChunkOffset), so a ranged read
// can start mid-object: RangeDecryptor reads the header and then only the
// chunks of the range.
//
// Built on OpenSSL: X25519, HKDF-SHA-256, ChaCha20-Poly1305, HMAC, scrypt.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/byte_stream.h"

namespace cdw::age {

constexpr size_t kChunkSize = 64 * 1024;
constexpr size_t kTagSize = 16;
constexpr size_t kNonceSize = 16;
constexpr size_t kFileKeySize = 16;
// scrypt work factor (log2 N) of passphrase stanzas we write, and the
// largest one we accept when reading (age's own limit).
constexpr int kScryptLogN = 16;
constexpr int kMaxScryptLogN = 22;
constexpr const char *kMagic = "age-encryption.org/v1\n";

// One key of a key ring.
struct Key {
  enum class Kind { kX25519, kPassphrase };
  Kind kind = Kind::kX25519;
  std::string secret;      // 32 raw bytes (X25519) or the passphrase
  std::string public_key;  // X25519: the 32-byte public key
};

// "AGE-SECRET-KEY-1..." is an X25519 identity; anything else a passphrase
// (at least 8 bytes, no newline). Throws cdw::Error (22023) whose text never
// repeats the key.
Key ParseKey(const std::string &text);
// One key per line; the first is the one new objects are encrypted to.
std::vector<Key> ParseKeyRing(const std::string &lines);

// The identity and recipient strings of age-keygen.
std::string EncodeIdentity(const std::string &secret);       // AGE-SECRET-KEY-1...
std::string EncodeRecipient(const std::string &public_key);  // age1...
// A fresh identity from OpenSSL's random source.
Key GenerateIdentity();

// What a key is called in manifests and messages, revealing nothing secret:
// the recipient ("age1...") of an identity, "passphrase" for a passphrase.
std::string KeyLabel(const Key &key);

// bech32 (BIP 173, without its 90-character limit, as age uses it).
std::string Bech32Encode(const std::string &hrp, const std::string &data);
// Returns false unless `text` is valid bech32 (one case) with `hrp`.
bool Bech32Decode(const std::string &text, const std::string &hrp, std::string *data);

// Encrypts objects to one key. For a passphrase the header (and so the file
// key and the scrypt derivation) is made once per Encryptor, and each object
// gets its own random payload nonce, hence its own payload key; for an
// X25519 identity each object gets a fresh file key.
class Encryptor {
 public:
  explicit Encryptor(const Key &key, int scrypt_log_n = kScryptLogN);
  ~Encryptor();
  Encryptor(const Encryptor &) = delete;
  Encryptor &operator=(const Encryptor &) = delete;

  // A sink encrypting into `downstream` (not owned); its Finish() writes
  // the last chunk and finishes `downstream`.
  std::unique_ptr<ByteSink> Encrypt(ByteSink *downstream);
  // The whole of `plaintext`, encrypted.
  std::string EncryptString(const std::string &plaintext);

 private:
  Key key_;
  int scrypt_log_n_;
  std::string cached_file_key_, cached_header_;
};

// Decrypts with any key of a ring. Caches passphrase derivations by salt,
// so the objects one writer wrote cost one scrypt.
class Decryptor {
 public:
  explicit Decryptor(std::vector<Key> ring);
  ~Decryptor();
  Decryptor(const Decryptor &) = delete;
  Decryptor &operator=(const Decryptor &) = delete;

  // The plaintext of an age file read from `upstream`. `what` names the
  // object in errors (its URL). Errors (cdw::Error): 28000 when no key of
  // the ring opens the file, XX001 when it is not an age file or was
  // changed (the header MAC or a chunk's tag does not verify, truncated,
  // trailing bytes).
  std::unique_ptr<ByteSource> Decrypt(std::unique_ptr<ByteSource> upstream,
                                      const std::string &what);
  std::string DecryptString(const std::string &ciphertext, const std::string &what);

  // The file key of a header (testing, and recovering a key for a header).
  // Public for the header parser.
  std::string UnwrapFileKey(const std::string &header_text, const std::string &what,
                            size_t *header_bytes);

 private:
  std::vector<Key> ring_;
  std::map<std::string, std::string> scrypt_cache_;  // salt+logN+key index -> wrap key
};

// Byte offset of payload chunk `index` in a file whose header is
// `header_bytes` long.
inline uint64_t PayloadChunkOffset(uint64_t header_bytes, uint64_t index) {
  return header_bytes + kNonceSize + index * (kChunkSize + kTagSize);
}

// Decrypts any plaintext range of an age file while reading only its header
// and the STREAM chunks that hold the range. Chunk i is stored at
// PayloadChunkOffset(header, i) and sealed under the nonce i (11 bytes, big
// endian) followed by 1 for the last chunk and 0 for the others; which chunk
// is last follows from the object's size, so an object cut short or
// extended fails its last chunk's tag instead of giving other plaintext.
// Every chunk read is verified before any of its bytes is returned. A range
// that does not reach a changed chunk still decrypts: only the bytes
// returned are authenticated (they are the plaintext at that position).
class RangeDecryptor {
 public:
  // Reads the header and checks its MAC at once; `decryptor` (its key ring)
  // and `source` must outlive this. Errors as Decryptor::Decrypt's: 28000
  // for no key of the ring, XX001 for a damaged header or a size that no
  // age file of this header can have.
  RangeDecryptor(Decryptor *decryptor, RandomAccessSource *source, std::string what);
  ~RangeDecryptor();
  RangeDecryptor(const RangeDecryptor &) = delete;
  RangeDecryptor &operator=(const RangeDecryptor &) = delete;

  uint64_t PlaintextSize() const { return plaintext_size_; }
  // The plaintext bytes [offset, offset + len), cut at PlaintextSize() (so
  // empty from there on). XX001 when a chunk of the range does not verify.
  std::string Read(uint64_t offset, size_t len);

 private:
  RandomAccessSource *source_;
  std::string what_;
  std::string payload_key_;
  uint64_t header_bytes_ = 0, chunks_ = 0, last_sealed_ = 0, plaintext_size_ = 0;
};

// Whether `prefix` (the first bytes of an object) starts like an age file.
bool LooksLikeAge(const std::string &prefix);

// Low-level pieces, exposed for the test vectors.
std::string HkdfSha256(const std::string &ikm, const std::string &salt, const std::string &info,
                       size_t length);
// Decrypts a STREAM payload (nonce + chunks) in one piece.
std::string DecryptPayload(const std::string &file_key, const std::string &payload,
                           const std::string &what);

}  // namespace cdw::age
