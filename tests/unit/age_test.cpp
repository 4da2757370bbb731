// The age format (crypto/age.h): round trips, vectors the reference
// implementation (the age command) wrote, good and tampered
// (data/age/make_vectors.sh), ranged reads mid-object, wrong keys, and the
// encrypting store.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/sha256.h"
#include "crypto/age.h"
#include "format/part_io.h"
#include "manifest/authentication.h"
#include "manifest/verify.h"
#include "storage/encrypted_store.h"
#include "storage/file_store.h"

namespace cdw::age {
namespace {

std::string ReadFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A committed test data file: fails the test when it is missing.
std::string DataFile(const std::string &name) {
  std::string path = std::string(CDW_TEST_DATA_DIR) + "/age/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing test data " << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return s;
}

const char kFixtureIdentity[] =
    "AGE-SECRET-KEY-1JMCQNHF83J4ZW4XW0N7QJ5Y0N2X9N4CYDUR0UF2LWG27CNVZ3W0SD9ES7M";
const char kFixtureRecipient[] = "age1smmxvjpu4d6avyfgl47y73htjuqxhc5xqp0240skd0vz3cyfy5vqkd3lac";

TEST(Age, IdentityEncodingMatchesAgeKeygen) {
  Key key = ParseKey(kFixtureIdentity);
  EXPECT_EQ(key.kind, Key::Kind::kX25519);
  EXPECT_EQ(EncodeIdentity(key.secret), kFixtureIdentity);
  EXPECT_EQ(KeyLabel(key), kFixtureRecipient);
  // Lower case is the same identity; mixed case and a bad checksum are not.
  std::string lower = kFixtureIdentity;
  for (auto &c : lower) c = static_cast<char>(tolower(c));
  EXPECT_EQ(ParseKey(lower).secret, key.secret);
  std::string bad = kFixtureIdentity;
  bad.back() = bad.back() == 'M' ? 'N' : 'M';
  EXPECT_THROW(ParseKey(bad), Error);
  std::string mixed = kFixtureIdentity;
  mixed[20] = static_cast<char>(tolower(mixed[20]));
  EXPECT_THROW(ParseKey(mixed), Error);
}

TEST(Age, PassphrasesNeedEightBytesAndOneLine) {
  EXPECT_EQ(ParseKey("correct horse").kind, Key::Kind::kPassphrase);
  EXPECT_THROW(ParseKey("short"), Error);
  EXPECT_THROW(ParseKey("two\nlines here"), Error);
  try {
    ParseKey("AGE-SECRET-KEY-1NOTAKEY");
    FAIL();
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()).find("NOTAKEY"), std::string::npos);  // never echoed
    EXPECT_EQ(e.detail().find("NOTAKEY"), std::string::npos);
  }
}

TEST(Age, DecryptsWhatTheAgeCommandWrote) {
  Decryptor decryptor({ParseKey(kFixtureIdentity)});
  std::string file = ReadFile(std::string(CDW_TEST_DATA_DIR) + "/age/x25519_150k.age");
  ASSERT_FALSE(file.empty());
  // Read in odd-sized pieces.
  auto source = decryptor.Decrypt(std::make_unique<StringSource>(file, 7777), "fixture");
  EXPECT_EQ(ReadToString(source.get()), Pattern(150000));
}

TEST(Age, RoundTripsEverySizeAroundChunkBoundaries) {
  for (const Key &key : {GenerateIdentity(), ParseKey("a passphrase of ours")}) {
    Encryptor encryptor(key, 10);
    Decryptor decryptor({key});
    for (size_t size : {size_t{0}, size_t{1}, kChunkSize - 1, kChunkSize, kChunkSize + 1,
                        2 * kChunkSize, 3 * kChunkSize + 17, 17 * kChunkSize + 5}) {
      std::string plain = Pattern(size);
      std::string sealed = encryptor.EncryptString(plain);
      EXPECT_TRUE(LooksLikeAge(sealed));
      EXPECT_EQ(decryptor.DecryptString(sealed, "x"), plain) << size;
      // Written in odd pieces (buffered chunks) the same plaintext comes back.
      StringSink pieces;
      auto sink = encryptor.Encrypt(&pieces);
      for (size_t at = 0; at < size; at += 7777)
        sink->Write(plain.data() + at, std::min<size_t>(7777, size - at));
      sink->Finish();
      EXPECT_TRUE(pieces.finished);
      EXPECT_EQ(pieces.out.size(), sealed.size());
      EXPECT_EQ(decryptor.DecryptString(pieces.out, "x"), plain) << size;
      // Chunk arithmetic: the file is header + nonce + chunks with tags.
      size_t chunks = size == 0 ? 1 : (size + kChunkSize - 1) / kChunkSize;
      size_t header_bytes = 0;
      decryptor.UnwrapFileKey(sealed, "x", &header_bytes);
      EXPECT_EQ(sealed.size(), PayloadChunkOffset(header_bytes, chunks) - kChunkSize * chunks +
                                   size + (kTagSize * 0))
          << size;
    }
  }
}

