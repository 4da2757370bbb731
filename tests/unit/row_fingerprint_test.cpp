// RowFingerprint: the stream it hashes is unambiguous, so different rows
// (or the same bytes cut into different rows or fields) never share a
// fingerprint, and the same rows always do.
#include "format/row_fingerprint.h"

#include <gtest/gtest.h>

#include <string>

namespace cdw {
namespace {

std::string Columns(const std::string &seed,
                    std::initializer_list<std::initializer_list<const char *>> rows) {
  RowFingerprint fingerprint(seed);
  for (const auto &row : rows) {
    fingerprint.BeginRow(static_cast<uint16_t>(row.size()));
    for (const char *value : row) {
      if (value)
        fingerprint.Column(value, std::char_traits<char>::length(value));
      else
        fingerprint.NullColumn();
    }
  }
  return fingerprint.HexDigest();
}

TEST(RowFingerprint, SameRowsSameFingerprint) {
  EXPECT_EQ(Columns("t", {{"a", "b"}, {"c", nullptr}}), Columns("t", {{"a", "b"}, {"c", nullptr}}));
  EXPECT_EQ(Columns("t", {}).size(), 64u);
}

TEST(RowFingerprint, AnyDifferenceChangesIt) {
  std::string base = Columns("t", {{"a", "b"}, {"c", "d"}});
  EXPECT_NE(base, Columns("u", {{"a", "b"}, {"c", "d"}}));            // another row type
  EXPECT_NE(base, Columns("t", {{"a", "b"}, {"c", "e"}}));            // a value
  EXPECT_NE(base, Columns("t", {{"c", "d"}, {"a", "b"}}));            // the order
  EXPECT_NE(base, Columns("t", {{"a", "b"}}));                        // a row less
  EXPECT_NE(base, Columns("t", {{"a", "b"}, {"c", "d"}, {"", ""}}));  // an empty row more
  EXPECT_NE(base, Columns("t", {{"a", "b"}, {"c", nullptr}}));        // NULL is not a value
  EXPECT_NE(Columns("t", {{""}}), Columns("t", {{nullptr}}));         // nor is the empty string
}

TEST(RowFingerprint, BoundariesAreNotBytes) {
  // The same bytes split differently between fields, rows and the seed.
  EXPECT_NE(Columns("t", {{"ab", "c"}}), Columns("t", {{"a", "bc"}}));
  EXPECT_NE(Columns("t", {{"a", "b"}}), Columns("t", {{"a"}, {"b"}}));
  EXPECT_NE(Columns("tV", {{"a"}}), Columns("t", {{"Va"}}));
}

TEST(RowFingerprint, StoredRowsAreTheirOwnKind) {
  RowFingerprint stored("t");
  const uint8_t bitmap[1] = {0x01};
  stored.StoredRow(2, bitmap, 1, "xy", 2);
  RowFingerprint same("t");
  same.StoredRow(2, bitmap, 1, "xy", 2);
  RowFingerprint other_bitmap("t");
  const uint8_t bitmap2[1] = {0x03};
  other_bitmap.StoredRow(2, bitmap2, 1, "xy", 2);
  RowFingerprint without_bitmap("t");
  without_bitmap.StoredRow(2, nullptr, 0, "xy", 2);
  std::string digest = stored.HexDigest();
  EXPECT_EQ(digest, same.HexDigest());
  EXPECT_NE(digest, other_bitmap.HexDigest());
  EXPECT_NE(digest, without_bitmap.HexDigest());
  EXPECT_NE(digest, Columns("t", {{"xy"}}));
}

TEST(RowFingerprint, LargeValuesAndManyRowsCrossTheBatch) {
  std::string big(200 * 1024, 'z');
  RowFingerprint a("t"), b("t");
  for (int i = 0; i < 3; i++) {
    a.BeginRow(1);
    a.Column(big.data(), big.size());
    b.BeginRow(1);
    b.Column(big.data(), big.size());
  }
  for (int i = 0; i < 100000; i++) {
    a.BeginRow(1);
    a.Column("v", 1);
    b.BeginRow(1);
    b.Column(i == 99999 ? "w" : "v", 1);
  }
  EXPECT_EQ(a.rows(), 100003u);
  EXPECT_NE(a.HexDigest(), b.HexDigest());
}

}  // namespace
}  // namespace cdw
