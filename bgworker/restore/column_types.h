// Column types read from a manifest, resolved and checked in the destination
// database before anything uses them. A manifest's "type" is text that
// format_type() wrote; it is spliced into CREATE TABLE only in the form
// PostgreSQL itself prints for the type it names, so text that is not
// exactly one type name never reaches SQL. Include after postgres.h.
#pragma once

namespace cdw::bgworker::restore {

enum class TypeCheck {
  kOk,           // *canonical: the type as format_type() prints it, schema-qualified
  kUnavailable,  // a type name, but not usable here (missing, no USAGE on its schema)
  kInvalid,      // not exactly one type name as format_type() prints it: refuse the manifest
};

// Call inside a transaction. *reason / *sqlstate are set unless kOk.
TypeCheck ResolveColumnType(const char *text, char **canonical, char **reason, int *sqlstate);

// Pins search_path to pg_catalog, pg_temp for the rest of the current
// transaction.
void PinSearchPathForTransaction();

}  // namespace cdw::bgworker::restore
