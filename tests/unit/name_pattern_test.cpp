// TranslateTablePattern / TranslateSchemaPattern: pg_dump's -t / -n syntax.
// Expected regexes follow processSQLNamePattern (PostgreSQL 15,
// src/fe_utils/string_utils.c) for force_escape = false.
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "filter/name_pattern.h"

namespace cdw {
namespace {

TableNamePattern T(const std::string &p) {
  return TranslateTablePattern(p, "tables");
}

std::string Sqlstate(const std::string &p, bool schema = false) {
  try {
    if (schema)
      TranslateSchemaPattern(p, "schemas");
    else
      T(p);
  } catch (const Error &e) {
    EXPECT_FALSE(e.hint().empty());
    return e.sqlstate();
  }
  return "";
}

TEST(NamePattern, PlainNamesFoldToLowerCase) {
  EXPECT_EQ(T("Orders").schema_regex, "");
  EXPECT_EQ(T("Orders").table_regex, "^(orders)$");
  EXPECT_EQ(T("Sales.Orders").schema_regex, "^(sales)$");
  EXPECT_EQ(T("Sales.Orders").table_regex, "^(orders)$");
}

TEST(NamePattern, Wildcards) {
  EXPECT_EQ(T("log_*").table_regex, "^(log_.*)$");
  EXPECT_EQ(T("t?").table_regex, "^(t.)$");
  EXPECT_EQ(T("s*.t").schema_regex, "^(s.*)$");
}

TEST(NamePattern, StarMatchesEverything) {
  EXPECT_EQ(T("*").table_regex, "");
  EXPECT_EQ(T("public.*").schema_regex, "^(public)$");
  EXPECT_EQ(T("public.*").table_regex, "");
  EXPECT_EQ(T("*.orders").schema_regex, "");
}

TEST(NamePattern, QuotesKeepCaseDotsAndWildcardsLiteral) {
  EXPECT_EQ(T("\"Sales\".\"Q1.2024\"").schema_regex, "^(Sales)$");
  EXPECT_EQ(T("\"Sales\".\"Q1.2024\"").table_regex, "^(Q1\\.2024)$");
  EXPECT_EQ(T("\"a*b?\"").table_regex, "^(a\\*b\\?)$");
  EXPECT_EQ(T("\"say \"\"hi\"\"\"").table_regex, "^(say \"hi\")$");
  // Mixed: quoted part and unquoted wildcard in one name.
  EXPECT_EQ(T("\"Big\"*").table_regex, "^(Big.*)$");
}

TEST(NamePattern, RegexCharactersPassOutsideQuotes) {
  EXPECT_EQ(T("sales_(eu|us)").table_regex, "^(sales_(eu|us))$");
  EXPECT_EQ(T("t+").table_regex, "^(t+)$");
  // [] is an array type name, never a bracket expression.
  EXPECT_EQ(T("t[]").table_regex, "^(t\\[])$");
}

TEST(NamePattern, DollarIsAlwaysLiteral) {
  EXPECT_EQ(T("a$b").table_regex, "^(a\\$b)$");
  EXPECT_EQ(T("\"a$\"").table_regex, "^(a\\$)$");
}

TEST(NamePattern, MultibyteBytesPassThrough) {
  EXPECT_EQ(T("caf\xc3\xa9").table_regex, "^(caf\xc3\xa9)$");
  // Only ASCII letters fold (as pg_dump's isupper in the C locale).
  EXPECT_EQ(T("\xc3\x89t\xc3\xa9").table_regex, "^(\xc3\x89t\xc3\xa9)$");
}

TEST(NamePattern, Errors) {
  EXPECT_EQ(Sqlstate(""), "22023");
  EXPECT_EQ(Sqlstate("db.s.t"), "22023");
  // An empty name is a typo, never "every name" (pg_dump matches nothing).
  EXPECT_EQ(Sqlstate("public."), "22023");
  EXPECT_EQ(Sqlstate(".orders"), "22023");
  EXPECT_EQ(Sqlstate("."), "22023");
  EXPECT_EQ(Sqlstate("\"\""), "22023");
  EXPECT_EQ(Sqlstate("\"\"", true), "22023");
  EXPECT_EQ(Sqlstate("\"unterminated"), "22023");
  EXPECT_EQ(Sqlstate(std::string(kMaxNamePatternBytes + 1, 'a')), "22023");
  EXPECT_EQ(Sqlstate(std::string(kMaxNamePatternBytes, 'a')), "");
  EXPECT_EQ(Sqlstate("a.b", true), "22023");
  EXPECT_EQ(Sqlstate("\"a.b\"", true), "");
}

TEST(NamePattern, ErrorsNameTheParameter) {
  try {
    TranslateTablePattern("x.y.z", "exclude_tables");
    FAIL();
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("exclude_tables"), std::string::npos);
    EXPECT_NE(e.detail().find("x.y.z"), std::string::npos);
  }
}

TEST(NamePattern, SchemaPatterns) {
  EXPECT_EQ(TranslateSchemaPattern("Tmp_*", "schemas"), "^(tmp_.*)$");
  EXPECT_EQ(TranslateSchemaPattern("\"My.Schema\"", "schemas"), "^(My\\.Schema)$");
  EXPECT_EQ(TranslateSchemaPattern("*", "schemas"), "");
}

}  // namespace
}  // namespace cdw
