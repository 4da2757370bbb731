#include "common/ascii.h"

#include <gtest/gtest.h>

#include <string>

namespace cdw {
namespace {

TEST(IsAscii, EmptyAndPlainText) {
  EXPECT_TRUE(IsAscii("", 0));
  EXPECT_TRUE(IsAscii("a", 1));
  std::string text = "plain, \"quoted\" text\n with \x7f and \x01";
  EXPECT_TRUE(IsAscii(text.data(), text.size()));
}

TEST(IsAscii, AnyHighByteAtAnyPositionIsFound) {
  // Positions inside the 8-byte chunks and in the tail.
  for (size_t length = 1; length <= 40; length++) {
    for (size_t at = 0; at < length; at++) {
      std::string text(length, 'x');
      text[at] = static_cast<char>(0xe9);  // LATIN1 'é'
      EXPECT_FALSE(IsAscii(text.data(), text.size())) << length << " " << at;
      text[at] = static_cast<char>(0x80);
      EXPECT_FALSE(IsAscii(text.data(), text.size())) << length << " " << at;
    }
  }
}

TEST(IsAscii, OnlyTheGivenLengthIsRead) {
  const char text[] = "abcdefgh\xc3\xa9";
  EXPECT_TRUE(IsAscii(text, 8));
  EXPECT_FALSE(IsAscii(text, 9));
}

}  // namespace
}  // namespace cdw
