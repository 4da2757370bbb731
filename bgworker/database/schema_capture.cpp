// Schema capture (see schema_capture.h): one catalog query per part of the
// table of contents, each entry deparsed by the server itself, as pg_dump
// does (pg_dump.c: getTables/dumpTableSchema, dumpSequence, dumpIndex,
// dumpConstraint, dumpTrigger, dumpPolicy, dumpACL). The dependency graph
// is pg_depend, resolved and sorted in the PostgreSQL-free core/schema.
//
// Catalog object ids are "classid.objid" with the catalogs' fixed OIDs:
// 1247 pg_type, 1255 pg_proc, 1259 pg_class, 2604 pg_attrdef,
// 2606 pg_constraint, 2615 pg_namespace, 2618 pg_rewrite, 2620 pg_trigger,
// 3079 pg_extension, 3256 pg_policy, 3381 pg_statistic_ext.
extern "C" {
#include "postgres.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
}

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "bgworker/database/schema_capture.h"
#include "bgworker/database/worker_state.h"
#include "bgworker/database/worker_text.h"
#include "extension/pg/search_path.h"
#include "extension/control/spi_util.h"
#include "extension/pg/cpp_boundary.h"
#include "manifest/json_writer.h"
#include "schema/acl_commands.h"
#include "schema/schema_json.h"
#include "schema/schema_toc.h"

