// Name patterns (see name_pattern.h).
#include "filter/name_pattern.h"

#include <cstring>
#include <vector>

#include "common/error.h"

namespace cdw {
namespace {

const char *kHint =
    "Write patterns as pg_dump -t does: schema.table, with * and ? as wildcards and "
    "\"Double Quotes\" around names that keep their case or hold dots, as in "
    "ARRAY['public.orders', '\"Sales\".\"Q1.2024\"', 'log_*'] (in an array literal, "
    "a double quote must be escaped: ARRAY[...] is easier).";

// The parts of `pattern` split at unquoted dots, each translated; throws for
// malformed input.
std::vector<std::string> Translate(const std::string &pattern, const std::string &parameter) {
  if (pattern.empty())
    throw Error(sqlstate::kInvalidParameterValue, parameter + " must not contain an empty pattern",
                "An empty pattern names no table or schema.", kHint);
  if (pattern.size() > kMaxNamePatternBytes)
    throw Error(sqlstate::kInvalidParameterValue, parameter + " holds a pattern that is too long",
                "The pattern takes " + std::to_string(pattern.size()) + " bytes; at most " +
                    std::to_string(kMaxNamePatternBytes) + " are supported.",
                "Shorten it with wildcards (* and ?).");
  std::vector<std::string> parts(1);
  bool inquotes = false;
  for (size_t i = 0; i < pattern.size(); i++) {
    unsigned char ch = static_cast<unsigned char>(pattern[i]);
    std::string &out = parts.back();
    if (ch == '"') {
      if (inquotes && i + 1 < pattern.size() && pattern[i + 1] == '"') {
        out += '"';
        i++;
      } else {
        inquotes = !inquotes;
      }
    } else if (!inquotes && ch >= 'A' && ch <= 'Z') {
      out += static_cast<char>(ch - 'A' + 'a');
    } else if (!inquotes && ch == '*') {
      out += ".*";
    } else if (!inquotes && ch == '?') {
      out += '.';
    } else if (!inquotes && ch == '.') {
      parts.emplace_back();
    } else if (ch == '$') {
      out += "\\$";
    } else {
      // Bytes of multibyte characters are >= 0x80 in every server encoding:
      // copied as they are.
      if (inquotes && ch < 0x80 && std::strchr("|*+?()[]{}.^$\\", ch) != nullptr)
        out += '\\';
      else if (ch == '[' && i + 1 < pattern.size() && pattern[i + 1] == ']')
        out += '\\';
      out += static_cast<char>(ch);
    }
  }
  if (inquotes)
    throw Error(sqlstate::kInvalidParameterValue,
                parameter + " holds a pattern with an unterminated quoted name",
                "Pattern: " + pattern + " (a double quote is not closed).", kHint);
  // An empty name ("public.", ".orders", "\"\"") is a typo, not "every
  // name": pg_dump matches nothing with it; here it is an error, since an
  // exclude that silently took every table would lose them from the backup.
  for (std::string &part : parts) {
    if (part.empty())
      throw Error(sqlstate::kInvalidParameterValue,
                  parameter + " holds a pattern with an empty name",
                  "Pattern: " + pattern + " (a name before or after a dot is empty).",
                  "Write * for every name, as in ARRAY['public.*'].");
    part = part == ".*" ? std::string() : "^(" + part + ")$";
  }
  return parts;
}

}  // namespace

TableNamePattern TranslateTablePattern(const std::string &pattern, const std::string &parameter) {
  std::vector<std::string> parts = Translate(pattern, parameter);
  if (parts.size() > 2)
    throw Error(sqlstate::kInvalidParameterValue,
                parameter + " holds a pattern with too many dotted names",
                "Pattern: " + pattern +
                    ". A table pattern is table or schema.table; a database part is not "
                    "supported, and a dot inside a name needs double quotes.",
                "Choose databases with databases => and quote names with dots, as in "
                "ARRAY['public.\"my.table\"'].");
  if (parts.size() == 1) return {std::string(), parts[0]};
  return {parts[0], parts[1]};
}

std::string TranslateSchemaPattern(const std::string &pattern, const std::string &parameter) {
  std::vector<std::string> parts = Translate(pattern, parameter);
  if (parts.size() > 1)
    throw Error(sqlstate::kInvalidParameterValue, parameter + " holds a schema pattern with a dot",
                "Pattern: " + pattern +
                    ". A schema pattern names schemas only; a dot inside a name needs double "
                    "quotes.",
                "Write it as in ARRAY['sales', '\"my.schema\"', 'tmp_*'].");
  return parts[0];
}

}  // namespace cdw
