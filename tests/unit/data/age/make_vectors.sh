#!/usr/bin/env bash
# Makes the age test vectors of tests/unit/age_test.cpp (Age.ReferenceVectors,
# AgeRange.*) with the reference implementation, Debian's `age` 1.1.1
# (filippo.io/age), and checks that `age -d` itself accepts every good one and
# rejects every tampered one. The files are committed; run this only to
# remake them (the ciphertexts change: age draws fresh keys and nonces):
#
#   cd tests/unit/data/age && ./make_vectors.sh
#
# Plaintexts are pattern(n): byte i is (i * 7 + i / 251) mod 256, the
# Pattern() of age_test.cpp. vectors.txt lists, one vector per line:
#
#   <file> <key> <expect> <plaintext size> <SHA-256 of the plaintext>
#
# key: "identity" (identity.txt, the X25519 identity "AGE-SECRET-KEY-1..."
# that age-keygen wrote) or "passphrase" (passphrase.txt, scrypt recipient,
# age's work factor 2^18); expect: "success", "damaged" (the header MAC, a
# tag or the chunk framing does not verify) or "wrong_key" (no stanza opens
# with the key). Sizes: empty, exactly one 64 KiB chunk, 64 KiB + 1 (a full
# chunk and a 1-byte last chunk) and three chunks (2 * 64 KiB + 1000).
#
# Tampered files, all rejected by age -d:
#   tampered_header_mac   the first character of the header's MAC changed
#   tampered_payload_byte one byte of chunk 0 flipped (chunk 1 is intact)
#   tampered_truncated    the last byte cut off (the last chunk's tag)
#   tampered_chunk_dropped the middle of three chunks removed
#   wrong_key             a valid file for another recipient (its identity
#                         is thrown away)
set -euo pipefail
cd "$(dirname "$0")"

IDENTITY=identity.txt
RECIPIENT=$(age-keygen -y "$IDENTITY")
PASSPHRASE=$(cat passphrase.txt)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pattern() {
  python3 -c 'import sys; n = int(sys.argv[1]); sys.stdout.buffer.write(bytes((i * 7 + i // 251) & 0xff for i in range(n)))' "$1"
}

# age -p reads the passphrase from a terminal: `script` gives it one.
age_passphrase() {  # age_passphrase <age arguments...>
  printf '%s\n%s\n' "$PASSPHRASE" "$PASSPHRASE" |
    script -qec "age $(printf '%q ' "$@")" /dev/null >/dev/null
}

decrypts() {  # decrypts <file> <key> <expected plaintext file>
  # (age creates no output file for an empty plaintext: start with one.)
  : >"$work/out"
  if [ "$2" = identity ]; then
    age -d -i "$IDENTITY" -o "$work/out" "$1" 2>/dev/null || return 1
  else
    age_passphrase -d -o "$work/out" "$1" || return 1
  fi
  cmp -s "$work/out" "$3"
}

: >vectors.txt
vector() {  # vector <file> <key> <expect> <plaintext file>
  local size sha
  size=$(stat -c %s "$4")
  sha=$(sha256sum "$4" | cut -d' ' -f1)
  if [ "$3" = success ]; then
    decrypts "$1" "$2" "$4" || { echo "age does not decrypt $1" >&2; exit 1; }
  else
    ! decrypts "$1" "$2" "$4" || { echo "age accepts the tampered $1" >&2; exit 1; }
  fi
  echo "$1 $2 $3 $size $sha" >>vectors.txt
}

for spec in empty:0 64k:65536 64k1:65537 multi:132072; do
  name=${spec%%:*}
  pattern "${spec#*:}" >"$work/$name"
  age -r "$RECIPIENT" -o "x25519_$name.age" "$work/$name"
  vector "x25519_$name.age" identity success "$work/$name"
  age_passphrase -p -o "scrypt_$name.age" "$work/$name"
  vector "scrypt_$name.age" passphrase success "$work/$name"
done

# Byte surgery in Python: chunk i starts at header + 16 + i * (65536 + 16).
python3 - <<'EOF'
def read(p):
    with open(p, "rb") as f:
        return f.read()

def write(p, data):
    with open(p, "wb") as f:
        f.write(data)

def header_len(data):
    mac = data.index(b"\n--- ") + 1
    return data.index(b"\n", mac) + 1

empty = bytearray(read("x25519_empty.age"))
mac = empty.index(b"\n--- ") + 5
empty[mac] = ord("A") if empty[mac] != ord("A") else ord("B")
write("tampered_header_mac.age", bytes(empty))

one = bytearray(read("x25519_64k1.age"))
one[header_len(one) + 16 + 1000] ^= 0x01
write("tampered_payload_byte.age", bytes(one))

write("tampered_truncated.age", read("x25519_64k1.age")[:-1])

multi = read("x25519_multi.age")
start = header_len(multi) + 16 + 65552
write("tampered_chunk_dropped.age", multi[:start] + multi[start + 65552:])
EOF
vector tampered_header_mac.age identity damaged "$work/empty"
vector tampered_payload_byte.age identity damaged "$work/64k1"
vector tampered_truncated.age identity damaged "$work/64k1"
vector tampered_chunk_dropped.age identity damaged "$work/multi"

age-keygen -o "$work/other.txt" 2>/dev/null
pattern 1000 >"$work/small"
age -r "$(age-keygen -y "$work/other.txt")" -o wrong_key.age "$work/small"
vector wrong_key.age identity wrong_key "$work/small"

echo "wrote $(wc -l <vectors.txt) vectors"