namespace cdw::bgworker::database_worker {
namespace {

// Every operator qualified (STYLE.md, search-path safety).
#define EQ " OPERATOR(pg_catalog.=) "
#define NE " OPERATOR(pg_catalog.<>) "
#define GT " OPERATOR(pg_catalog.>) "
#define GE " OPERATOR(pg_catalog.>=) "
#define CAT " OPERATOR(pg_catalog.||) "
#define NOMATCH " OPERATOR(pg_catalog.!~) "

// COMMENT ON <kind> <target> IS '...'; for a pg_description row, or ''.
#define COMMENT(kind, target, classoid, objoid, subid)                                  \
  "COALESCE((SELECT pg_catalog.format(E'COMMENT ON %s %s IS %L;\\n', " kind ", " target \
  ", d.description) FROM pg_catalog.pg_description d WHERE d.classoid" EQ classoid      \
  " AND d.objoid" EQ objoid " AND d.objsubid" EQ subid "), '')"

#define OWNER(kind, target, role)                                       \
  "pg_catalog.format(E'ALTER %s %s OWNER TO %I;\\n', " kind ", " target \
  ", pg_catalog.pg_get_userbyid(" role "))"

#define NOT_EXTENSION_MEMBER(classoid, objoid)                                 \
  "NOT EXISTS (SELECT FROM pg_catalog.pg_depend e WHERE e.classid" EQ classoid \
  " AND e.objid" EQ objoid " AND e.deptype" EQ "'e')"

// The objects of user schemas that are no extension's members.
#define CTES \
  "WITH nsp AS (SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_catalog.pg_namespace n "   \
  "  WHERE n.nspname" NE "'information_schema' AND n.nspname" NOMATCH "'^pg_' AND "               \
  NOT_EXTENSION_MEMBER("2615", "n.oid") "), "                                                     \
  "rel AS (SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relowner, c.reloptions, "      \
  "  c.reltoastrelid, c.reloftype, c.relispartition, c.relpartbound, c.relrowsecurity, "          \
  "  c.relforcerowsecurity, c.relreplident, c.relispopulated, c.relacl, n.nspname, "              \
  "  pg_catalog.format('%I.%I', n.nspname, c.relname) AS qn, "                                    \
  "  (c.relispartition AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid" EQ \
  "c.oid AND a.attnum" GT "0 AND NOT a.attisdropped AND a.attislocal)) AS part_of, "              \
  "  (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid" EQ                       \
  "c.oid AND c.relispartition) AS parent "                                                        \
  "  FROM pg_catalog.pg_class c JOIN nsp n ON n.oid" EQ "c.relnamespace "                         \
  "  WHERE c.relkind" EQ "ANY ('{r,p,v,m,S}'::pg_catalog.\"char\"[]) AND c.relpersistence" EQ     \
  "ANY ('{p,u}'::pg_catalog.\"char\"[]) AND " NOT_EXTENSION_MEMBER("1259", "c.oid") ") "

// COLLATE clause of a column whose collation is not its type's.
#define COLLATE_CLAUSE(coll, type)                                                 \
  "COALESCE((SELECT pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname) " \
  "FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid" EQ   \
  "co.collnamespace WHERE co.oid" EQ coll " AND " coll NE "0 AND " coll NE         \
  "(SELECT ty.typcollation FROM pg_catalog.pg_type ty WHERE ty.oid" EQ type ")), '')"

// The capture queries are unions of one branch per kind of object. Parsing
// and planning every branch of them was most of a small database's backup
// (~20 ms of ~45 ms of CPU per database, whatever the database holds), so
// each branch comes with a cheap test that is true whenever the branch can
// return a row, all tests run as one query first, and only the branches
// whose test is true are planned. A test may be true for a branch that then
// returns nothing (it looks at one catalog, by the OIDs of objects created
// after initdb, FirstNormalObjectId = 16384, without the branch's joins);
// it is never false for a branch that would return a row.
struct QueryBranch {
  const char *may_have_rows;  // SQL boolean expression; nullptr: always run
  const char *select;
};

#define USER_OBJECT_IN(catalog, alias, oid_column, condition)                           \
  "EXISTS (SELECT FROM pg_catalog." catalog " " alias " WHERE " alias "." oid_column GE \
  "16384 AND (" condition "))"
#define EXTENSIONS_EXIST                     \
  USER_OBJECT_IN("pg_extension", "x", "oid", \
                 "x.extname" NE "ALL ('{cdw_backup,cdw_backup_fdw}'::pg_catalog.name[])")
#define RELATIONS_OF_KIND(kinds)         \
  USER_OBJECT_IN("pg_class", "c", "oid", \
                 "c.relkind" EQ "ANY ('{" kinds "}'::pg_catalog.\"char\"[])")
#define TYPES_EXIST                         \
  "(" USER_OBJECT_IN("pg_type", "t", "oid", \
                     "t.typtype" EQ         \
                     "ANY ('{e,d,r}'::pg_catalog.\"char\"[])") " OR " RELATIONS_OF_KIND("c") ")"
#define FUNCTIONS_EXIST      \
  USER_OBJECT_IN(            \
      "pg_proc", "p", "oid", \
      "p.prokind" EQ         \
      "ANY ('{f,p,w}'::pg_catalog.\"char\"[]) AND " NOT_EXTENSION_MEMBER("1255", "p.oid"))
#define SEQUENCES_EXIST RELATIONS_OF_KIND("S")
#define TABLES_EXIST RELATIONS_OF_KIND("r,p")
#define PARTITIONS_EXIST USER_OBJECT_IN("pg_class", "c", "oid", "c.relispartition")
#define VIEWS_EXIST RELATIONS_OF_KIND("v,m")
#define MATERIALIZED_VIEWS_EXIST RELATIONS_OF_KIND("m")
#define DEFAULTS_EXIST USER_OBJECT_IN("pg_attrdef", "ad", "oid", "true")
// Not the indexes of TOAST tables, nor those a constraint owns.
#define INDEXES_EXIST                                                                              \
  USER_OBJECT_IN("pg_index", "i", "indexrelid",                                                    \
                 "(SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid" EQ "i.indrelid)" EQ    \
                 "ANY ('{r,p,m}'::pg_catalog.\"char\"[]) AND NOT EXISTS (SELECT FROM "             \
                 "pg_catalog.pg_constraint k WHERE k.conindid" EQ "i.indexrelid AND k.conrelid" EQ \
                 "i.indrelid AND k.contype" EQ "ANY ('{p,u,x}'::pg_catalog.\"char\"[]))")
#define INDEX_PARTITIONS_EXIST RELATIONS_OF_KIND("I")
#define CONSTRAINTS_EXIST                                                         \
  USER_OBJECT_IN("pg_constraint", "k", "oid",                                     \
                 "k.conrelid" NE "0 AND (k.contype" EQ                            \
                 "ANY ('{p,u,x}'::pg_catalog.\"char\"[]) OR "                     \
                 "(k.contype" EQ "'f' AND k.conparentid" EQ "0) OR (k.contype" EQ \
                 "'c' AND NOT k.convalidated AND k.conislocal))")
#define DOMAIN_CONSTRAINTS_NOT_VALID_EXIST \
  USER_OBJECT_IN("pg_constraint", "k", "oid", "k.contypid" NE "0 AND NOT k.convalidated")
#define TRIGGERS_EXIST \
  USER_OBJECT_IN("pg_trigger", "g", "oid", "NOT g.tgisinternal AND g.tgparentid" EQ "0")
#define ROW_SECURITY_EXISTS \
  USER_OBJECT_IN("pg_class", "c", "oid", "c.relrowsecurity OR c.relforcerowsecurity")
#define POLICIES_EXIST USER_OBJECT_IN("pg_policy", "p", "oid", "true")
#define STATISTICS_EXIST USER_OBJECT_IN("pg_statistic_ext", "s", "oid", "true")
#define RELATION_ACLS_EXIST                              \
  USER_OBJECT_IN("pg_class", "c", "oid",                 \
                 "c.relacl IS NOT NULL AND c.relkind" EQ \
                 "ANY ('{r,p,v,m,S}'::pg_catalog.\"char\"[])")
#define COLUMN_ACLS_EXIST \
  USER_OBJECT_IN("pg_attribute", "a", "attrelid", "a.attacl IS NOT NULL AND a.attnum" GT "0")
#define FUNCTION_ACLS_EXIST USER_OBJECT_IN("pg_proc", "p", "oid", "p.proacl IS NOT NULL")
#define TYPE_ACLS_EXIST USER_OBJECT_IN("pg_type", "t", "oid", "t.typacl IS NOT NULL")

// Columns: id, section, kind, schema, name, owner, table schema, table
// name, sql, explicit deps (space-separated ids).
const QueryBranch kObjectBranches[] = {
    // Schemas (public exists in every database: only what differs).
    {nullptr,
     "SELECT pg_catalog.concat('2615.', n.oid), 'pre-data', 'SCHEMA', n.nspname, n.nspname, "
     " pg_catalog.pg_get_userbyid(n.nspowner), NULL, NULL, "
     " CASE WHEN n.nspname" EQ "'public' THEN '' ELSE pg_catalog.format(E'CREATE SCHEMA %I;\\n', "
     "n.nspname) END" CAT " CASE WHEN n.nspname" EQ
     "'public' AND pg_catalog.pg_get_userbyid(n.nspowner)" EQ
     "'pg_database_owner' THEN '' ELSE " OWNER(
         "'SCHEMA'", "pg_catalog.quote_ident(n.nspname)",
         "n.nspowner") " END" CAT " " COMMENT("'SCHEMA'", "pg_catalog.quote_ident(n.nspname)",
                                              "2615", "n.oid", "0") ", '' "
                                                                    "FROM nsp n "},
    // Extensions (not those of initdb, not cdw_backup's own).
    {EXTENSIONS_EXIST,
     "SELECT pg_catalog.concat('3079.', x.oid), 'pre-data', 'EXTENSION', '', x.extname, "
     " pg_catalog.pg_get_userbyid(x.extowner), NULL, NULL, "
     " pg_catalog.format(E'CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA %I VERSION %L;\\n', "
     "x.extname, xn.nspname, x.extversion)" CAT
     " " COMMENT("'EXTENSION'", "pg_catalog.quote_ident(x.extname)", "3079", "x.oid",
                 "0") ", '' "
                      "FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace xn ON xn.oid" EQ
                      "x.extnamespace "
                      "WHERE x.oid" GE "16384 AND x.extname" NE
                      "ALL ('{cdw_backup,cdw_backup_fdw}'::pg_catalog.name[]) "},
    // Types: enum, domain, composite, range.
    {TYPES_EXIST,
     "SELECT pg_catalog.concat('1247.', t.oid), 'pre-data', "
     " CASE WHEN t.typtype" EQ "'d' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname, "
     " pg_catalog.pg_get_userbyid(t.typowner), NULL, NULL, "
     " CASE WHEN t.typtype" EQ "'e' THEN pg_catalog.format(E'CREATE TYPE %I.%I AS ENUM (%s);\\n', "
     "n.nspname, t.typname, (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), "
     "', ' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid" EQ "t.oid)) "
     " WHEN t.typtype" EQ "'d' THEN pg_catalog.format(E'CREATE DOMAIN %I.%I AS %s%s%s%s%s;\\n', "
     "n.nspname, t.typname, pg_catalog.format_type(t.typbasetype, t.typtypmod), " COLLATE_CLAUSE(
         "t.typcollation",
         "t.typbasetype") ", "
                          " ' DEFAULT '" CAT "pg_catalog.pg_get_expr(t.typdefaultbin, 0), "
                          " CASE WHEN t.typnotnull THEN ' NOT NULL' END, "
                          " (SELECT pg_catalog.string_agg(pg_catalog.format(E'\\n    CONSTRAINT %I "
                          "%s', k.conname, "
                          "pg_catalog.pg_get_constraintdef(k.oid)), '' ORDER BY k.conname) FROM "
                          "pg_catalog.pg_constraint "
                          "k WHERE k.contypid" EQ "t.oid AND k.convalidated)) "
                          " WHEN t.typtype" EQ
                          "'c' THEN pg_catalog.format(E'CREATE TYPE %I.%I AS (%s\\n);\\n', "
                          "n.nspname, t.typname, (SELECT "
                          "pg_catalog.string_agg(pg_catalog.format(E'\\n    %I %s%s', "
                          "a.attname, pg_catalog.format_type(a.atttypid, "
                          "a.atttypmod), " COLLATE_CLAUSE(
                              "a.attcollation",
                              "a.atttypid") "), ',' ORDER BY a.attnum) "
                                            " FROM pg_catalog.pg_attribute a WHERE a.attrelid" EQ
                                            "t.typrelid AND a.attnum" GT "0 AND NOT "
                                            "a.attisdropped)) "
                                            " ELSE pg_catalog.format(E'CREATE TYPE %I.%I AS RANGE "
                                            "(\\n    subtype = %s%s%s%s%s%s\\n);\\n', "
                                            "n.nspname, t.typname, "
                                            "pg_catalog.format_type(r.rngsubtype, NULL), "
                                            " (SELECT pg_catalog.format(E',\\n    "
                                            "multirange_type_name = %I.%I', mn.nspname, m.typname) "
                                            "FROM pg_catalog.pg_type m JOIN "
                                            "pg_catalog.pg_namespace mn ON mn.oid" EQ
                                            "m.typnamespace "
                                            "WHERE m.oid" EQ "r.rngmultitypid), "
                                            " (SELECT pg_catalog.format(E',\\n    subtype_opclass "
                                            "= %I.%I', ocn.nspname, oc.opcname) "
                                            "FROM pg_catalog.pg_opclass oc JOIN "
                                            "pg_catalog.pg_namespace ocn ON ocn.oid" EQ
                                            "oc.opcnamespace WHERE oc.oid" EQ
                                            "r.rngsubopc AND NOT oc.opcdefault), "
                                            " (SELECT pg_catalog.format(E',\\n    collation = "
                                            "%I.%I', cn.nspname, co.collname) FROM "
                                            "pg_catalog.pg_collation co JOIN "
                                            "pg_catalog.pg_namespace cn ON cn.oid" EQ
                                            "co.collnamespace "
                                            "WHERE co.oid" EQ "r.rngcollation AND r.rngcollation" NE
                                            "(SELECT s.typcollation FROM "
                                            "pg_catalog.pg_type s WHERE s.oid" EQ "r.rngsubtype)), "
                                            " CASE WHEN r.rngcanonical" NE
                                            "0 THEN E',\\n    canonical = '" CAT
                                            "r.rngcanonical::pg_catalog.regproc::pg_catalog.text "
                                            "END, "
                                            " CASE WHEN r.rngsubdiff" NE
                                            "0 THEN E',\\n    subtype_diff = '" CAT
                                            "r.rngsubdiff::pg_catalog.regproc::pg_catalog.text "
                                            "END) END" CAT " " OWNER(
                                                "CASE WHEN t.typtype" EQ
                                                "'d' THEN 'DOMAIN' ELSE 'TYPE' END",
                                                "pg_catalog.format('%I.%I', n.nspname, t.typname)",
                                                "t.typowner") CAT
     " " COMMENT("CASE WHEN t.typtype" EQ "'d' THEN 'DOMAIN' ELSE 'TYPE' END",
                 "pg_catalog.format('%I.%I', n.nspname, t.typname)", "1247", "t.oid", "0") CAT
     " COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(E'COMMENT ON CONSTRAINT %I ON "
     "DOMAIN "
     "%I.%I IS %L;\\n', k.conname, n.nspname, t.typname, d.description), '' ORDER BY k.conname) "
     "FROM "
     "pg_catalog.pg_constraint k JOIN pg_catalog.pg_description d ON d.classoid" EQ "2606 AND "
     "d.objoid" EQ "k.oid WHERE k.contypid" EQ "t.oid AND k.convalidated), '')" CAT
     " COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(E'COMMENT ON COLUMN %I.%I.%I IS "
     "%L;\\n', n.nspname, t.typname, a.attname, d.description), '' ORDER BY a.attnum) FROM "
     "pg_catalog.pg_description d JOIN pg_catalog.pg_attribute a ON a.attrelid" EQ "d.objoid AND "
     "a.attnum" EQ "d.objsubid WHERE d.classoid" EQ "1259 AND d.objoid" EQ "t.typrelid AND "
     "t.typrelid" NE "0 AND d.objsubid" GT "0), ''), '' "
     "FROM pg_catalog.pg_type t JOIN nsp n ON n.oid" EQ "t.typnamespace "
     "LEFT JOIN pg_catalog.pg_range r ON r.rngtypid" EQ "t.oid "
     "WHERE t.typtype" EQ "ANY ('{e,d,c,r}'::pg_catalog.\"char\"[]) AND " NOT_EXTENSION_MEMBER(
         "1247", "t.oid") " AND (t.typtype" NE
                          "'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c "
                          "WHERE c.oid" EQ "t.typrelid)" EQ "'c') "},
    // Functions and procedures (aggregates are not captured yet).
    {FUNCTIONS_EXIST,
     "SELECT pg_catalog.concat('1255.', p.oid), 'pre-data', "
     " CASE WHEN p.prokind" EQ "'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, n.nspname, "
     " pg_catalog.format('%s(%s)', p.proname, "
     "pg_catalog.pg_get_function_identity_arguments(p.oid)), "
     " pg_catalog.pg_get_userbyid(p.proowner), NULL, NULL, "
     " pg_catalog.pg_get_functiondef(p.oid)" CAT "E';\\n'" CAT
     " " OWNER("CASE WHEN p.prokind" EQ "'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END",
               "p.oid::pg_catalog.regprocedure::pg_catalog.text", "p.proowner") CAT
     " " COMMENT(
         "CASE WHEN p.prokind" EQ "'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END",
         "p.oid::pg_catalog.regprocedure::pg_catalog.text", "1255", "p.oid",
         "0") ", '' "
              "FROM pg_catalog.pg_proc p JOIN nsp n ON n.oid" EQ "p.pronamespace "
              "WHERE p.prokind" EQ
              "ANY ('{f,p,w}'::pg_catalog.\"char\"[]) AND " NOT_EXTENSION_MEMBER(
                  "1255",
                  "p.oid") " AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend i WHERE i.classid" EQ
                           "1255 AND i.objid" EQ "p.oid AND i.deptype" EQ "'i') "},
    // Sequences (identity sequences come with their column).
    {SEQUENCES_EXIST,
     "SELECT pg_catalog.concat('1259.', r.oid), 'pre-data', 'SEQUENCE', r.nspname, "
     " r.relname, pg_catalog.pg_get_userbyid(r.relowner), NULL, NULL, "
     " pg_catalog.format(E'CREATE %sSEQUENCE %s\\n    AS %s\\n    START WITH %s\\n    INCREMENT BY "
     "%s\\n    MINVALUE %s\\n    MAXVALUE %s\\n    CACHE %s%s;\\n', "
     " CASE WHEN r.relpersistence" EQ "'u' THEN 'UNLOGGED ' END, r.qn, "
     "pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, "
     "s.seqcache, CASE WHEN s.seqcycle THEN E'\\n    CYCLE' END)" CAT
     " " OWNER("'SEQUENCE'", "r.qn", "r.relowner") CAT " " COMMENT(
         "'SEQUENCE'", "r.qn", "1259", "r.oid",
         "0") ", '' "
              "FROM rel r JOIN pg_catalog.pg_sequence s ON s.seqrelid" EQ "r.oid "
              "WHERE r.relkind" EQ
              "'S' AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid" EQ
              "1259 AND d.objid" EQ "r.oid AND d.refclassid" EQ "1259 AND d.deptype" EQ "'i') "},
    // OWNED BY, on its own: the sequence comes before its table, this after.
    {SEQUENCES_EXIST,
     "SELECT pg_catalog.concat('1259.', r.oid, '.owned'), 'pre-data', "
     " 'SEQUENCE OWNED BY', r.nspname, r.relname, pg_catalog.pg_get_userbyid(r.relowner), "
     " tn.nspname, t.relname, pg_catalog.format(E'ALTER SEQUENCE %s OWNED BY %I.%I.%I;\\n', r.qn, "
     "tn.nspname, t.relname, a.attname), pg_catalog.concat('1259.', r.oid, ' 1259.', t.oid) "
     "FROM rel r JOIN pg_catalog.pg_depend d ON d.classid" EQ "1259 AND d.objid" EQ "r.oid "
     " AND d.refclassid" EQ "1259 AND d.deptype" EQ "'a' AND d.refobjsubid" GT "0 "
     "JOIN pg_catalog.pg_class t ON t.oid" EQ "d.refobjid "
     "JOIN pg_catalog.pg_namespace tn ON tn.oid" EQ "t.relnamespace "
     "JOIN pg_catalog.pg_attribute a ON a.attrelid" EQ "t.oid AND a.attnum" EQ "d.refobjsubid "
     "WHERE r.relkind" EQ "'S' "},
    // Tables: columns (with collation, generated expression, NOT NULL),
    // CHECK constraints inline as pg_dump prints them, typed tables,
    // inheritance, partitions, partition keys, storage parameters; then
    // the column properties ALTER TABLE sets, identity, owner, comments.
    {TABLES_EXIST,
     "SELECT pg_catalog.concat('1259.', r.oid), 'pre-data', 'TABLE', r.nspname, "
     " r.relname, pg_catalog.pg_get_userbyid(r.relowner), NULL, NULL, "
     " pg_catalog.format(E'CREATE %sTABLE %s%s%s%s;\\n', "
     "  CASE WHEN r.relpersistence" EQ "'u' THEN 'UNLOGGED ' END, r.qn, "
     "  CASE WHEN r.reloftype" NE "0 THEN ' OF '" CAT
     "pg_catalog.format_type(r.reloftype, NULL)" CAT "COALESCE(' ('" CAT "checks.list" CAT
     "E'\\n)', '') "
     "  WHEN r.part_of THEN ' PARTITION OF '" CAT
     "r.parent::pg_catalog.regclass::pg_catalog.text" CAT "COALESCE(' ('" CAT "checks.list" CAT
     "E'\\n)', '')" CAT "E'\\n'" CAT "pg_catalog.pg_get_expr(r.relpartbound, r.oid) "
     "  ELSE ' ('" CAT "pg_catalog.concat_ws(',', cols.list, checks.list)" CAT "E'\\n)'" CAT
     "  CASE WHEN NOT r.relispartition AND parents.list IS NOT NULL THEN E'\\nINHERITS ('" CAT
     "parents.list" CAT "')' ELSE '' END END, "
     "  CASE WHEN r.relkind" EQ "'p' THEN E'\\nPARTITION BY '" CAT
     "pg_catalog.pg_get_partkeydef(r.oid) END, "
     "  E'\\nWITH ('" CAT "NULLIF(pg_catalog.array_to_string(r.reloptions" CAT
     "(SELECT pg_catalog.array_agg('toast.'" CAT "o) FROM pg_catalog.pg_class tc, "
     "pg_catalog.unnest(tc.reloptions) o WHERE tc.oid" EQ "r.reltoastrelid), ', '), '')" CAT
     "')')" CAT " pg_catalog.concat(alters.list, "
     "  CASE WHEN r.relreplident" EQ "'f' THEN pg_catalog.format(E'ALTER TABLE ONLY %s REPLICA "
     "IDENTITY FULL;\\n', r.qn) WHEN r.relreplident" EQ "'n' THEN pg_catalog.format(E'ALTER TABLE "
     "ONLY %s REPLICA IDENTITY NOTHING;\\n', r.qn) END)" CAT
     " " OWNER("'TABLE'", "r.qn", "r.relowner") CAT
     " " COMMENT("'TABLE'", "r.qn", "1259", "r.oid", "0") CAT
     " COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(E'COMMENT ON COLUMN "
     "%s.%I IS %L;\\n', r.qn, a.attname, d.description), '' ORDER BY a.attnum) FROM "
     "pg_catalog.pg_description d JOIN pg_catalog.pg_attribute a ON a.attrelid" EQ "d.objoid AND "
     "a.attnum" EQ "d.objsubid WHERE d.classoid" EQ "1259 AND d.objoid" EQ "r.oid AND d.objsubid" GT
     "0), '')" CAT
     // Comments of the CHECK constraints the table brings along.
     " COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(E'COMMENT ON CONSTRAINT %I ON %s "
     "IS "
     "%L;\\n', k.conname, r.qn, d.description), '' ORDER BY k.conname) FROM "
     "pg_catalog.pg_constraint "
     "k JOIN pg_catalog.pg_description d ON d.classoid" EQ "2606 AND d.objoid" EQ "k.oid WHERE "
     "k.conrelid" EQ "r.oid AND k.contype" EQ "'c' AND k.convalidated), ''), "
     " CASE WHEN r.parent IS NOT NULL THEN pg_catalog.concat('1259.', r.parent) END "
     "FROM rel r "
     "CROSS JOIN LATERAL (SELECT pg_catalog.string_agg(pg_catalog.format(E'\\n    %I %s%s%s%s', "
     "  a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), " COLLATE_CLAUSE(
         "a.attcollation",
         "a.atttypid") ", "
                       "  CASE WHEN a.attgenerated" EQ "'s' THEN ' GENERATED ALWAYS AS ('" CAT
                       "(SELECT pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) FROM "
                       "pg_catalog.pg_attrdef ad WHERE "
                       "ad.adrelid" EQ "a.attrelid AND ad.adnum" EQ "a.attnum)" CAT
                       "') STORED' END, "
                       "  CASE WHEN a.attnotnull THEN ' NOT NULL' END), ',' ORDER BY a.attnum) AS "
                       "list "
                       "  FROM pg_catalog.pg_attribute a WHERE a.attrelid" EQ
                       "r.oid AND a.attnum" GT "0 AND NOT "
                       "a.attisdropped AND (a.attislocal OR r.relispartition)) cols "
                       "CROSS JOIN LATERAL (SELECT pg_catalog.string_agg(pg_catalog.format(E'\\n   "
                       " CONSTRAINT %I %s', "
                       "  k.conname, pg_catalog.pg_get_constraintdef(k.oid)), ',' ORDER BY "
                       "k.conname) AS list "
                       "  FROM pg_catalog.pg_constraint k WHERE k.conrelid" EQ
                       "r.oid AND k.contype" EQ "'c' AND "
                       "k.convalidated AND (k.conislocal OR (r.relispartition AND NOT r.part_of))) "
                       "checks "
                       "CROSS JOIN LATERAL (SELECT "
                       "pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::pg_catalog."
                       "text, ', ' ORDER BY i.inhseqno) AS list FROM pg_catalog.pg_inherits i "
                       "WHERE i.inhrelid" EQ "r.oid) parents "
                       "CROSS JOIN LATERAL (SELECT pg_catalog.string_agg(pg_catalog.concat("
                       "  CASE WHEN a.attnotnull AND NOT (a.attislocal OR (r.relispartition AND "
                       "NOT r.part_of)) OR "
                       "(a.attnotnull AND r.reloftype" NE
                       "0) THEN pg_catalog.format(E'ALTER TABLE ONLY %s ALTER COLUMN "
                       "%I SET NOT NULL;\\n', r.qn, a.attname) END, "
                       "  CASE WHEN a.attidentity" NE
                       "'' THEN (SELECT pg_catalog.format(E'ALTER TABLE ONLY %s ALTER "
                       "COLUMN %I ADD GENERATED %s AS IDENTITY (\\n    SEQUENCE NAME %I.%I\\n    "
                       "START WITH %s\\n    "
                       "INCREMENT BY %s\\n    MINVALUE %s\\n    MAXVALUE %s\\n    CACHE "
                       "%s%s\\n);\\n', r.qn, a.attname, "
                       "CASE WHEN a.attidentity" EQ
                       "'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END, sn.nspname, sc.relname, "
                       "s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, CASE WHEN "
                       "s.seqcycle THEN "
                       "E'\\n    CYCLE' END) FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class "
                       "sc ON sc.oid" EQ "d.objid JOIN pg_catalog.pg_namespace sn ON sn.oid" EQ
                       "sc.relnamespace JOIN "
                       "pg_catalog.pg_sequence s ON s.seqrelid" EQ "sc.oid WHERE d.classid" EQ
                       "1259 AND "
                       "d.refclassid" EQ "1259 AND d.refobjid" EQ "r.oid AND d.refobjsubid" EQ
                       "a.attnum AND "
                       "d.deptype" EQ "'i' AND sc.relkind" EQ "'S') END, "
                       "  CASE WHEN a.attstorage" NE
                       "(SELECT ty.typstorage FROM pg_catalog.pg_type ty WHERE ty.oid" EQ
                       "a.atttypid) THEN pg_catalog.format(E'ALTER TABLE ONLY %s ALTER COLUMN %I "
                       "SET STORAGE %s;\\n', "
                       "r.qn, a.attname, CASE WHEN a.attstorage" EQ
                       "'p' THEN 'PLAIN' WHEN a.attstorage" EQ
                       "'e' THEN 'EXTERNAL' WHEN a.attstorage" EQ
                       "'m' THEN 'MAIN' ELSE 'EXTENDED' END) END, "
                       "  CASE WHEN a.attcompression" NE
                       "'' THEN pg_catalog.format(E'ALTER TABLE ONLY %s ALTER COLUMN "
                       "%I SET COMPRESSION %s;\\n', r.qn, a.attname, CASE WHEN a.attcompression" EQ
                       "'l' THEN 'lz4' ELSE 'pglz' END) END, "
                       "  CASE WHEN a.attstattarget" GE
                       "0 THEN pg_catalog.format(E'ALTER TABLE ONLY %s ALTER COLUMN %I "
                       "SET STATISTICS %s;\\n', r.qn, a.attname, a.attstattarget) END, "
                       "  (SELECT pg_catalog.format(E'ALTER TABLE ONLY %s ALTER COLUMN %I SET "
                       "(%s);\\n', r.qn, "
                       "a.attname, pg_catalog.string_agg(o, ', ')) FROM "
                       "pg_catalog.unnest(a.attoptions) o WHERE o" NOMATCH
                       "'^pg_' HAVING pg_catalog.count(*)" GT "0)), '' "
                       "ORDER BY a.attnum) AS list FROM pg_catalog.pg_attribute a WHERE "
                       "a.attrelid" EQ "r.oid AND "
                       "a.attnum" GT "0 AND NOT a.attisdropped) alters "
                       "WHERE r.relkind" EQ "ANY ('{r,p}'::pg_catalog.\"char\"[]) "},
    // A partition created on its own and attached later (its columns are
    // its own): the attachment, as pg_dump's TABLE ATTACH.
    {PARTITIONS_EXIST,
     "SELECT pg_catalog.concat('1259.', r.oid, '.attach'), 'pre-data', 'TABLE ATTACH', "
     " r.nspname, r.relname, pg_catalog.pg_get_userbyid(r.relowner), NULL, NULL, "
     " pg_catalog.format(E'ALTER TABLE ONLY %s ATTACH PARTITION %s %s;\\n', "
     "r.parent::pg_catalog.regclass::pg_catalog.text, r.qn, pg_catalog.pg_get_expr(r.relpartbound, "
     "r.oid)), pg_catalog.concat('1259.', r.oid, ' 1259.', r.parent) "
     "FROM rel r WHERE r.relispartition AND NOT r.part_of "},
    // Views and materialized views (filled by their REFRESH in post-data).
    {VIEWS_EXIST,
     "SELECT pg_catalog.concat('1259.', r.oid), 'pre-data', "
     " CASE WHEN r.relkind" EQ
     "'v' THEN 'VIEW' ELSE 'MATERIALIZED VIEW' END, r.nspname, r.relname, "
     " pg_catalog.pg_get_userbyid(r.relowner), NULL, NULL, "
     " CASE WHEN r.relkind" EQ "'v' THEN pg_catalog.format(E'CREATE VIEW %s%s AS\\n%s\\n', r.qn, "
     "' WITH ('" CAT "pg_catalog.array_to_string(r.reloptions, ', ')" CAT "')', "
     "pg_catalog.pg_get_viewdef(r.oid)) ELSE pg_catalog.format(E'CREATE MATERIALIZED VIEW %s%s "
     "AS\\n%s\\n  WITH NO DATA;\\n', r.qn, ' WITH ('" CAT
     "pg_catalog.array_to_string(r.reloptions, "
     "', ')" CAT "')', pg_catalog.rtrim(pg_catalog.pg_get_viewdef(r.oid), ';')) END" CAT
     " " OWNER("CASE WHEN r.relkind" EQ "'v' THEN 'VIEW' ELSE 'MATERIALIZED VIEW' END", "r.qn",
               "r.relowner") CAT
     " " COMMENT("CASE WHEN r.relkind" EQ "'v' THEN 'VIEW' ELSE 'MATERIALIZED VIEW' END", "r.qn",
                 "1259", "r.oid", "0") CAT
     " COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(E'COMMENT ON COLUMN "
     "%s.%I IS %L;\\n', r.qn, a.attname, d.description), '' ORDER BY a.attnum) FROM "
     "pg_catalog.pg_description d JOIN pg_catalog.pg_attribute a ON a.attrelid" EQ "d.objoid AND "
     "a.attnum" EQ "d.objsubid WHERE d.classoid" EQ "1259 AND d.objoid" EQ "r.oid AND d.objsubid" GT
     "0), ''), '' "
     "FROM rel r WHERE r.relkind" EQ "ANY ('{v,m}'::pg_catalog.\"char\"[]) "},
    {MATERIALIZED_VIEWS_EXIST,
     "SELECT pg_catalog.concat('1259.', r.oid, '.refresh'), 'post-data', "
     " 'REFRESH MATERIALIZED VIEW', r.nspname, r.relname, pg_catalog.pg_get_userbyid(r.relowner), "
     " NULL, NULL, pg_catalog.format(E'REFRESH MATERIALIZED VIEW %s;\\n', r.qn), "
     " pg_catalog.concat('1259.', r.oid) "
     "FROM rel r WHERE r.relkind" EQ "'m' AND r.relispopulated "},
    // Column defaults (not of generated columns: those are in the table).
    {DEFAULTS_EXIST,
     "SELECT pg_catalog.concat('2604.', ad.oid), 'pre-data', 'DEFAULT', r.nspname, "
     " a.attname, pg_catalog.pg_get_userbyid(r.relowner), r.nspname, r.relname, "
     " pg_catalog.format(E'ALTER %s %s ALTER COLUMN %I SET DEFAULT %s;\\n', CASE WHEN r.relkind" EQ
     "'v' THEN 'VIEW' ELSE 'TABLE ONLY' END, r.qn, a.attname, pg_catalog.pg_get_expr(ad.adbin, "
     "ad.adrelid)), pg_catalog.concat('1259.', r.oid) "
     "FROM pg_catalog.pg_attrdef ad JOIN rel r ON r.oid" EQ "ad.adrelid "
     "JOIN pg_catalog.pg_attribute a ON a.attrelid" EQ "ad.adrelid AND a.attnum" EQ "ad.adnum "
     "WHERE a.attgenerated" EQ "'' AND NOT a.attisdropped "},
    // Indexes that no constraint owns; partitioned ones ON ONLY their
    // table, attached to their partitions' indexes below.
    {INDEXES_EXIST,
     "SELECT pg_catalog.concat('1259.', i.indexrelid), 'post-data', 'INDEX', r.nspname, "
     " ic.relname, pg_catalog.pg_get_userbyid(r.relowner), r.nspname, r.relname, "
     " pg_catalog.pg_get_indexdef(i.indexrelid)" CAT "E';\\n'" CAT
     " CASE WHEN i.indisclustered THEN pg_catalog.format(E'ALTER TABLE ONLY %s CLUSTER ON %I;\\n', "
     "r.qn, ic.relname) ELSE '' END" CAT
     " CASE WHEN i.indisreplident THEN pg_catalog.format(E'ALTER TABLE ONLY %s REPLICA IDENTITY "
     "USING INDEX %I;\\n', r.qn, ic.relname) ELSE '' END" CAT
     " COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(E'ALTER INDEX %I.%I ALTER "
     "COLUMN %s SET STATISTICS %s;\\n', r.nspname, ic.relname, a.attnum, a.attstattarget), '' "
     "ORDER "
     "BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid" EQ "i.indexrelid AND "
     "a.attstattarget" GE "0), '')" CAT " " COMMENT(
         "'INDEX'", "pg_catalog.format('%I.%I', r.nspname, ic.relname)", "1259", "i.indexrelid",
         "0") ", '' "
              "FROM pg_catalog.pg_index i JOIN rel r ON r.oid" EQ "i.indrelid "
              "JOIN pg_catalog.pg_class ic ON ic.oid" EQ "i.indexrelid "
              "WHERE r.relkind" EQ
              "ANY ('{r,p,m}'::pg_catalog.\"char\"[]) AND (i.indisvalid OR r.relkind" EQ
              "'p') AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k WHERE k.conindid" EQ
              "i.indexrelid AND k.conrelid" EQ "i.indrelid AND k.contype" EQ
              "ANY ('{p,u,x}'::pg_catalog.\"char\"[])) "},
    {INDEX_PARTITIONS_EXIST,
     "SELECT pg_catalog.concat('1259.', h.inhrelid, '.attach'), 'post-data', "
     " 'INDEX ATTACH', r.nspname, ic.relname, '', r.nspname, r.relname, "
     " pg_catalog.format(E'ALTER INDEX %s ATTACH PARTITION %I.%I;\\n', "
     "h.inhparent::pg_catalog.regclass::pg_catalog.text, r.nspname, ic.relname), "
     " pg_catalog.concat('1259.', h.inhrelid, ' 1259.', h.inhparent) "
     "FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class ic ON ic.oid" EQ "h.inhrelid "
     "JOIN pg_catalog.pg_index i ON i.indexrelid" EQ "h.inhrelid JOIN rel r ON r.oid" EQ
     "i.indrelid "
     "WHERE ic.relkind" EQ "ANY ('{i,I}'::pg_catalog.\"char\"[]) "},
    // Constraints of post-data: PK, UNIQUE, EXCLUDE, FK (not the clones of a
    // partitioned table's FK) and CHECKs not yet validated.
    {CONSTRAINTS_EXIST,
     "SELECT pg_catalog.concat('2606.', k.oid), 'post-data', "
     " CASE WHEN k.contype" EQ "'f' THEN 'FK CONSTRAINT' ELSE 'CONSTRAINT' END, r.nspname, "
     " k.conname, pg_catalog.pg_get_userbyid(r.relowner), r.nspname, r.relname, "
     " pg_catalog.format(E'ALTER TABLE %s%s ADD CONSTRAINT %I %s;\\n', CASE WHEN (k.contype" EQ
     "'f' AND r.relkind" EQ "'p') OR (k.contype" EQ
     "'c' AND NOT k.connoinherit) THEN '' ELSE 'ONLY ' "
     "END, r.qn, k.conname, pg_catalog.pg_get_constraintdef(k.oid))" CAT
     " COALESCE((SELECT pg_catalog.concat(CASE WHEN x.indisclustered THEN "
     "pg_catalog.format(E'ALTER TABLE ONLY %s CLUSTER ON %I;\\n', r.qn, xc.relname) END, CASE WHEN "
     "x.indisreplident THEN pg_catalog.format(E'ALTER TABLE ONLY %s REPLICA IDENTITY USING INDEX "
     "%I;\\n', r.qn, xc.relname) END) FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class xc ON "
     "xc.oid" EQ "x.indexrelid WHERE x.indexrelid" EQ "k.conindid AND k.contype" NE "'f'), '')" CAT
     " " COMMENT("'CONSTRAINT'", "pg_catalog.format('%I ON %s', k.conname, r.qn)", "2606", "k.oid",
                 "0") ", '' "
                      "FROM pg_catalog.pg_constraint k JOIN rel r ON r.oid" EQ "k.conrelid "
                      "WHERE k.contype" EQ "ANY ('{p,u,x}'::pg_catalog.\"char\"[]) OR (k.contype" EQ
                      "'f' AND k.conparentid" EQ "0) OR (k.contype" EQ
                      "'c' AND NOT k.convalidated AND k.conislocal) "},
    // Domain constraints not yet validated.
    {DOMAIN_CONSTRAINTS_NOT_VALID_EXIST,
     "SELECT pg_catalog.concat('2606.', k.oid), 'post-data', 'CONSTRAINT', n.nspname, "
     " k.conname, pg_catalog.pg_get_userbyid(t.typowner), NULL, NULL, "
     " pg_catalog.format(E'ALTER DOMAIN %I.%I ADD CONSTRAINT %I %s;\\n', n.nspname, t.typname, "
     "k.conname, pg_catalog.pg_get_constraintdef(k.oid)), pg_catalog.concat('1247.', t.oid) "
     "FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_type t ON t.oid" EQ "k.contypid "
     "JOIN nsp n ON n.oid" EQ "t.typnamespace WHERE NOT k.convalidated "},
    // Triggers (not internal ones, not a partitioned table's clones).
    {TRIGGERS_EXIST,
     "SELECT pg_catalog.concat('2620.', g.oid), 'post-data', 'TRIGGER', r.nspname, "
     " g.tgname, pg_catalog.pg_get_userbyid(r.relowner), r.nspname, r.relname, "
     " pg_catalog.pg_get_triggerdef(g.oid)" CAT "E';\\n'" CAT " CASE WHEN g.tgenabled" EQ
     "'D' THEN pg_catalog.format(E'ALTER TABLE %s DISABLE TRIGGER "
     "%I;\\n', r.qn, g.tgname) WHEN g.tgenabled" EQ "'R' THEN pg_catalog.format(E'ALTER TABLE %s "
     "ENABLE REPLICA TRIGGER %I;\\n', r.qn, g.tgname) WHEN g.tgenabled" EQ
     "'A' THEN pg_catalog.format(E'ALTER TABLE %s ENABLE ALWAYS TRIGGER %I;\\n', r.qn, g.tgname) "
     "ELSE '' END" CAT
     " " COMMENT("'TRIGGER'", "pg_catalog.format('%I ON %s', g.tgname, r.qn)", "2620", "g.oid",
                 "0") ", '' "
                      "FROM pg_catalog.pg_trigger g JOIN rel r ON r.oid" EQ "g.tgrelid "
                      "WHERE NOT g.tgisinternal AND g.tgparentid" EQ "0 "},
    // Row-level security and policies.
    {ROW_SECURITY_EXISTS,
     "SELECT pg_catalog.concat('1259.', r.oid, '.rls'), 'post-data', 'ROW SECURITY', "
     " r.nspname, r.relname, pg_catalog.pg_get_userbyid(r.relowner), r.nspname, r.relname, "
     " pg_catalog.concat(CASE WHEN r.relrowsecurity THEN pg_catalog.format(E'ALTER TABLE ONLY %s "
     "ENABLE ROW LEVEL SECURITY;\\n', r.qn) END, CASE WHEN r.relforcerowsecurity THEN "
     "pg_catalog.format(E'ALTER TABLE ONLY %s FORCE ROW LEVEL SECURITY;\\n', r.qn) END), "
     " pg_catalog.concat('1259.', r.oid) "
     "FROM rel r WHERE r.relrowsecurity OR r.relforcerowsecurity "},
    {POLICIES_EXIST,
     "SELECT pg_catalog.concat('3256.', p.oid), 'post-data', 'POLICY', r.nspname, "
     " p.polname, pg_catalog.pg_get_userbyid(r.relowner), r.nspname, r.relname, "
     " pg_catalog.format(E'CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s;\\n', p.polname, r.qn, "
     "CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, CASE WHEN p.polcmd" EQ
     "'r' THEN 'SELECT' WHEN p.polcmd" EQ "'a' THEN 'INSERT' WHEN p.polcmd" EQ
     "'w' THEN 'UPDATE' WHEN p.polcmd" EQ "'d' THEN 'DELETE' ELSE 'ALL' END, "
     " (SELECT pg_catalog.string_agg(CASE WHEN o" EQ "0 THEN 'PUBLIC' ELSE "
     "pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(o)) END, ', ' ORDER BY i) FROM "
     "pg_catalog.unnest(p.polroles) WITH ORDINALITY AS u(o, i)), "
     " ' USING ('" CAT "pg_catalog.pg_get_expr(p.polqual, p.polrelid)" CAT "')', "
     " ' WITH CHECK ('" CAT "pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)" CAT "')')" CAT
     " " COMMENT("'POLICY'", "pg_catalog.format('%I ON %s', p.polname, r.qn)", "3256", "p.oid",
                 "0") ", "
                      " pg_catalog.concat('1259.', r.oid, ' 1259.', r.oid, '.rls') "
                      "FROM pg_catalog.pg_policy p JOIN rel r ON r.oid" EQ "p.polrelid "},
    // Extended statistics.
    {STATISTICS_EXIST,
     "SELECT pg_catalog.concat('3381.', s.oid), 'post-data', 'STATISTICS', n.nspname, "
     " s.stxname, pg_catalog.pg_get_userbyid(s.stxowner), r.nspname, r.relname, "
     " pg_catalog.pg_get_statisticsobjdef(s.oid)" CAT "E';\\n'" CAT " CASE WHEN s.stxstattarget" GE
     "0 THEN pg_catalog.format(E'ALTER STATISTICS %I.%I SET "
     "STATISTICS %s;\\n', n.nspname, s.stxname, s.stxstattarget) ELSE '' END" CAT
     " " OWNER("'STATISTICS'", "pg_catalog.format('%I.%I', n.nspname, s.stxname)", "s.stxowner") CAT
     " " COMMENT("'STATISTICS'", "pg_catalog.format('%I.%I', n.nspname, s.stxname)", "3381",
                 "s.oid", "0") ", '' "
                               "FROM pg_catalog.pg_statistic_ext s JOIN nsp n ON n.oid" EQ
                               "s.stxnamespace "
                               "JOIN rel r ON r.oid" EQ
                               "s.stxrelid WHERE " NOT_EXTENSION_MEMBER("3381", "s.oid")},
};

// Privileges: id of the object, schema, name, owner, table schema, table
// name, what follows ON, the column (quoted) or NULL, the ACL and its
// default as aclitem[] text.
const QueryBranch kAclBranches[] = {
    {nullptr,
     "SELECT pg_catalog.concat('2615.', n.oid), n.nspname, n.nspname, "
     " pg_catalog.pg_get_userbyid(n.nspowner), NULL, NULL, "
     " 'SCHEMA '" CAT "pg_catalog.quote_ident(n.nspname), NULL, n.nspacl::pg_catalog.text, "
     " COALESCE((SELECT ip.initprivs FROM pg_catalog.pg_init_privs ip WHERE ip.objoid" EQ
     "n.oid AND ip.classoid" EQ "2615 AND ip.objsubid" EQ "0), pg_catalog.acldefault('n', "
     "n.nspowner))::pg_catalog.text "
     "FROM nsp n WHERE n.nspacl IS NOT NULL "},
    {RELATION_ACLS_EXIST,
     "SELECT pg_catalog.concat('1259.', r.oid), r.nspname, r.relname, "
     " pg_catalog.pg_get_userbyid(r.relowner), NULL, NULL, "
     " CASE WHEN r.relkind" EQ "'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END" CAT "r.qn, NULL, "
     " r.relacl::pg_catalog.text, pg_catalog.acldefault(CASE WHEN r.relkind" EQ "'S' THEN "
     "'s'::pg_catalog.\"char\" ELSE 'r'::pg_catalog.\"char\" END, r.relowner)::pg_catalog.text "
     "FROM rel r WHERE r.relacl IS NOT NULL "},
    {COLUMN_ACLS_EXIST,
     "SELECT pg_catalog.concat('1259.', r.oid), r.nspname, r.relname, "
     " pg_catalog.pg_get_userbyid(r.relowner), r.nspname, r.relname, 'TABLE '" CAT "r.qn, "
     " pg_catalog.quote_ident(a.attname), a.attacl::pg_catalog.text, '{}' "
     "FROM rel r JOIN pg_catalog.pg_attribute a ON a.attrelid" EQ "r.oid "
     "WHERE a.attacl IS NOT NULL AND a.attnum" GT "0 AND NOT a.attisdropped "},
    {FUNCTION_ACLS_EXIST,
     "SELECT pg_catalog.concat('1255.', p.oid), n.nspname, p.proname, "
     " pg_catalog.pg_get_userbyid(p.proowner), NULL, NULL, "
     " CASE WHEN p.prokind" EQ "'p' THEN 'PROCEDURE ' ELSE 'FUNCTION ' END" CAT
     "p.oid::pg_catalog.regprocedure::pg_catalog.text, NULL, p.proacl::pg_catalog.text, "
     " pg_catalog.acldefault('f', p.proowner)::pg_catalog.text "
     "FROM pg_catalog.pg_proc p JOIN nsp n ON n.oid" EQ "p.pronamespace "
     "WHERE p.proacl IS NOT NULL AND p.prokind" EQ
     "ANY ('{f,p,w}'::pg_catalog.\"char\"[]) AND " NOT_EXTENSION_MEMBER("1255", "p.oid") " "},
    {TYPE_ACLS_EXIST,
     "SELECT pg_catalog.concat('1247.', t.oid), n.nspname, t.typname, "
     " pg_catalog.pg_get_userbyid(t.typowner), NULL, NULL, "
     " CASE WHEN t.typtype" EQ "'d' THEN 'DOMAIN ' ELSE 'TYPE ' END" CAT
     "pg_catalog.format('%I.%I', n.nspname, t.typname), NULL, t.typacl::pg_catalog.text, "
     " pg_catalog.acldefault('T', t.typowner)::pg_catalog.text "
     "FROM pg_catalog.pg_type t JOIN nsp n ON n.oid" EQ "t.typnamespace "
     "WHERE t.typacl IS NOT NULL AND t.typtype" EQ
     "ANY ('{e,d,c,r}'::pg_catalog.\"char\"[]) AND " NOT_EXTENSION_MEMBER("1247", "t.oid")},
};

// pg_depend's normal and automatic edges between user objects. The edge
// from an owned sequence to its column (OWNED BY) is the separate
// SEQUENCE OWNED BY entry's, so that the sequence can precede its table.
const char kEdgesQuery[] =
    "SELECT pg_catalog.concat(d.classid, '.', d.objid), pg_catalog.concat(d.refclassid, '.', "
    "d.refobjid) FROM pg_catalog.pg_depend d "
    "WHERE d.deptype" EQ "ANY ('{n,a}'::pg_catalog.\"char\"[]) AND d.objid" GE
    "16384 AND d.refobjid" GE "16384 AND NOT (d.classid" EQ "1259 AND d.refclassid" EQ
    "1259 AND d.deptype" EQ "'a' AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid" EQ
    "d.objid)" EQ "'S')";

// Objects of kinds the capture does not recreate yet (README "What a
// backup contains"), no extension's members: whether there may be any (a
// probe column: a cheap superset, most catalogs it reads the capture has
// open anyway), and then which. A backup without them must say so: the
// run's warnings name them, so that nobody learns it from a restore.
#define UNCAPTURED_MAY_EXIST \
  "(EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid" EQ                          \
  "ANY ('{2617,2616,2753,2605,3456,3602,3600,3601,3764,2607,3576,3466,2328,2618,2601}'"     \
  "::pg_catalog.oid[]) AND d.objid" GE "16384 AND " NOT_EXTENSION_MEMBER("d.classid",       \
                                                                         "d.objid") " "     \
  "AND (d.classid" NE "2618 OR EXISTS (SELECT FROM pg_catalog.pg_rewrite w "                \
  "WHERE w.oid" EQ "d.objid AND w.rulename" NE "'_RETURN'))) "                              \
  "OR EXISTS (SELECT FROM pg_catalog.pg_foreign_server s "                                  \
  "WHERE " NOT_EXTENSION_MEMBER("2328", "s.srvfdw") ") "                                    \
  "OR EXISTS (SELECT FROM pg_catalog.pg_proc p WHERE p.oid" GE "16384 AND p.prokind" EQ     \
  "'a') "                                                                                   \
  "OR EXISTS (SELECT FROM pg_catalog.pg_type t WHERE t.oid" GE "16384 AND t.typtype" EQ     \
  "'b' AND t.typcategory" NE "'A') "                                                        \
  "OR EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relkind" EQ "'f') "                 \
  "OR EXISTS (SELECT FROM pg_catalog.pg_publication) "                                      \
  "OR EXISTS (SELECT FROM pg_catalog.pg_default_acl) "                                      \
  "OR EXISTS (SELECT FROM pg_catalog.pg_largeobject_metadata))"

#define UNCAPTURED_OF(catalog, where)                                                    \
  "SELECT 'pg_catalog." catalog "'::pg_catalog.regclass, x.oid FROM pg_catalog." catalog \
  " x "                                                                                  \
  "WHERE " where

const char kUncapturedQuery[] =
    "WITH o(classid, objid) AS ("
    UNCAPTURED_OF("pg_proc", "x.prokind" EQ "'a' AND x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_operator", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_opclass", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_opfamily", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_cast", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_collation", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_ts_config", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_ts_dict", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_ts_parser", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_ts_template", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_conversion", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_transform", "true")
    " UNION ALL " UNCAPTURED_OF("pg_event_trigger", "true")
    " UNION ALL " UNCAPTURED_OF("pg_publication", "true")
    " UNION ALL " UNCAPTURED_OF("pg_default_acl", "true")
    " UNION ALL " UNCAPTURED_OF("pg_am", "x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_largeobject_metadata", "true")
    // The run's own server (of cdw_backup's wrapper, an extension member)
    // is not the database's.
    " UNION ALL " UNCAPTURED_OF("pg_foreign_data_wrapper", "true")
    " UNION ALL " UNCAPTURED_OF("pg_foreign_server", NOT_EXTENSION_MEMBER("2328", "x.srvfdw"))
    // pg_user_mapping is readable by superusers only (its options hold
    // passwords): its public view, which shows the same mappings.
    " UNION ALL SELECT 'pg_catalog.pg_user_mapping'::pg_catalog.regclass, x.umid "
    "FROM pg_catalog.pg_user_mappings x WHERE x.srvid" EQ "ANY (SELECT s.oid FROM "
    "pg_catalog.pg_foreign_server s WHERE " NOT_EXTENSION_MEMBER("2328", "s.srvfdw") ")"
    " UNION ALL " UNCAPTURED_OF("pg_class",
                                "x.relkind" EQ "'f' AND x.relpersistence" NE "'t'")
    " UNION ALL " UNCAPTURED_OF("pg_type", "x.typtype" EQ "'b' AND x.typcategory" NE
                                "'A' AND x.oid" GE "16384")
    " UNION ALL " UNCAPTURED_OF("pg_rewrite", "x.rulename" NE "'_RETURN' AND x.oid" GE "16384")
    "), u AS (SELECT i.type" CAT "' '" CAT "i.identity AS d FROM o "
    " CROSS JOIN LATERAL pg_catalog.pg_identify_object(o.classid, o.objid, 0) i "
    " WHERE " NOT_EXTENSION_MEMBER("o.classid", "o.objid") ") "
    "SELECT pg_catalog.count(*), (SELECT pg_catalog.string_agg(v.d, ', ') FROM "
    " (SELECT u.d FROM u ORDER BY 1 LIMIT 5) v) FROM u "
    "HAVING pg_catalog.count(*)" GT "0";

// The leaf partitions of every partitioned table: parent schema and name,
// leaf schema, name and relkind. Read only when the filters left tables
// out (see the use below).
const char kPartitionLeavesQuery[] =
    "SELECT pn.nspname, p.relname, ln.nspname, l.relname, l.relkind::pg_catalog.text "
    "FROM pg_catalog.pg_class p JOIN pg_catalog.pg_namespace pn ON pn.oid" EQ
    "p.relnamespace "
    "CROSS JOIN LATERAL pg_catalog.pg_partition_tree(p.oid::pg_catalog.regclass) t "
    "JOIN pg_catalog.pg_class l ON l.oid" EQ
    "t.relid "
    "JOIN pg_catalog.pg_namespace ln ON ln.oid" EQ
    "l.relnamespace "
    "WHERE p.relkind" EQ "'p' AND t.isleaf";

// Catalog ids that are part of an entry: array types, row types, the
// multirange of a range, constraint indexes, identity sequences, view
// rules, generated columns' expressions, inline CHECKs, extension members.
const char kAliasesQuery[] =
    "SELECT pg_catalog.concat('1247.', t.oid), pg_catalog.concat('1247.', t.typelem) "
    "FROM pg_catalog.pg_type t WHERE t.oid" GE "16384 AND t.typelem" NE
    "0 AND EXISTS (SELECT FROM "
    "pg_catalog.pg_type e WHERE e.typarray" EQ
    "t.oid) "
    "UNION ALL SELECT pg_catalog.concat('1247.', t.oid), pg_catalog.concat('1259.', t.typrelid) "
    "FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class c ON c.oid" EQ
    "t.typrelid "
    "WHERE t.oid" GE "16384 AND c.relkind" NE
    "'c' "
    "UNION ALL SELECT pg_catalog.concat('1259.', c.oid), pg_catalog.concat('1247.', c.reltype) "
    "FROM pg_catalog.pg_class c WHERE c.oid" GE "16384 AND c.relkind" EQ
    "'c' "
    "UNION ALL SELECT pg_catalog.concat('1247.', r.rngmultitypid), pg_catalog.concat('1247.', "
    "r.rngtypid) FROM pg_catalog.pg_range r WHERE r.rngtypid" GE
    "16384 "
    "UNION ALL SELECT pg_catalog.concat('1259.', k.conindid), pg_catalog.concat('2606.', k.oid) "
    "FROM pg_catalog.pg_constraint k WHERE k.oid" GE "16384 AND k.conrelid" NE "0 AND k.contype" EQ
    "ANY ('{p,u,x}'::pg_catalog.\"char\"[]) "
    "UNION ALL SELECT pg_catalog.concat('1259.', d.objid), pg_catalog.concat('1259.', d.refobjid) "
    "FROM pg_catalog.pg_depend d WHERE d.classid" EQ "1259 AND d.refclassid" EQ
    "1259 AND d.deptype" EQ "'i' AND d.objid" GE
    "16384 "
    "UNION ALL SELECT pg_catalog.concat('2618.', w.oid), pg_catalog.concat('1259.', w.ev_class) "
    "FROM pg_catalog.pg_rewrite w WHERE w.oid" GE
    "16384 "
    "UNION ALL SELECT pg_catalog.concat('2604.', ad.oid), pg_catalog.concat('1259.', ad.adrelid) "
    "FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_attribute a ON a.attrelid" EQ
    "ad.adrelid "
    "AND a.attnum" EQ "ad.adnum WHERE ad.oid" GE "16384 AND a.attgenerated" NE
    "'' "
    "UNION ALL SELECT pg_catalog.concat('2606.', k.oid), CASE WHEN k.contypid" NE
    "0 THEN pg_catalog.concat('1247.', k.contypid) ELSE pg_catalog.concat('1259.', k.conrelid) END "
    "FROM pg_catalog.pg_constraint k WHERE k.oid" GE "16384 AND k.contype" EQ
    "'c' "
    "UNION ALL SELECT pg_catalog.concat(d.classid, '.', d.objid), pg_catalog.concat('3079.', "
    "d.refobjid) FROM pg_catalog.pg_depend d WHERE d.deptype" EQ "'e'";

// Sequences whose value the role may read: the sequence's own entry, or
// its table's for an identity sequence.
const char kSequencesQuery[] = CTES
    "SELECT r.qn, pg_catalog.concat('1259.', COALESCE((SELECT d.refobjid FROM "
    "pg_catalog.pg_depend d WHERE d.classid" EQ "1259 AND d.objid" EQ "r.oid AND d.refclassid" EQ
    "1259 AND d.deptype" EQ
    "'i'), r.oid)), r.nspname, r.relname, "
    "pg_catalog.pg_get_userbyid(r.relowner) "
    "FROM rel r WHERE CASE WHEN r.relkind" EQ
    "'S' THEN pg_catalog.has_sequence_privilege(r.oid, "
    "'SELECT') ELSE false END";

// The database's settings, the extensions and the roles objects refer to
// (owners, grantees, policy roles), without passwords, in the order they
// were created (so that roles created on a fresh cluster keep their order:
// a policy lists its roles by OID).
const char kHeaderQuery[] = CTES
    "SELECT pg_catalog.current_setting('server_version'), "
    " pg_catalog.pg_encoding_to_char(db.encoding), db.datcollate, db.datctype, "
    " (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_object('name', "
    "x.extname, 'version', x.extversion, 'schema', xn.nspname) ORDER BY x.extname), '[]') FROM "
    "pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace xn ON xn.oid" EQ
    "x.extnamespace WHERE "
    "x.oid" GE "16384 AND x.extname" NE
    "ALL ('{cdw_backup,cdw_backup_fdw}'::pg_catalog.name[]))"
    "::pg_catalog.text, "
    " (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_object('name', "
    "a.rolname, 'superuser', a.rolsuper, 'inherit', a.rolinherit, 'createrole', a.rolcreaterole, "
    "'createdb', a.rolcreatedb, 'login', a.rolcanlogin, 'replication', a.rolreplication, "
    "'bypassrls', a.rolbypassrls, 'connlimit', a.rolconnlimit) ORDER BY a.oid), '[]') FROM "
    "pg_catalog.pg_roles a WHERE a.oid" EQ
    "ANY (ARRAY(SELECT s.refobjid FROM pg_catalog.pg_shdepend "
    "s WHERE s.dbid" EQ "db.oid AND s.refclassid" EQ
    "1260 UNION SELECT n.nspowner FROM nsp n "
    "UNION SELECT r.relowner FROM rel r UNION SELECT t.typowner FROM pg_catalog.pg_type t JOIN nsp "
    "n ON n.oid" EQ
    "t.typnamespace UNION SELECT p.proowner FROM pg_catalog.pg_proc p JOIN nsp n ON "
    "n.oid" EQ
    "p.pronamespace)))::pg_catalog.text "
    "FROM pg_catalog.pg_database db WHERE db.datname" EQ "pg_catalog.current_database()";

struct Rows {
  char ***cells;
  int count;
};

// The branch lists of the queries that are unions of branches.
struct BranchList {
  const QueryBranch *branches;
  size_t count;
};

const BranchList kObjects = {kObjectBranches, lengthof(kObjectBranches)};
const BranchList kAcls = {kAclBranches, lengthof(kAclBranches)};

// Appends the tests of `list`'s branches to the probe query's columns.
void AppendBranchTests(StringInfo probe, const BranchList &list) {
  for (size_t i = 0; i < list.count; i++) {
    if (list.branches[i].may_have_rows == nullptr) continue;
    appendStringInfoString(probe, probe->len ? ", " : "SELECT ");
    appendStringInfoString(probe, list.branches[i].may_have_rows);
  }
}

// Whether the probe's 1-based `column` came out true (a missing answer
// counts as true: the branch is then planned and decides for itself).
bool ProbeSaysYes(int column) {
  const char *answer = control::SpiText(0, column);
  return answer == nullptr || strcmp(answer, "f") != 0;
}

// The CTEs and the branches of `list` that the probe's answers, from
// `*column` on, do not rule out, as one UNION ALL. The first branch of a
// list has no test, so the union is never empty.
char *UnionOfPossibleBranches(const BranchList &list, int *column) {
  StringInfoData sql;
  initStringInfo(&sql);
  appendStringInfoString(&sql, CTES);
  bool first = true;
  for (size_t i = 0; i < list.count; i++) {
    if (list.branches[i].may_have_rows != nullptr && !ProbeSaysYes((*column)++)) continue;
    if (!first) appendStringInfoString(&sql, " UNION ALL ");
    appendStringInfoString(&sql, list.branches[i].select);
    first = false;
  }
  return sql.data;
}

Rows Query(const char *sql) {
  control::SpiRun(sql, 0, nullptr, nullptr, nullptr, true);
  Rows rows{nullptr, static_cast<int>(SPI_processed)};
  rows.cells = control::SpiTextRows();
  // The text is all that is read from here on: the tuples (as big again,
  // ~1 kB a table) go now rather than when the capture's SPI connection ends.
  SPI_freetuptable(SPI_tuptable);
  SPI_tuptable = nullptr;
  return rows;
}

std::string Cell(char **row, int column) {
  return row[column] ? row[column] : "";
}

std::vector<std::string> SplitIds(const std::string &list) {
  std::vector<std::string> ids;
  size_t start = 0;
  while (start < list.size()) {
    size_t end = list.find(' ', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) ids.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return ids;
}

// The elements of an aclitem[] in its text form ("{a=r/b,\"x y\"=r/b}").
std::vector<std::string> ArrayElements(const std::string &text) {
  std::vector<std::string> items;
  if (text.size() < 2) return items;
  std::string current;
  bool quoted = false, any = false;
  for (size_t i = 1; i + 1 < text.size(); i++) {
    char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 2 < text.size()) {
        current.push_back(text[++i]);
      } else if (c == '"') {
        quoted = false;
      } else {
        current.push_back(c);
      }
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      items.push_back(current);
      current.clear();
      any = false;
    } else {
      current.push_back(c);
      any = true;
    }
  }
  if (any || !current.empty()) items.push_back(current);
  return items;
}

// Says on the job (the coordinator adds it to runs.warnings) and in the
// server log which objects of the database the backup leaves out.
void NoteUncapturedObjects() {
  control::SpiRun(kUncapturedQuery, 0, nullptr, nullptr, nullptr, true);
  if (SPI_processed == 0) return;
  const char *count = control::SpiText(0, 1);
  const char *first = control::SpiText(0, 2);
  char *warning = psprintf(
      "%s object(s) of kinds the backup does not capture are not in it, so a restore will not "
      "recreate them: %s%s",
      count, first ? first : "", atoi(count) > 5 ? ", ..." : "");
  ereport(WARNING, (errmsg("cdw_backup: database \"%s\": %s", g_job->database, warning),
                    errhint("README \"What a backup contains\" lists what is captured; keep "
                            "their definitions elsewhere (pg_dump --schema-only) until it is.")));
  CopyForHome(g_job->schema_warning, sizeof g_job->schema_warning, warning);
}

}  // namespace

