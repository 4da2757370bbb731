extern "C" {
#include "postgres.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
}

#include "extension/control/spi_util.h"
#include "extension/control/target_store.h"
#include "extension/pg/bounded_copy.h"
#include "extension/pg/cpp_boundary.h"
#include "storage/store_factory.h"

namespace cdw::control {

namespace {
char *OrEmpty(char *s) {
  return s ? s : pstrdup("");
}
}  // namespace

Target *FindTarget(const char *name) {
  pg::CheckNameLength(name, "target name");
  SpiParams params;
  params.Text(name);
  SavedUser saved = BecomeExtensionOwner();
  SpiRun(
      "SELECT t.location, (SELECT pg_catalog.string_agg(e.key OPERATOR(pg_catalog.||) E'\\t' "
      "OPERATOR(pg_catalog.||) e.value OPERATOR(pg_catalog.||) E'\\n', '' ORDER BY e.key) "
      "FROM pg_catalog.jsonb_each_text(t.options) e), "
      "t.secret_id, t.secret_key, t.session_token, t.owner::pg_catalog.text, "
      "pg_catalog.encode(t.manifest_key, 'hex'), t.owner::pg_catalog.oid, t.sse_customer_key, "
      "t.encryption_keys "
      "FROM cdw_backup.target_store t WHERE t.name OPERATOR(pg_catalog.=) $1",
      params, true);
  RestoreUser(saved);
  if (SPI_processed == 0) return nullptr;
  auto *target = static_cast<Target *>(palloc(sizeof(Target)));
  target->name = pstrdup(name);
  target->location = OrEmpty(SpiText(0, 1));
  target->options = OrEmpty(SpiText(0, 2));
  target->secret_id = OrEmpty(SpiText(0, 3));
  target->secret_key = OrEmpty(SpiText(0, 4));
  target->session_token = OrEmpty(SpiText(0, 5));
  target->owner = OrEmpty(SpiText(0, 6));
  target->manifest_key = OrEmpty(SpiText(0, 7));
  target->owner_id = static_cast<Oid>(strtoul(OrEmpty(SpiText(0, 8)), nullptr, 10));
  target->sse_customer_key = OrEmpty(SpiText(0, 9));
  target->encryption_keys = OrEmpty(SpiText(0, 10));
  return target;
}

Target *LoadTarget(const char *name, Oid role_id) {
  Target *target = FindTarget(name);
  if (!target)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("target \"%s\" does not exist", name),
                    errhint("Define it first: SELECT cdw_backup_add_target('%s', "
                            "'file:///var/backups/pg');",
                            name)));
  // Role OIDs, not names: a role renamed, or dropped and created again under
  // the same name, does not inherit the target.
  if (target->owner_id != role_id && !superuser_arg(role_id))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied for target \"%s\"", name),
                    errdetail("Target \"%s\" belongs to role %s.", name, target->owner),
                    errhint("Add a target of your own with cdw_backup_add_target().")));
  return target;
}

void RequireServerCredentialsPrivilege(Oid role_id, const char *target) {
  if (has_privs_of_role(role_id, ROLE_PG_READ_SERVER_FILES)) return;
  ereport(ERROR,
          (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
           errmsg("permission denied to use the database server's credentials for target \"%s\"",
                  target),
           errdetail("Option credentials takes them from the server's environment, files or "
                     "instance role; that requires superuser or pg_read_server_files."),
           errhint("GRANT pg_read_server_files TO %s;",
                   quote_identifier(GetUserNameFromId(role_id, false)))));
}

void RequireReadableTarget(const Target *target) {
  bool server_credentials = pg::CallCpp([&] {
    return LocationNeedsCredentials(target->location) &&
           UsesServerCredentials(ParseStoreOptionLines(target->options));
  });
  if (server_credentials) RequireServerCredentialsPrivilege(GetUserId(), target->name);
  bool is_file = pg::CallCpp([&] { return !LocationNeedsCredentials(target->location); });
  if (!is_file || has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES)) return;
  ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                  errmsg("permission denied to read backups of target \"%s\"", target->name),
                  errdetail("Target \"%s\" is a directory of the server; reading server files "
                            "requires superuser or pg_read_server_files.",
                            target->name),
                  errhint("GRANT pg_read_server_files TO %s;",
                          quote_identifier(GetUserNameFromId(GetUserId(), false)))));
}

}  // namespace cdw::control
