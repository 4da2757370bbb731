extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
}

#include <climits>

#include "extension/control/restore_table_objects.h"
#include "extension/control/spi_util.h"

namespace cdw::control {
namespace {

#define JT " OPERATOR(pg_catalog.->>) "
#define J " OPERATOR(pg_catalog.->) "
#define EQ " OPERATOR(pg_catalog.=) "
#define NE " OPERATOR(pg_catalog.<>) "
#define HAS " OPERATOR(pg_catalog.?) "

// The manifest's TOC and its TABLE entries.
#define TOC_CTE                                                       \
  "WITH objs AS (SELECT o, ord FROM pg_catalog.jsonb_array_elements(" \
  "  ($1::pg_catalog.jsonb)" J "'schema'" J                           \
  "'objects') WITH ORDINALITY AS x(o, ord)), "                        \
  " tabs AS (SELECT o" JT "'id' AS id, o" JT "'schema' AS s, o" JT    \
  "'name' AS n, ord FROM objs "                                       \
  "  WHERE o" JT "'kind'" EQ "'TABLE') "

ArrayType *TextArray(int count, char **values) {
  Datum *datums = static_cast<Datum *>(palloc(sizeof(Datum) * Max(count, 1)));
  for (int i = 0; i < count; i++) datums[i] = CStringGetTextDatum(values[i]);
  return construct_array(datums, count, TEXTOID, -1, false, TYPALIGN_INT);
}

int FindTable(int count, char **schemas, char **names, const char *schema, const char *name) {
  for (int i = 0; i < count; i++)
    if (strcmp(schemas[i], schema) == 0 && strcmp(names[i], name) == 0) return i;
  return -1;
}

}  // namespace

bool ManifestHasSchema(const char *manifest) {
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(manifest)};
  SpiRun("SELECT pg_catalog.jsonb_typeof(($1::pg_catalog.jsonb)" J "'schema'" J "'objects')", 1,
         types, values, nullptr, true);
  char *type = SpiText(0, 1);
  return type && strcmp(type, "array") == 0;
}

bool SchemaOnlyTable(const char *manifest, const char *table_name, char **schema, char **name) {
  Oid types[2] = {TEXTOID, TEXTOID};
  Datum values[2] = {CStringGetTextDatum(manifest), CStringGetTextDatum(table_name)};
  SpiRun(TOC_CTE
         ", w AS (SELECT pg_catalog.parse_ident($2) AS w) "
         "SELECT t.s, t.n FROM tabs t, w WHERE t.n" EQ
         "w[pg_catalog.array_length(w, 1)] "
         "  AND (pg_catalog.array_length(w, 1)" EQ "1 OR t.s" EQ
         "w[1]) "
         "  AND pg_catalog.strpos((SELECT o" JT "'sql' FROM objs WHERE o" JT "'id'" EQ
         "t.id), 'PARTITION BY ')" NE "0",
         2, types, values, nullptr, true);
  if (SPI_processed != 1) return false;
  *schema = SpiText(0, 1);
  *name = SpiText(0, 2);
  return true;
}

void PartitionsOf(const char *manifest, ArrayType *schemas, ArrayType *names,
                  ArrayType **partition_schemas, ArrayType **partition_names) {
  Oid types[3] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID};
  Datum values[3] = {CStringGetTextDatum(manifest), PointerGetDatum(schemas),
                     PointerGetDatum(names)};
  // A partition's TABLE entry (PARTITION OF) or its TABLE ATTACH depends on
  // its parent's entry.
  SpiRun(
      TOC_CTE
      ", tree AS (WITH RECURSIVE tree(id) AS ("
      "   SELECT t.id FROM tabs t JOIN ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS "
      "w(s, n) "
      "     ON t.s" EQ "w.s AND t.n" EQ
      "w.n "
      "   UNION SELECT c.id FROM tree p, objs x, tabs c "
      "   WHERE x.o" J "'deps'" HAS "p.id AND ((x.o" JT "'kind'" EQ "'TABLE' AND x.o" JT "'id'" EQ
      "c.id AND pg_catalog.strpos(x.o" JT "'sql', ' PARTITION OF ')" NE
      "0) "
      "     OR (x.o" JT "'kind'" EQ "'TABLE ATTACH' AND x.o" JT "'schema'" EQ "c.s AND x.o" JT
      "'name'" EQ "c.n AND c.id" NE
      "p.id))) "
      "   SELECT id FROM tree) "
      "SELECT pg_catalog.array_agg(t.s ORDER BY t.ord), pg_catalog.array_agg(t.n ORDER BY t.ord) "
      "FROM tabs t JOIN tree ON tree.id" EQ "t.id",
      3, types, values, nullptr, true);
  bool isnull;
  Datum s = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  *partition_schemas = isnull ? construct_empty_array(TEXTOID) : DatumGetArrayTypePCopy(s);
  Datum n = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
  *partition_names = isnull ? construct_empty_array(TEXTOID) : DatumGetArrayTypePCopy(n);
}

void TableCreationOrder(const char *manifest, int count, char **schemas, char **names, int *order) {
  for (int i = 0; i < count; i++) order[i] = INT_MAX;
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(manifest)};
  SpiRun(TOC_CTE "SELECT s, n, ord FROM tabs", 1, types, values, nullptr, true);
  for (uint64 r = 0; r < SPI_processed; r++) {
    int row = static_cast<int>(r);
    int i = FindTable(count, schemas, names, SpiText(row, 1), SpiText(row, 2));
    if (i >= 0) order[i] = atoi(SpiText(row, 3));
  }
}

