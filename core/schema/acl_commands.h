// GRANT / REVOKE statements that turn an object's default privileges into
// the ones it has, as pg_dump's buildACLCommands (dumputils.c) does: every
// item of the default ACL that the object lacks is revoked (REVOKE ALL),
// every item it has beyond the default is granted, in ACL order, so that
// running the statements on a fresh object reproduces the same aclitem[].
#pragma once

#include <string>
#include <vector>

namespace cdw {

struct AclItem {
  std::string grantee;  // empty: PUBLIC
  std::string grantor;
  std::string privileges;               // letters without grant option, e.g. "arw"
  std::string privileges_grant_option;  // letters held WITH GRANT OPTION
};

// Parses aclitem text ("grantee=arw*/grantor", names double-quoted where
// needed). Returns false on malformed input.
bool ParseAclItem(const std::string &text, AclItem *item);

// An SQL identifier, always double-quoted.
std::string QuoteIdentifier(const std::string &name);

// `object` is what follows ON: "TABLE s.t", "SEQUENCE s.q", "SCHEMA s",
// "FUNCTION s.f(integer)", "TYPE s.t"; `column` (quoted) names a column
// for column privileges, else empty. `acl` and `base` are aclitem texts of
// the object's ACL and its default (acldefault, or pg_init_privs). Grants
// made by a role other than the owner are issued as grants of the
// restoring role (see README). Returns "" when there is nothing to do;
// throws cdw::Error on an aclitem it cannot parse.
std::string BuildAclCommands(const std::string &object, const std::string &column,
                             const std::vector<std::string> &acl,
                             const std::vector<std::string> &base);

}  // namespace cdw