TEST(Age, EveryObjectGetsItsOwnPayloadKey) {
  Key key = ParseKey("a passphrase of ours");
  Encryptor encryptor(key, 10);
  std::string a = encryptor.EncryptString("same"), b = encryptor.EncryptString("same");
  EXPECT_NE(a, b);  // same header (one scrypt per writer), fresh nonce
  size_t ha = 0, hb = 0;
  Decryptor decryptor({key});
  decryptor.UnwrapFileKey(a, "a", &ha);
  decryptor.UnwrapFileKey(b, "b", &hb);
  EXPECT_EQ(a.substr(0, ha), b.substr(0, hb));
  EXPECT_NE(a.substr(ha, kNonceSize), b.substr(hb, kNonceSize));
}

TEST(Age, AnyFlippedByteIsAnErrorNeverWrongData) {
  Key key = GenerateIdentity();
  Encryptor encryptor(key);
  Decryptor decryptor({key});
  std::string plain = Pattern(2 * kChunkSize + 100);
  std::string sealed = encryptor.EncryptString(plain);
  size_t header_bytes = 0;
  decryptor.UnwrapFileKey(sealed, "x", &header_bytes);
  for (size_t at : {size_t{3}, size_t{30}, header_bytes - 5, header_bytes + 2, header_bytes + 20,
                    header_bytes + kNonceSize + kChunkSize + 40, sealed.size() - 1}) {
    std::string bad = sealed;
    bad[at] ^= 0x01;
    try {
      decryptor.DecryptString(bad, "obj");
      ADD_FAILURE() << "no error for a flip at " << at;
    } catch (const Error &e) {
      EXPECT_TRUE(e.sqlstate() == "XX001" || e.sqlstate() == "28000") << at << e.what();
    }
  }
  // Cut short at a chunk boundary, and extended.
  EXPECT_THROW(decryptor.DecryptString(
                   sealed.substr(0, header_bytes + kNonceSize + kChunkSize + kTagSize), "obj"),
               Error);
  EXPECT_THROW(decryptor.DecryptString(sealed + "x", "obj"), Error);
  EXPECT_THROW(decryptor.DecryptString("plain,csv\n", "obj"), Error);
}

TEST(Age, WrongKeyIsItsOwnErrorAndARingOpensOldFiles) {
  Key old_key = GenerateIdentity(), new_key = GenerateIdentity();
  std::string sealed = Encryptor(old_key).EncryptString("old run");
  try {
    Decryptor({new_key}).DecryptString(sealed, "s3://b/run/manifest.json");
    FAIL();
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), "28000");
    EXPECT_NE(std::string(e.what()).find("s3://b/run/manifest.json"), std::string::npos);
    EXPECT_NE(e.hint().find("cdw_backup_add_decryption_key"), std::string::npos);
  }
  EXPECT_EQ(Decryptor({new_key, old_key}).DecryptString(sealed, "x"), "old run");
  EXPECT_THROW(
      Decryptor({ParseKey("not the passphrase")})
          .DecryptString(Encryptor(ParseKey("the passphrase"), 10).EncryptString("p"), "x"),
      Error);
}

TEST(Age, DecryptionIsStreamingWithBoundedReads) {
  // A source that counts how far ahead of the plaintext it was read.
  class Counting : public ByteSource {
   public:
    Counting(std::string d, size_t *read) : data_(std::move(d)), read_(read) {}
    size_t Read(char *buffer, size_t capacity) override {
      size_t n = std::min(capacity, data_.size() - *read_);
      memcpy(buffer, data_.data() + *read_, n);
      *read_ += n;
      return n;
    }
    std::string data_;
    size_t *read_;
  };
  Key key = GenerateIdentity();
  std::string sealed = Encryptor(key).EncryptString(Pattern(40 * kChunkSize));
  size_t consumed = 0;
  Decryptor decryptor({key});
  auto source = decryptor.Decrypt(std::make_unique<Counting>(sealed, &consumed), "x");
  char buffer[100];
  ASSERT_EQ(source->Read(buffer, sizeof buffer), sizeof buffer);
  EXPECT_LT(consumed, 3 * (kChunkSize + kTagSize));  // not the whole 2.6 MB
}

