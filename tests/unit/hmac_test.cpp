#include "common/hmac_sha256.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/error.h"
#include "manifest/authentication.h"
#include "storage/file_store.h"

namespace cdw {
namespace {

std::string Hex(const std::string &bytes) {
  return HexEncode(bytes);
}

// RFC 4231, section 4 (HMAC-SHA-256 of test cases 1-4, 6 and 7).
TEST(HmacSha256Test, Rfc4231Vectors) {
  EXPECT_EQ(Hex(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(Hex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Hex(HmacSha256(std::string(20, '\xaa'), std::string(50, '\xdd'))),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  std::string key4;
  for (int i = 1; i <= 25; i++) key4.push_back(static_cast<char>(i));
  EXPECT_EQ(Hex(HmacSha256(key4, std::string(50, '\xcd'))),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  EXPECT_EQ(Hex(HmacSha256(std::string(131, '\xaa'),
                           "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(Hex(HmacSha256(std::string(131, '\xaa'),
                           "This is a test using a larger than block-size key and a larger than "
                           "block-size data. The key needs to be hashed before being used by the "
                           "HMAC algorithm.")),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(HmacSha256Test, HexRoundTripAndRejects) {
  std::string bytes("\x00\x01\xfe\xff", 4);
  EXPECT_EQ(HexEncode(bytes), "0001feff");
  EXPECT_EQ(*HexDecode("0001FEff"), bytes);
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
  EXPECT_TRUE(ConstantTimeEqual("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "abcd"));
}

class MacObjectTest : public ::testing::Test {
 protected:
  std::string key_ = std::string(32, '\x42');
  std::string name_ = "20261201/230000Z-run7/sales/manifest.json";
  std::string bytes_ = "{\"format_version\":1,\"tables\":[]}";
};

TEST_F(MacObjectTest, ValidWhenNothingChanged) {
  std::string mac = MacObject(key_, name_, bytes_);
  EXPECT_EQ(mac.rfind("cdw_backup-hmac-sha256 v1 key=" + KeyId(key_) + " mac=", 0), 0u);
  EXPECT_EQ(mac.back(), '\n');
  EXPECT_EQ(CheckMac(key_, name_, bytes_, mac), MacVerdict::kValid);
  mac.pop_back();  // the final newline is optional
  EXPECT_EQ(CheckMac(key_, name_, bytes_, mac), MacVerdict::kValid);
}

TEST_F(MacObjectTest, ChangedByteIsAMismatch) {
  std::string mac = MacObject(key_, name_, bytes_);
  for (size_t i = 0; i < bytes_.size(); i++) {
    std::string changed = bytes_;
    changed[i] ^= 1;
    EXPECT_EQ(CheckMac(key_, name_, changed, mac), MacVerdict::kMismatch) << i;
  }
  EXPECT_EQ(CheckMac(key_, name_, bytes_ + " ", mac), MacVerdict::kMismatch);
  EXPECT_EQ(CheckMac(key_, name_, bytes_.substr(1), mac), MacVerdict::kMismatch);
}

TEST_F(MacObjectTest, ObjectUnderAnotherNameIsAMismatch) {
  std::string mac = MacObject(key_, name_, bytes_);
  EXPECT_EQ(CheckMac(key_, "20261201/230000Z-run8/sales/manifest.json", bytes_, mac),
            MacVerdict::kMismatch);
  // The name and the bytes are separated: moving a byte across is detected.
  EXPECT_EQ(CheckMac(key_, name_ + "{", bytes_.substr(1), mac), MacVerdict::kMismatch);
}

TEST_F(MacObjectTest, AnotherKeyIsNamed) {
  std::string other(32, '\x43');
  std::string mac = MacObject(other, name_, bytes_);
  std::string id;
  EXPECT_EQ(CheckMac(key_, name_, bytes_, mac, &id), MacVerdict::kOtherKey);
  EXPECT_EQ(id, KeyId(other));
  EXPECT_NE(KeyId(other), KeyId(key_));
  EXPECT_EQ(KeyId(key_).size(), 16u);
}

TEST_F(MacObjectTest, TamperedMacObjectIsMalformedOrMismatch) {
  std::string mac = MacObject(key_, name_, bytes_);
  EXPECT_EQ(CheckMac(key_, name_, bytes_, ""), MacVerdict::kMalformed);
  EXPECT_EQ(CheckMac(key_, name_, bytes_, "garbage\n"), MacVerdict::kMalformed);
  EXPECT_EQ(CheckMac(key_, name_, bytes_, mac + "x"), MacVerdict::kMalformed);
  std::string not_hex = mac;
  not_hex[not_hex.size() - 2] = 'g';
  EXPECT_EQ(CheckMac(key_, name_, bytes_, not_hex), MacVerdict::kMalformed);
  std::string flipped = mac;
  flipped[flipped.size() - 2] = flipped[flipped.size() - 2] == '0' ? '1' : '0';
  EXPECT_EQ(CheckMac(key_, name_, bytes_, flipped), MacVerdict::kMismatch);
}

TEST(AuthenticatedObjectTest, WrittenWithItsMacAndReadBackChecked) {
  char pattern[] = "/tmp/cdw_auth_XXXXXX";
  std::string root = mkdtemp(pattern);
  FileStore store(root);
  std::string key(32, '\x07'), name = "20261201/230000Z-run1/db/manifest.json";
  WriteAuthenticatedObject(&store, key, name, "{\"format_version\":1}");
  AuthenticatedRead read = ReadAuthenticatedObject(&store, key, name);
  EXPECT_TRUE(read.found);
  EXPECT_TRUE(read.has_mac);
  EXPECT_EQ(read.verdict, MacVerdict::kValid);
  EXPECT_EQ(read.bytes, "{\"format_version\":1}");
  // Changed on the target: the verdict says so.
  { std::ofstream(root + "/" + name) << "{\"format_version\":2}"; }
  EXPECT_EQ(ReadAuthenticatedObject(&store, key, name).verdict, MacVerdict::kMismatch);
  // No MAC at all; no object at all.
  store.Remove(name + kMacSuffix);
  read = ReadAuthenticatedObject(&store, key, name);
  EXPECT_TRUE(read.found);
  EXPECT_FALSE(read.has_mac);
  EXPECT_FALSE(ReadAuthenticatedObject(&store, key, "20261201/230000Z-run1/db/nothing").found);
  EXPECT_THROW(TargetKeyFromHex("abcd"), Error);
  EXPECT_EQ(TargetKeyFromHex(std::string(64, 'f')), std::string(32, '\xff'));
  std::system(("rm -rf " + root).c_str());
}

}  // namespace
}  // namespace cdw