char *CaptureSchema() {
  // The deparsers qualify every name that is not visible: with only
  // pg_catalog visible, everything of the database's own comes out
  // schema-qualified, and no object of the database can be picked by
  // name here.
  int nest_level = pg::PinSearchPath();
  StringInfoData probe;
  initStringInfo(&probe);
  AppendBranchTests(&probe, kObjects);
  AppendBranchTests(&probe, kAcls);
  appendStringInfoString(&probe, ", " SEQUENCES_EXIST ", " UNCAPTURED_MAY_EXIST);
  control::SpiRun(probe.data, 0, nullptr, nullptr, nullptr, true);
  int column = 1;
  char *objects_query = UnionOfPossibleBranches(kObjects, &column);
  char *acl_query = UnionOfPossibleBranches(kAcls, &column);
  bool any_sequence = ProbeSaysYes(column);
  if (ProbeSaysYes(column + 1)) NoteUncapturedObjects();
  Rows objects = Query(objects_query);
  Rows acls = Query(acl_query);
  Rows edges = Query(kEdgesQuery);
  Rows aliases = Query(kAliasesQuery);
  Rows header = Query(kHeaderQuery);
  bool any_excluded = false;
  for (int i = 0; g_tables && i < g_tables->count; i++)
    any_excluded |= g_tables->entries[i].status == static_cast<int>(TableStatus::kExcluded);
  Rows leaves = any_excluded ? Query(kPartitionLeavesQuery) : Rows{nullptr, 0};
  // Sequence values, read as pg_dump reads them: from the sequence itself.
  Rows sequences = any_sequence ? Query(kSequencesQuery) : Rows{nullptr, 0};
  char **setvals = static_cast<char **>(palloc(sizeof(char *) * Max(sequences.count, 1)));
  for (int i = 0; i < sequences.count; i++) {
    control::SpiRun(psprintf("SELECT last_value, is_called FROM %s", sequences.cells[i][0]), 0,
                    nullptr, nullptr, nullptr, true);
    setvals[i] = psprintf("SELECT pg_catalog.setval(%s, %s, %s);\n",
                          quote_literal_cstr(sequences.cells[i][0]), control::SpiText(0, 1),
                          strcmp(control::SpiText(0, 2), "t") == 0 ? "true" : "false");
  }
  pg::UnpinSearchPath(nest_level);
  if (header.count != 1)
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("could not read the settings of the current database")));

  return pg::CallCpp([&] {
    std::vector<SchemaObject> toc;
    toc.reserve(static_cast<size_t>(objects.count + acls.count + sequences.count));
    for (int i = 0; i < objects.count; i++) {
      char **row = objects.cells[i];
      SchemaObject object;
      object.id = Cell(row, 0);
      object.section = Cell(row, 1);
      object.kind = Cell(row, 2);
      object.schema = Cell(row, 3);
      object.name = Cell(row, 4);
      object.owner = Cell(row, 5);
      object.table_schema = Cell(row, 6);
      object.table_name = Cell(row, 7);
      object.sql = Cell(row, 8);
      object.deps = SplitIds(Cell(row, 9));
      toc.push_back(std::move(object));
    }
    std::unordered_map<std::string, int> acl_count;
    for (int i = 0; i < acls.count; i++) {
      char **row = acls.cells[i];
      std::string sql = BuildAclCommands(Cell(row, 6), Cell(row, 7), ArrayElements(Cell(row, 8)),
                                         ArrayElements(Cell(row, 9)));
      if (sql.empty()) continue;
      SchemaObject object;
      std::string base = Cell(row, 0);
      int n = acl_count[base]++;
      object.id = base + ".acl" + (n ? "." + std::to_string(n) : "");
      object.section = "post-data";
      object.kind = "ACL";
      object.schema = Cell(row, 1);
      object.name = Cell(row, 2);
      object.owner = Cell(row, 3);
      object.table_schema = Cell(row, 4);
      object.table_name = Cell(row, 5);
      object.sql = sql;
      object.deps = {base};
      toc.push_back(std::move(object));
    }
    for (int i = 0; i < sequences.count; i++) {
      char **row = sequences.cells[i];
      SchemaObject object;
      object.id = Cell(row, 1) + ".set." + std::to_string(i);
      object.section = "data";
      object.kind = "SEQUENCE SET";
      object.schema = Cell(row, 2);
      object.name = Cell(row, 3);
      object.owner = Cell(row, 4);
      object.sql = setvals[i];
      object.deps = {Cell(row, 1)};
      toc.push_back(std::move(object));
    }
    std::vector<DependencyEdge> graph;
    graph.reserve(static_cast<size_t>(edges.count));
    for (int i = 0; i < edges.count; i++)
      graph.push_back({Cell(edges.cells[i], 0), Cell(edges.cells[i], 1)});
    std::vector<IdAlias> parts;
    parts.reserve(static_cast<size_t>(aliases.count));
    for (int i = 0; i < aliases.count; i++)
      parts.push_back({Cell(aliases.cells[i], 0), Cell(aliases.cells[i], 1)});
    ResolveDependencies(toc, parts, graph);
    // Tables the run's filters left out are not in the schema either
    // (schema_toc.h: RemoveExcludedTables keeps what kept tables need).
    std::vector<TableName> excluded;
    for (int i = 0; g_tables && i < g_tables->count; i++)
      if (g_tables->entries[i].status == static_cast<int>(TableStatus::kExcluded))
        excluded.push_back({g_tables->entries[i].schema_name, g_tables->entries[i].table_name});
    // A partitioned table holds no rows of its own: patterns choose its
    // partitions. One all of whose leaf partitions are left out goes too
    // (it came back empty on restore); one with a kept, foreign or no leaf
    // stays.
    std::set<TableName> excluded_names(excluded.begin(), excluded.end());
    std::map<TableName, bool> parent_left_out;  // parent -> all its leaves are excluded
    for (int i = 0; i < leaves.count; i++) {
      char **row = leaves.cells[i];
      TableName parent{Cell(row, 0), Cell(row, 1)};
      bool leaf_out = Cell(row, 4) == "r" && excluded_names.count({Cell(row, 2), Cell(row, 3)});
      auto found = parent_left_out.emplace(parent, leaf_out);
      if (!found.second) found.first->second = found.first->second && leaf_out;
    }
    for (const auto &parent : parent_left_out)
      if (parent.second) excluded.push_back(parent.first);
    (void)RemoveExcludedTables(toc, excluded);
    // A materialized view is refreshed after the ones it reads.
    std::unordered_map<std::string, size_t> by_id;
    for (size_t i = 0; i < toc.size(); i++) by_id[toc[i].id] = i;
    for (auto &object : toc) {
      if (object.kind != "REFRESH MATERIALIZED VIEW" || object.deps.empty()) continue;
      auto view = by_id.find(object.deps[0]);
      if (view == by_id.end()) continue;
      for (const auto &dep : toc[view->second].deps) {
        auto other = by_id.find(dep);
        if (other != by_id.end() && toc[other->second].kind == "MATERIALIZED VIEW")
          object.deps.push_back(dep + ".refresh");
      }
    }
    SortObjects(toc);
    char **h = header.cells[0];
    JsonWriter json;
    json.BeginObject();
    json.Key("server_version").String(Cell(h, 0));
    json.Key("encoding").String(Cell(h, 1));
    json.Key("datcollate").String(Cell(h, 2));
    json.Key("datctype").String(Cell(h, 3));
    json.Key("extensions").Raw(Cell(h, 4));
    json.Key("roles").Raw(Cell(h, 5));
    json.Key("objects");
    WriteSchemaObjects(json, toc);
    json.EndObject();
    return pstrdup(json.str().c_str());
  });
}

}  // namespace cdw::bgworker::database_worker