// --- vectors of the reference implementation ------------------------------
//
// data/age/vectors.txt: "<file> <key> <expect> <size> <sha256>" per line,
// made by data/age/make_vectors.sh with Debian's age 1.1.1, which also
// checked that age -d accepts the good ones and rejects the tampered ones.

struct Vector {
  std::string file, key, expect;
  size_t size = 0;
  std::string sha256;
};

std::vector<Vector> Vectors() {
  std::vector<Vector> vectors;
  std::istringstream lines(DataFile("vectors.txt"));
  for (std::string line; std::getline(lines, line);) {
    Vector v;
    std::istringstream fields(line);
    fields >> v.file >> v.key >> v.expect >> v.size >> v.sha256;
    EXPECT_FALSE(fields.fail()) << line;
    vectors.push_back(v);
  }
  return vectors;
}

Key VectorIdentity() {
  std::istringstream lines(DataFile("identity.txt"));
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("AGE-SECRET-KEY-1", 0) == 0) return ParseKey(line);
  ADD_FAILURE() << "no identity in identity.txt";
  return {};
}

Key VectorPassphrase() {
  std::string text = DataFile("passphrase.txt");
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return ParseKey(text);
}

TEST(Age, ReferenceVectors) {
  std::vector<Vector> vectors = Vectors();
  // Both kinds of recipient at every size, and every kind of tampering.
  ASSERT_EQ(vectors.size(), 13u);
  Decryptor decryptor({VectorIdentity(), VectorPassphrase()});
  std::map<std::string, int> seen;
  for (const Vector &v : vectors) {
    SCOPED_TRACE(v.file);
    std::string file = DataFile(v.file);
    ASSERT_FALSE(file.empty());
    seen[v.key + " " + v.expect]++;
    if (v.expect == "success") {
      // Streaming, in odd-sized reads, and in one piece.
      auto source = decryptor.Decrypt(std::make_unique<StringSource>(file, 7777), v.file);
      std::string plain = ReadToString(source.get());
      EXPECT_EQ(plain.size(), v.size);
      EXPECT_EQ(Sha256::HexOf(plain.data(), plain.size()), v.sha256);
      EXPECT_EQ(plain, Pattern(v.size));
      EXPECT_EQ(decryptor.DecryptString(file, v.file), plain);
      continue;
    }
    ASSERT_TRUE(v.expect == "damaged" || v.expect == "wrong_key") << v.expect;
    try {
      decryptor.DecryptString(file, v.file);
      ADD_FAILURE() << "decrypted";
    } catch (const Error &e) {
      EXPECT_EQ(e.sqlstate(), v.expect == "damaged" ? "XX001" : "28000") << e.what();
      EXPECT_NE(std::string(e.what()).find(v.file), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(seen["identity success"], 4);
  EXPECT_EQ(seen["passphrase success"], 4);
  EXPECT_EQ(seen["identity damaged"], 4);
  EXPECT_EQ(seen["identity wrong_key"], 1);
}

// --- ranged reads mid-object ------------------------------------------------

class AgeRange : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    decryptor_ = new Decryptor({VectorIdentity(), VectorPassphrase()});
  }
  static void TearDownTestSuite() {
    delete decryptor_;
    decryptor_ = nullptr;
  }
  static Decryptor *decryptor_;
};

Decryptor *AgeRange::decryptor_ = nullptr;

TEST_F(AgeRange, EveryRangeIsThePlaintextAtThatOffset) {
  for (const char *name : {"x25519_multi.age", "scrypt_multi.age", "x25519_64k.age",
                           "x25519_64k1.age", "x25519_empty.age"}) {
    SCOPED_TRACE(name);
    StringRandomAccess file(DataFile(name));
    RangeDecryptor range(decryptor_, &file, name);
    const size_t size = range.PlaintextSize();
    const std::string plain = Pattern(size);
    ASSERT_EQ(plain.size(), size);
    struct Case {
      uint64_t offset;
      size_t len;
    };
    for (Case c : std::vector<Case>{{0, 0},
                                    {0, 1},
                                    {0, size},
                                    {0, SIZE_MAX},
                                    {kChunkSize - 3, 10},  // across a chunk boundary
                                    {kChunkSize, 1},
                                    {2 * kChunkSize + 5, 900},  // in the last chunk
                                    {1000, 2 * kChunkSize},     // across both boundaries
                                    {size > 0 ? size - 1 : 0, 10},
                                    {size, 1},
                                    {size + 100000, 5}}) {
      std::string expected = c.offset < size ? plain.substr(c.offset, c.len) : "";
      EXPECT_EQ(range.Read(c.offset, c.len), expected) << c.offset << "+" << c.len;
    }
  }
}

TEST_F(AgeRange, ReadsOnlyTheHeaderAndTheChunksOfTheRange) {
  std::string data = DataFile("x25519_multi.age");
  StringRandomAccess file(data);
  RangeDecryptor range(decryptor_, &file, "x25519_multi.age");
  EXPECT_EQ(range.PlaintextSize(), 2 * kChunkSize + 1000);
  uint64_t header = file.bytes_read;
  EXPECT_LE(header, 4096u + kNonceSize);
  // A range in the last chunk: that chunk alone (1000 bytes and its tag).
  EXPECT_EQ(range.Read(2 * kChunkSize + 10, 20),
            Pattern(2 * kChunkSize + 30).substr(2 * kChunkSize + 10));
  EXPECT_EQ(file.bytes_read - header, 1000 + kTagSize);
  // A range across the first boundary: chunks 0 and 1, never chunk 2.
  uint64_t before = file.bytes_read;
  EXPECT_EQ(range.Read(kChunkSize - 1, 2), Pattern(kChunkSize + 1).substr(kChunkSize - 1));
  EXPECT_EQ(file.bytes_read - before, 2 * (kChunkSize + kTagSize));
}

TEST_F(AgeRange, ATamperedChunkInTheRangeIsAnError) {
  auto expect_damaged = [](RangeDecryptor *range, uint64_t offset, size_t len) {
    try {
      range->Read(offset, len);
      ADD_FAILURE() << "no error for " << offset << "+" << len;
    } catch (const Error &e) {
      EXPECT_EQ(e.sqlstate(), "XX001") << e.what();
      EXPECT_NE(e.detail().find("does not verify"), std::string::npos) << e.detail();
    }
  };
  {
    // A byte of chunk 0 flipped: chunk 1 still reads, anything in chunk 0 fails.
    StringRandomAccess file(DataFile("tampered_payload_byte.age"));
    RangeDecryptor range(decryptor_, &file, "tampered_payload_byte.age");
    EXPECT_EQ(range.Read(kChunkSize, 1), Pattern(kChunkSize + 1).substr(kChunkSize));
    expect_damaged(&range, 1000, 1);
    expect_damaged(&range, 10, 5);  // the same chunk, far from the flipped byte
    expect_damaged(&range, kChunkSize - 1, 2);
  }
  {
    // The middle chunk dropped: the last one is now read as chunk 1.
    StringRandomAccess file(DataFile("tampered_chunk_dropped.age"));
    RangeDecryptor range(decryptor_, &file, "tampered_chunk_dropped.age");
    EXPECT_EQ(range.Read(0, 10), Pattern(10));
    expect_damaged(&range, kChunkSize, 10);
  }
  {
    // Two chunks and a last one cut short: the last tag fails.
    std::string data = DataFile("x25519_multi.age");
    StringRandomAccess file(data.substr(0, data.size() - 5));
    RangeDecryptor range(decryptor_, &file, "cut");
    expect_damaged(&range, 2 * kChunkSize, 1);
    // Cut at a chunk boundary: chunk 1 is read as the last one and fails.
    StringRandomAccess at_boundary(data.substr(0, data.size() - 1000 - kTagSize));
    RangeDecryptor boundary(decryptor_, &at_boundary, "cut");
    expect_damaged(&boundary, kChunkSize, 1);
  }
  // A header MAC changed, a size no age file has, another recipient.
  for (auto [name, state] :
       std::vector<std::pair<std::string, std::string>>{{"tampered_header_mac.age", "XX001"},
                                                        {"tampered_truncated.age", "XX001"},
                                                        {"wrong_key.age", "28000"}}) {
    StringRandomAccess file(DataFile(name));
    try {
      RangeDecryptor range(decryptor_, &file, name);
      range.Read(0, 1 << 20);
      ADD_FAILURE() << name;
    } catch (const Error &e) {
      EXPECT_EQ(e.sqlstate(), state) << name << ": " << e.what();
    }
  }
  StringRandomAccess plain("id,name\n1,x\n");
  EXPECT_THROW(RangeDecryptor(decryptor_, &plain, "plain"), Error);
}

// --- the encrypting store ---------------------------------------------------

class EncryptedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cdw_age_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::unique_ptr<ObjectStore> Store(const std::string &ring) {
    return WithEncryption(std::make_unique<FileStore>(dir_), {{"encryption", "on"}}, ring);
  }
  std::string dir_;
};

