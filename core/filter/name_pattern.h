// Table and schema name patterns in pg_dump's -t / -n syntax, translated to
// PostgreSQL regular expressions as pg_dump's processSQLNamePattern does
// (src/fe_utils/string_utils.c, patternToSQLRegex):
//   - a dot outside double quotes separates schema and table;
//   - outside quotes, ASCII letters fold to lower case, `*` is `.*`, `?` is
//     `.`, other regular-expression characters keep their meaning (so
//     `sales_(eu|us)` works, as in pg_dump), except `[]`, quoted literally;
//   - inside double quotes every character is literal (case, dots, `*`),
//     and `""` is one double quote;
//   - `$` is always literal; each part is anchored (`^(...)$`).
// A part that is empty or `*` matches every name (no regex). Unlike
// pg_dump, a table pattern without a schema matches that name in every
// schema (a background worker has no session search_path to define
// "visible"), and a database part (db.schema.table) is rejected: runs choose
// databases with databases => / exclude_databases =>.
// PostgreSQL-free.
#pragma once

#include <string>

namespace cdw {

// Longest pattern accepted, in bytes.
constexpr size_t kMaxNamePatternBytes = 1000;

struct TableNamePattern {
  std::string schema_regex;  // "" matches every schema
  std::string table_regex;   // "" matches every table
};

// Throws cdw::Error 22023 (message, detail, hint) for an empty or
// over-long pattern, an unterminated quote, or more than one dot outside
// quotes. `parameter` names the argument in messages ("exclude_tables").
// The regexes are not compiled here: the server's regex engine checks them.
TableNamePattern TranslateTablePattern(const std::string &pattern, const std::string &parameter);

// A schema pattern (-n): no dot outside quotes. Returns "" for "every schema".
std::string TranslateSchemaPattern(const std::string &pattern, const std::string &parameter);

}  // namespace cdw
