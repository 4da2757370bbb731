// HMAC-SHA-256 (RFC 2104 / FIPS 198-1, through OpenSSL) and the hex codec
// of keys and MACs. PostgreSQL-free; used to authenticate manifests.
#pragma once

#include <optional>
#include <string>

namespace cdw {

constexpr size_t kHmacSha256Bytes = 32;

// The 32-byte MAC of `data` under `key` (both raw bytes).
std::string HmacSha256(const std::string &key, const std::string &data);

// Equality of two byte strings in time that depends only on their lengths
// (OpenSSL's CRYPTO_memcmp), for comparing MACs.
bool ConstantTimeEqual(const std::string &a, const std::string &b);

// Lower-case hex of raw bytes.
std::string HexEncode(const std::string &bytes);
// Raw bytes of a hex string (either case); nullopt when it is not hex or
// has an odd length.
std::optional<std::string> HexDecode(const std::string &hex);

}  // namespace cdw
