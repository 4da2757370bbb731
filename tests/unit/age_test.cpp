// The age format (crypto/age.h): round trips, files the age command wrote,
// the C2SP/CCTV test vectors (when CDW_AGE_TESTKIT names their directory),
// tampering and wrong keys, and the encrypting store.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <dirent.h>
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

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return s;
}

// Reads a source in odd-sized pieces.
std::string Drain(ByteSource *source) {
  std::string out;
  char buffer[7777];
  while (size_t n = source->Read(buffer, sizeof buffer)) out.append(buffer, n);
  return out;
}

class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  size_t Read(char *buffer, size_t capacity) override {
    size_t n = std::min(capacity, data_.size() - offset_);
    memcpy(buffer, data_.data() + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t offset_ = 0;
};

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
  auto source = decryptor.Decrypt(std::make_unique<StringSource>(file), "fixture");
  EXPECT_EQ(Drain(source.get()), Pattern(150000));
}

TEST(Age, RoundTripsEverySizeAroundChunkBoundaries) {
  for (const Key &key : {GenerateIdentity(), ParseKey("a passphrase of ours")}) {
    Encryptor encryptor(key, 10);
    Decryptor decryptor({key});
    for (size_t size : {size_t{0}, size_t{1}, kChunkSize - 1, kChunkSize, kChunkSize + 1,
                        2 * kChunkSize, 3 * kChunkSize + 17}) {
      std::string plain = Pattern(size);
      std::string sealed = encryptor.EncryptString(plain);
      EXPECT_TRUE(LooksLikeAge(sealed));
      EXPECT_EQ(decryptor.DecryptString(sealed, "x"), plain) << size;
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

// --- C2SP/CCTV age test vectors ------------------------------------------

std::string Inflate(const std::string &in) {
  std::string out;
  z_stream z{};
  inflateInit(&z);
  z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buffer[1 << 16];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef *>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  return out;
}

TEST(Age, TestkitVectors) {
  const char *dir = getenv("CDW_AGE_TESTKIT");
  if (!dir) GTEST_SKIP() << "set CDW_AGE_TESTKIT to the testdata directory of C2SP/CCTV age";
  DIR *d = opendir(dir);
  ASSERT_NE(d, nullptr);
  int checked = 0;
  while (dirent *entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name[0] == '.') continue;
    std::string file = ReadFile(std::string(dir) + "/" + name);
    size_t blank = file.find("\n\n");
    ASSERT_NE(blank, std::string::npos) << name;
    std::map<std::string, std::vector<std::string>> fields;
    std::istringstream header(file.substr(0, blank));
    for (std::string line; std::getline(header, line);) {
      size_t colon = line.find(": ");
      fields[line.substr(0, colon)].push_back(line.substr(colon + 2));
    }
    if (fields.count("armored") || name.rfind("hybrid", 0) == 0) continue;  // not supported
    std::string body = file.substr(blank + 2);
    if (fields.count("compressed")) body = Inflate(body);
    std::vector<Key> ring;
    bool post_quantum = false;
    for (const auto &id : fields["identity"]) {
      if (id.rfind("AGE-SECRET-KEY-PQ-", 0) == 0)
        post_quantum = true;  // ML-KEM hybrids are not supported
      else
        ring.push_back(ParseKey(id));
    }
    if (post_quantum) continue;
    // The vectors' passphrases may be shorter than we accept for targets.
    for (const auto &p : fields["passphrase"]) ring.push_back({Key::Kind::kPassphrase, p, {}});
    const std::string expect = fields["expect"].at(0);
    Decryptor decryptor(ring);
    bool ok = false;
    std::string plain;
    try {
      plain = decryptor.DecryptString(body, name);
      ok = true;
    } catch (const Error &) {
    }
    if (expect == "success") {
      ASSERT_TRUE(ok) << name;
      EXPECT_EQ(Sha256::HexOf(plain.data(), plain.size()), fields["payload"].at(0)) << name;
    } else {
      EXPECT_FALSE(ok) << name << " (expect " << expect << ")";
    }
    checked++;
  }
  closedir(d);
  EXPECT_GT(checked, 80);
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
  std::vector<ManifestObject> objects = {{"part-1.csv.gz", stats.bytes_stored, stats.sha256, 1000}};
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
  if (system("age --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no age command";
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
