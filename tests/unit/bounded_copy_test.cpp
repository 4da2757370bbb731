#include "common/bounded_copy.h"

#include <gtest/gtest.h>

#include <string>

namespace cdw {
namespace {

TEST(BoundedCopyTest, CopiesWhatFitsWithItsTerminator) {
  char dest[8];
  ASSERT_TRUE(CopyIfFits(dest, sizeof dest, "1234567"));  // 7 bytes + NUL
  EXPECT_STREQ(dest, "1234567");
  ASSERT_TRUE(CopyIfFits(dest, sizeof dest, ""));
  EXPECT_STREQ(dest, "");
}

TEST(BoundedCopyTest, RefusesInsteadOfTruncating) {
  char dest[8] = "keep";
  EXPECT_FALSE(CopyIfFits(dest, sizeof dest, "12345678"));  // needs 9 bytes
  EXPECT_STREQ(dest, "keep");
  EXPECT_FALSE(CopyIfFits(dest, 0, ""));
  // 64-byte names do not fit NAMEDATALEN (64) buffers; 63-byte names do.
  char name[64];
  EXPECT_TRUE(CopyIfFits(name, sizeof name, std::string(63, 'a').c_str()));
  EXPECT_FALSE(CopyIfFits(name, sizeof name, std::string(64, 'b').c_str()));
  EXPECT_EQ(std::string(name), std::string(63, 'a'));
}

TEST(BoundedCopyTest, RefusesAnEmbeddedNul) {
  char dest[16] = "keep";
  const char with_nul[] = {'a', '\0', 'b'};
  EXPECT_FALSE(CopyIfFits(dest, sizeof dest, with_nul, sizeof with_nul));
  EXPECT_STREQ(dest, "keep");
}

TEST(BoundedCopyTest, MultibyteNamesAreCountedInBytes) {
  // 32 two-byte characters: 64 bytes, one more than a name may have.
  std::string name;
  for (int i = 0; i < 32; i++) name += "\xc3\xa9";
  char dest[64];
  EXPECT_FALSE(CopyIfFits(dest, sizeof dest, name.c_str()));
  name.resize(62);
  EXPECT_TRUE(CopyIfFits(dest, sizeof dest, name.c_str()));
}

}  // namespace
}  // namespace cdw
