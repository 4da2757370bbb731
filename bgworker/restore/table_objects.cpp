extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

#include "bgworker/restore/table_objects.h"
#include "extension/control/spi_util.h"

namespace cdw::bgworker::restore {
namespace {

using control::SpiRun;

struct TableObject {
  const char *section;
  const char *kind;
  const char *schema;
  const char *name;
  const char *display;  // schema.name, quoted
  const char *sql;
  const char *role;  // "own", "outgoing", "incoming"
  const char *other_schema;
  const char *other_table;
};

TableObject *ReadObjects(const RestoreJob *job, const RestoreItem *item) {
  auto *objects =
      static_cast<TableObject *>(palloc(sizeof(TableObject) * Max(item->object_count, 1)));
  const char *p = RestoreString(job, item->objects_offset);
  auto next = [&p]() {
    const char *s = p;
    p += strlen(p) + 1;
    return s;
  };
  for (int i = 0; i < item->object_count; i++) {
    objects[i].section = next();
    objects[i].kind = next();
    objects[i].schema = next();
    objects[i].name = next();
    objects[i].display = objects[i].schema[0]
                             ? quote_qualified_identifier(objects[i].schema, objects[i].name)
                             : quote_identifier(objects[i].name);
    objects[i].sql = next();
    objects[i].role = next();
    objects[i].other_schema = next();
    objects[i].other_table = next();
  }
  return objects;
}

void AddFailure(RestoreJob *job, int index, const TableObject *object, int sqlerrcode,
                const char *detail, const char *hint) {
  if (job->failure_count >= job->failure_capacity) return;
  ObjectFailure *failure = &ObjectFailures(job)[job->failure_count++];
  failure->item = index;
  strlcpy(failure->kind, object->kind, sizeof failure->kind);
  strlcpy(failure->name, object->display, sizeof failure->name);
  strlcpy(failure->sqlstate, unpack_sql_state(sqlerrcode), sizeof failure->sqlstate);
  snprintf(failure->detail, sizeof failure->detail, "%s %s was not restored: %s", object->kind,
           object->display, detail);
  strlcpy(failure->hint, hint, sizeof failure->hint);
}

// Runs one statement in a subtransaction; NULL, or its error.
ErrorData *TryStatement(const char *sql) {
  MemoryContext context = CurrentMemoryContext;
  ResourceOwner owner = CurrentResourceOwner;
  ErrorData *volatile error = nullptr;
  BeginInternalSubTransaction(nullptr);
  MemoryContextSwitchTo(context);
  PG_TRY();
  {
    SpiRun(sql, 0, nullptr, nullptr, nullptr);
    ReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    error = CopyErrorData();
    FlushErrorState();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
  }
  PG_END_TRY();
  return error;
}

const char *HintFor(const TableObject *object, const ErrorData *error) {
  if (error->hint) return error->hint;
  if (error->sqlerrcode == ERRCODE_UNDEFINED_OBJECT && strstr(object->sql, " TO ") != nullptr)
    return "A role it names is missing on this cluster: CREATE ROLE it (NOLOGIN is enough) and "
           "restore the table again.";
  if (error->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
    return "Restore as a role that may do this (the object's owner or a superuser).";
  return "Run the statement again once the cause is fixed; the table's rows are restored.";
}

// Runs every statement of an object; each failure is reported.
void RunObject(RestoreJob *job, int index, const TableObject *object) {
  ListCell *cell;
  foreach (cell, Statements(object->sql)) {
    if (OwnerWeCannotSet(static_cast<char *>(lfirst(cell)))) continue;
    ErrorData *error = TryStatement(static_cast<char *>(lfirst(cell)));
    if (!error) continue;
    AddFailure(job, index, object, error->sqlerrcode,
               error->detail ? psprintf("%s: %s", error->message, error->detail) : error->message,
               HintFor(object, error));
    FreeErrorData(error);
  }
}

bool TableExists(const char *schema, const char *table) {
  Oid types[2] = {NAMEOID, NAMEOID};
  Datum values[2] = {DirectFunctionCall1(namein, CStringGetDatum(schema)),
                     DirectFunctionCall1(namein, CStringGetDatum(table))};
  SpiRun(
      "SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
      "  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2",
      2, types, values, nullptr);
  return SPI_processed > 0;
}

bool ConstraintExists(const char *schema, const char *table, const char *name) {
  Oid types[3] = {NAMEOID, NAMEOID, NAMEOID};
  Datum values[3] = {DirectFunctionCall1(namein, CStringGetDatum(schema)),
                     DirectFunctionCall1(namein, CStringGetDatum(table)),
                     DirectFunctionCall1(namein, CStringGetDatum(name))};
  SpiRun(
      "SELECT FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c "
      "  ON c.oid OPERATOR(pg_catalog.=) k.conrelid JOIN pg_catalog.pg_namespace n "
      "  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2 "
      "  AND k.conname OPERATOR(pg_catalog.=) $3",
      3, types, values, nullptr);
  return SPI_processed > 0;
}

// A table of this restore that is still to come (it adds the key then).
bool ComesLater(const RestoreJob *job, const char *schema, const char *table) {
  for (int i = 0; i < job->count; i++) {
    const RestoreItem *item = &job->items[i];
    if (item->selected && item->status == static_cast<int>(RestoreStatus::kPending) &&
        strcmp(item->dest_schema, schema) == 0 && strcmp(item->dest_table, table) == 0)
      return true;
  }
  return false;
}

}  // namespace

// The statements of an entry's SQL, split by the parser (an entry may hold
// several: CREATE, ALTER ... OWNER TO, COMMENT ON).
List *Statements(const char *sql) {
  List *statements = NIL;
  ListCell *cell;
  foreach (cell, pg_parse_query(sql)) {
    RawStmt *raw = lfirst_node(RawStmt, cell);
    int length =
        raw->stmt_len > 0 ? raw->stmt_len : static_cast<int>(strlen(sql + raw->stmt_location));
    statements = lappend(statements, pnstrdup(sql + raw->stmt_location, length));
  }
  return statements;
}

// An ALTER ... OWNER TO a role the restoring role is not a member of: it
// cannot give the object away, so the object stays its own (as
// pg_restore --no-owner does). A role that does not exist still fails.
bool OwnerWeCannotSet(const char *statement) {
  List *parsed = pg_parse_query(statement);
  if (list_length(parsed) != 1) return false;
  Node *node = linitial_node(RawStmt, parsed)->stmt;
  RoleSpec *owner = nullptr;
  if (IsA(node, AlterOwnerStmt)) owner = castNode(AlterOwnerStmt, node)->newowner;
  if (IsA(node, AlterTableStmt)) {
    auto *alter = castNode(AlterTableStmt, node);
    if (list_length(alter->cmds) == 1) {
      auto *cmd = linitial_node(AlterTableCmd, alter->cmds);
      if (cmd->subtype == AT_ChangeOwner) owner = cmd->newowner;
    }
  }
  if (!owner || owner->roletype != ROLESPEC_CSTRING) return false;
  Oid role = get_role_oid(owner->rolename, true);
  return OidIsValid(role) && !is_member_of_role(GetUserId(), role);
}

bool CreateTableFromSchema(RestoreJob *job, int index) {
  RestoreItem *item = &job->items[index];
  TableObject *objects = ReadObjects(job, item);
  bool created = false;
  for (int i = 0; i < item->object_count; i++) {
    const TableObject *object = &objects[i];
    if (strcmp(object->section, "pre-data") != 0 || strcmp(object->role, "own") != 0) continue;
    if (!created && strcmp(object->kind, "TABLE") == 0) {
      // The CREATE TABLE itself. When it fails (a partitioned parent or an
      // inheritance parent that is not there) the table is created from
      // its columns instead and the failure is one more row.
      List *statements = Statements(object->sql);
      ErrorData *error = TryStatement(static_cast<char *>(linitial(statements)));
      if (error) {
        AddFailure(job, index, object, error->sqlerrcode,
                   psprintf("%s; it was created from its columns alone, without its parent",
                            error->message),
                   "Restore its parent table (naming a partitioned table restores its "
                   "partitions), or ATTACH it yourself.");
        FreeErrorData(error);
        return false;
      }
      created = true;
      ListCell *cell;
      for_each_from(cell, statements, 1) {
        if (OwnerWeCannotSet(static_cast<char *>(lfirst(cell)))) continue;
        ErrorData *error = TryStatement(static_cast<char *>(lfirst(cell)));
        if (!error) continue;
        AddFailure(job, index, object, error->sqlerrcode, error->message, HintFor(object, error));
        FreeErrorData(error);
      }
      continue;
    }
    // A sequence that is already there (shared, or left by a DROP TABLE
    // that did not own it) is kept.
    if (strcmp(object->kind, "SEQUENCE") == 0 && TableExists(object->schema, object->name))
      continue;
    RunObject(job, index, object);
  }
  return created;
}

void FinishTableFromSchema(RestoreJob *job, int index) {
  RestoreItem *item = &job->items[index];
  TableObject *objects = ReadObjects(job, item);
  for (int i = 0; i < item->object_count; i++) {
    const TableObject *object = &objects[i];
    if (strcmp(object->section, "pre-data") == 0) continue;
    CHECK_FOR_INTERRUPTS();
    if (strcmp(object->role, "incoming") == 0) {
      // Another table's key to this one: only when that table is here and
      // lost its key (DROP TABLE ... CASCADE drops it).
      if (!TableExists(object->other_schema, object->other_table) ||
          ConstraintExists(object->other_schema, object->other_table, object->name))
        continue;
    } else if (strcmp(object->role, "outgoing") == 0 && object->other_table[0] &&
               !TableExists(object->other_schema, object->other_table)) {
      if (ComesLater(job, object->other_schema, object->other_table)) continue;
      const char *other = quote_qualified_identifier(object->other_schema, object->other_table);
      AddFailure(job, index, object, ERRCODE_UNDEFINED_TABLE,
                 psprintf("it references %s, which does not exist", other),
                 psprintf("Restore %s too: its foreign keys to and from this table are added "
                          "then.",
                          other));
      continue;
    }
    RunObject(job, index, object);
  }
}

}  // namespace cdw::bgworker::restore