void CollectTableObjects(const char *manifest, int count, char **schemas, char **names,
                         char **packed, Size *packed_len, int *object_count) {
  for (int i = 0; i < count; i++) {
    packed[i] = nullptr;
    packed_len[i] = 0;
    object_count[i] = 0;
  }
  Oid types[3] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID};
  Datum values[3] = {CStringGetTextDatum(manifest), PointerGetDatum(TextArray(count, schemas)),
                     PointerGetDatum(TextArray(count, names))};
  SpiRun(TOC_CTE ", owned AS (SELECT t.id AS tid, q.o" JT "'schema' AS s, q.o" JT
                 "'name' AS n "
                 "   FROM tabs t JOIN objs q ON q.o" JT "'kind'" EQ
                 "'SEQUENCE OWNED BY' "
                 "   AND q.o" J "'table'" JT "'schema'" EQ "t.s AND q.o" J "'table'" JT "'name'" EQ
                 "t.n), "
                 " seqs AS (SELECT w.tid, x.o" JT
                 "'id' AS id FROM owned w JOIN objs x "
                 "   ON x.o" JT "'kind'" EQ "'SEQUENCE' AND x.o" JT "'schema'" EQ "w.s AND x.o" JT
                 "'name'" EQ
                 "w.n) "
                 "SELECT DISTINCT ON (t.s, t.n, x.ord) t.s, t.n, x.o" JT "'section', x.o" JT
                 "'kind', "
                 " x.o" JT "'schema', x.o" JT "'name', x.o" JT
                 "'sql', "
                 " r.role, r.os, r.on_ "
                 "FROM tabs t JOIN ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS "
                 "w(s, n) ON t.s" EQ "w.s AND t.n" EQ
                 "w.n "
                 "JOIN objs x ON true "
                 "CROSS JOIN LATERAL (SELECT x.o" J "'table'" JT "'schema'" EQ "t.s AND x.o" J
                 "'table'" JT "'name'" EQ "t.n AS of_table, x.o" J "'deps'" HAS
                 "t.id AS on_table, "
                 "  x.o" JT
                 "'kind' AS kind) k "
                 "CROSS JOIN LATERAL (SELECT CASE "
                 "   WHEN k.kind" EQ
                 "'FK CONSTRAINT' AND k.of_table THEN 'outgoing' "
                 "   WHEN k.kind" EQ
                 "'FK CONSTRAINT' AND k.on_table THEN 'incoming' "
                 "   WHEN k.kind" EQ "ANY ('{TABLE,TABLE ATTACH}') AND x.o" JT "'schema'" EQ
                 "t.s AND x.o" JT "'name'" EQ
                 "t.n THEN 'own' "
                 "   WHEN k.of_table THEN 'own' "
                 "   WHEN k.on_table AND k.kind" EQ
                 "ANY ('{ACL,SEQUENCE SET,SEQUENCE OWNED BY}') THEN 'own' "
                 "   WHEN EXISTS (SELECT FROM seqs WHERE seqs.tid" EQ "t.id AND seqs.id" EQ
                 "(x.o" JT
                 "'id')) THEN 'own' "
                 "   WHEN k.kind" EQ
                 "ANY ('{ACL,SEQUENCE SET}') AND EXISTS (SELECT FROM seqs "
                 "     WHERE tid" EQ "t.id AND x.o" J "'deps'" HAS
                 "seqs.id) THEN 'own' END AS role, "
                 "  CASE WHEN k.kind" EQ
                 "'FK CONSTRAINT' AND k.of_table THEN (SELECT o.s FROM tabs o "
                 "     WHERE x.o" J "'deps'" HAS "o.id AND o.id" NE
                 "t.id LIMIT 1) "
                 "   WHEN k.kind" EQ "'FK CONSTRAINT' THEN x.o" J "'table'" JT
                 "'schema' END AS os, "
                 "  CASE WHEN k.kind" EQ
                 "'FK CONSTRAINT' AND k.of_table THEN (SELECT o.n FROM tabs o "
                 "     WHERE x.o" J "'deps'" HAS "o.id AND o.id" NE
                 "t.id LIMIT 1) "
                 "   WHEN k.kind" EQ "'FK CONSTRAINT' THEN x.o" J "'table'" JT
                 "'name' END AS on_) r "
                 "WHERE r.role IS NOT NULL "
                 "  AND (k.kind" NE "'TABLE' OR (x.o" JT "'schema'" EQ "t.s AND x.o" JT "'name'" EQ
                 "t.n)) "
                 "ORDER BY t.s, t.n, x.ord",
         3, types, values, nullptr, true);
  char ***rows = SpiTextRows();
  StringInfoData *buffers =
      static_cast<StringInfoData *>(palloc0(sizeof(StringInfoData) * Max(count, 1)));
  for (uint64 r = 0; r < SPI_processed; r++) {
    char **row = rows[r];
    int i = FindTable(count, schemas, names, row[0], row[1]);
    if (i < 0) continue;
    if (!buffers[i].data) initStringInfo(&buffers[i]);
    for (int c = 2; c < 10; c++) {
      const char *cell = row[c] ? row[c] : "";
      appendBinaryStringInfo(&buffers[i], cell, static_cast<int>(strlen(cell)) + 1);
    }
    object_count[i]++;
  }
  for (int i = 0; i < count; i++)
    if (buffers[i].data) {
      packed[i] = buffers[i].data;
      packed_len[i] = static_cast<Size>(buffers[i].len);
    }
}

}  // namespace cdw::control