TEST_F(EncryptedStoreTest, PartsAreStoredEncryptedAndChecksummedAsStored) {
  std::string ring = std::string(kFixtureIdentity) + "\n";
  auto store = Store(ring);
  PartWriter writer(store.get(), "t/part-1.csv.gz", Compression::kGzip, 6);
  for (int i = 0; i < 1000; i++) {
    std::string value = "row " + std::to_string(i);
    writer.csv().AppendField(value.data(), value.size(), false, true, true);
    writer.csv().EndRecord();
    writer.CountRow();
  }
  PartStats stats = writer.FinishAndCommit();
  std::string stored = ReadFile(dir_ + "/t/part-1.csv.gz");
  EXPECT_TRUE(LooksLikeAge(stored));
  EXPECT_EQ(stats.bytes_stored, stored.size());
  EXPECT_EQ(stats.sha256, Sha256::HexOf(stored.data(), stored.size()));
  // Readable through the store, and verify checks the stored bytes.
  PartReader reader(store.get(), "t/", Compression::kGzip, false);
  std::vector<CsvField> fields;
  int rows = 0;
  while (reader.NextRecord(&fields)) rows++;
  EXPECT_EQ(rows, 1000);
  ManifestObject object;
  object.key = "part-1.csv.gz";
  object.size = stats.bytes_stored;
  object.sha256 = stats.sha256;
  object.rows = 1000;
  std::vector<ManifestObject> objects = {object};
  EXPECT_TRUE(VerifyTable(store.get(), "t/", objects, Compression::kGzip, 1000).empty());
  // A flipped byte: verify reports it, a reader fails.
  stored[stored.size() / 2] ^= 0x20;
  std::ofstream(dir_ + "/t/part-1.csv.gz", std::ios::binary) << stored;
  auto problems = VerifyTable(store.get(), "t/", objects, Compression::kGzip, 1000);
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems[0].kind, "corrupt_data");
  PartReader damaged(store.get(), "t/", Compression::kGzip, false);
  EXPECT_THROW(
      {
        while (damaged.NextRecord(&fields)) {
        }
      },
      Error);
}

