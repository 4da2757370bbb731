#include "schema/acl_commands.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace cdw {

namespace {

// Reads a role name of aclitem text at `pos` (double-quoted or bare) up to
// one of `stops`; advances `pos`.
bool ReadName(const std::string &text, size_t &pos, const char *stops, std::string *out) {
  out->clear();
  bool quoted = false;
  while (pos < text.size()) {
    char c = text[pos];
    if (c == '"') {
      if (quoted && pos + 1 < text.size() && text[pos + 1] == '"') {
        out->push_back('"');
        pos += 2;
        continue;
      }
      quoted = !quoted;
      pos++;
      continue;
    }
    if (!quoted && strchr(stops, c)) return true;
    out->push_back(c);
    pos++;
  }
  return !quoted;
}

const char *PrivilegeName(char letter) {
  switch (letter) {
    case 'a':
      return "INSERT";
    case 'r':
      return "SELECT";
    case 'w':
      return "UPDATE";
    case 'd':
      return "DELETE";
    case 'D':
      return "TRUNCATE";
    case 'x':
      return "REFERENCES";
    case 't':
      return "TRIGGER";
    case 'X':
      return "EXECUTE";
    case 'U':
      return "USAGE";
    case 'C':
      return "CREATE";
    case 'T':
      return "TEMPORARY";
    case 'c':
      return "CONNECT";
    case 's':
      return "SET";
    case 'A':
      return "ALTER SYSTEM";
  }
  return nullptr;
}

std::string PrivilegeList(const std::string &letters, const std::string &column) {
  std::string list;
  for (char letter : letters) {
    const char *name = PrivilegeName(letter);
    if (!name)
      throw Error(sqlstate::kDataCorrupted,
                  std::string("unknown privilege letter '") + letter + "' in an ACL of the backup");
    if (!list.empty()) list += ",";
    list += name;
    if (!column.empty()) list += "(" + column + ")";
  }
  return list;
}

std::string Grantee(const AclItem &item) {
  return item.grantee.empty() ? "PUBLIC" : QuoteIdentifier(item.grantee);
}

}  // namespace

std::string QuoteIdentifier(const std::string &name) {
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  return quoted + "\"";
}

bool ParseAclItem(const std::string &text, AclItem *item) {
  size_t pos = 0;
  if (!ReadName(text, pos, "=", &item->grantee) || pos >= text.size()) return false;
  pos++;  // '='
  item->privileges.clear();
  item->privileges_grant_option.clear();
  while (pos < text.size() && text[pos] != '/') {
    char letter = text[pos++];
    if (!PrivilegeName(letter)) return false;
    if (pos < text.size() && text[pos] == '*') {
      item->privileges_grant_option.push_back(letter);
      pos++;
    } else {
      item->privileges.push_back(letter);
    }
  }
  if (pos >= text.size()) return false;
  pos++;  // '/'
  return ReadName(text, pos, "", &item->grantor) && pos == text.size();
}

std::string BuildAclCommands(const std::string &object, const std::string &column,
                             const std::vector<std::string> &acl,
                             const std::vector<std::string> &base) {
  auto parse = [](const std::string &text) {
    AclItem item;
    if (!ParseAclItem(text, &item))
      throw Error(sqlstate::kDataCorrupted, "malformed ACL item \"" + text + "\" in the backup");
    return item;
  };
  std::string sql;
  for (const auto &text : base) {
    if (std::find(acl.begin(), acl.end(), text) != acl.end()) continue;
    AclItem item = parse(text);
    sql += "REVOKE ALL" + (column.empty() ? std::string() : "(" + column + ")") + " ON " + object +
           " FROM " + Grantee(item) + ";\n";
  }
  for (const auto &text : acl) {
    if (std::find(base.begin(), base.end(), text) != base.end()) continue;
    AclItem item = parse(text);
    if (!item.privileges.empty())
      sql += "GRANT " + PrivilegeList(item.privileges, column) + " ON " + object + " TO " +
             Grantee(item) + ";\n";
    if (!item.privileges_grant_option.empty())
      sql += "GRANT " + PrivilegeList(item.privileges_grant_option, column) + " ON " + object +
             " TO " + Grantee(item) + " WITH GRANT OPTION;\n";
  }
  return sql;
}

}  // namespace cdw