TEST_F(EncryptedStoreTest, ManifestMacCoversTheStoredBytes) {
  auto store = Store(std::string(kFixtureIdentity));
  std::string mac_key(32, 'k');
  WriteAuthenticatedObject(store.get(), mac_key, "run/manifest.json", "{\"a\":1}");
  std::string stored = ReadFile(dir_ + "/run/manifest.json");
  EXPECT_TRUE(LooksLikeAge(stored));
  EXPECT_EQ(ReadFile(dir_ + "/run/manifest.json.hmac"),
            MacObject(mac_key, "run/manifest.json", stored));
  AuthenticatedRead read = ReadAuthenticatedObject(store.get(), mac_key, "run/manifest.json");
  EXPECT_EQ(read.verdict, MacVerdict::kValid);
  EXPECT_EQ(read.bytes, "{\"a\":1}");
  // A changed byte is a MAC mismatch, reported before any decryption.
  stored[stored.size() - 3] ^= 1;
  std::ofstream(dir_ + "/run/manifest.json", std::ios::binary) << stored;
  read = ReadAuthenticatedObject(store.get(), mac_key, "run/manifest.json");
  EXPECT_EQ(read.verdict, MacVerdict::kMismatch);
  // No key: a clear error.
  EXPECT_THROW(Store(""), Error);
}

TEST_F(EncryptedStoreTest, TheAgeCommandDecryptsWhatWeStore) {
  // scripts/install-deps.sh --test installs the age command.
  ASSERT_EQ(system("age --version >/dev/null 2>&1"), 0) << "the age command is missing";
  auto store = Store(kFixtureIdentity);
  std::string plain = Pattern(3 * kChunkSize + 5);
  auto writer = store->Create("obj");
  writer->Write(plain.data(), plain.size());
  writer->Finish();
  writer->Commit();
  std::string cmd = "age -d -i " + std::string(CDW_TEST_DATA_DIR) + "/age/identity.txt -o " + dir_ +
                    "/out " + dir_ + "/obj";
  ASSERT_EQ(system(cmd.c_str()), 0);
  EXPECT_EQ(ReadFile(dir_ + "/out"), plain);
}

}  // namespace
}  // namespace cdw::age
