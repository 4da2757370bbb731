// cdw_backup_fdw: the external table. Scanning reads every complete part
// under the table's prefix; INSERT writes one new part per statement.
//
// Callbacks are grouped as in contrib/postgres_fdw: planning, scanning,
// modifying, EXPLAIN. PostgreSQL work (catalog lookups, type output/input
// functions) runs in plain C-style frames; storage and encoding run in C++
// through CallCpp(), so errors cross the boundary only as described in
// extension/pg/cpp_boundary.h.
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tupdesc.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "storage/ipc.h"
}

#include <atomic>
#include <charconv>
#include <memory>

#include "extension/fdw/column_text.h"
#include "extension/fdw/fdw_options.h"
#include "extension/fdw/part_receiver.h"
#include "extension/fdw/part_registry.h"
#include "extension/fdw/pinned_settings.h"
#include "extension/fdw/tuple_fingerprint.h"
#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "extension/pg/text_encoding.h"
#include "format/part_io.h"
#include "format/row_fingerprint.h"
#include "storage/encrypted_store.h"
#include "storage/store_factory.h"

namespace cdw::fdw {
namespace {

// ---------------------------------------------------------------------------
// Shared state helpers
// ---------------------------------------------------------------------------

// At backend exit, abort multipart uploads whose abort a stalled server
// delayed past the ~1.5 s a cancel may take (see s3_store.h).
void RetryCleanupsAtExit(int, Datum) {
  // An exception escaping an exit callback would be std::terminate. The
  // names are copied into a static buffer: no C++ object lives across the
  // ereport below.
  static char named[2048];
  size_t left = 0;
  named[0] = '\0';
  pg::CallCppOrWarn(
      "cdw_backup_fdw: could not retry aborting multipart uploads",
      [&] {
        std::string remaining;
        left = RetryDeferredCleanups(2000, &remaining);
        strlcpy(named, remaining.c_str(), sizeof(named));
      },
      /*raise_pg_errors=*/false);
  if (left > 0)
    ereport(WARNING,
            (errmsg("cdw_backup_fdw: %zu multipart upload(s) could not be aborted", left),
             named[0] != '\0' ? errdetail("Left on the server: %s.", named) : 0,
             errhint("Abort them by hand (AbortMultipartUpload) once the server answers, or let "
                     "the bucket's lifecycle rule for incomplete multipart uploads remove them.")));
}

std::shared_ptr<ObjectStore> OpenStore(const TableOptions &options) {
  static bool cleanup_registered = false;
  if (!cleanup_registered && LocationNeedsCredentials(options.location)) {
    pg::PgCall([] { before_shmem_exit(RetryCleanupsAtExit, 0); });
    cleanup_registered = true;
  }
  auto store = OpenObjectStore(options.location, options.store_options, options.credentials);
  store->SetInterruptCheck(pg::InterruptsPending);
  pg::WarnTlsVerifyOffOnce(options.location, options.store_options);
  // Within a run, the run's shared limit; else the server's max_rate. The
  // limit paces the stored bytes: encryption wraps the throttled store.
  std::shared_ptr<ObjectStore> encrypted =
      WithEncryption(pg::ApplyRateLimit(std::move(store), options.store_options),
                     options.store_options, options.encryption_keys);
  return encrypted;
}

// Deletes a C++ object when the memory context holding its owner goes away
// (normally after End*; on error, during abort cleanup).
template <typename T>
struct CppOwner {
  T *object = nullptr;
  MemoryContextCallback callback;

  void Attach(T *created, MemoryContext context) {
    object = created;
    callback.func = [](void *arg) {
      auto *self = static_cast<CppOwner<T> *>(arg);
      delete self->object;  // destructors never throw (Abort() is noexcept)
      self->object = nullptr;
    };
    callback.arg = this;
    MemoryContextRegisterResetCallback(context, &callback);
  }
  void Release() {
    delete object;
    object = nullptr;
  }
};

// The non-dropped columns of a relation, in order: the CSV columns.
int CountColumns(TupleDesc desc, int *attnums) {
  int n = 0;
  for (int i = 0; i < desc->natts; i++)
    if (!TupleDescAttr(desc, i)->attisdropped) attnums[n++] = i;
  return n;
}

// A part name nobody else can produce: time, backend pid, per-backend counter.
// Into the caller's buffer: it runs in a PostgreSQL frame.
constexpr size_t kPartNameBytes = 128;
void NewPartName(Compression compression, char (&name)[kPartNameBytes]) {
  static uint64_t counter = 0;
  pg_time_t now = (pg_time_t)time(nullptr);
  struct pg_tm *tm = pg_gmtime(&now);
  char stamp[32];
  pg_strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", tm);
  snprintf(name, sizeof name, "part-%s-%d-%06llu-%04llu%s", stamp, MyProcPid,
           static_cast<unsigned long long>(GetCurrentTimestamp() % 1000000),
           static_cast<unsigned long long>(++counter), PartSuffix(compression));
}

// ---------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------

void GetRelSize(PlannerInfo *, RelOptInfo *baserel, Oid) {
  // Listing object storage at plan time would cost a round trip per query;
  // a fixed estimate is enough for the plans these tables take part in.
  baserel->rows = 1000;
}

void GetPaths(PlannerInfo *root, RelOptInfo *baserel, Oid) {
  Cost startup_cost = 10;
  Cost total_cost = startup_cost + baserel->rows * cpu_tuple_cost * 10;
  add_path(baserel, reinterpret_cast<Path *>(create_foreignscan_path(
                        root, baserel, nullptr, baserel->rows, startup_cost, total_cost, NIL,
                        baserel->lateral_relids, nullptr, NIL)));
}

ForeignScan *GetPlan(PlannerInfo *, RelOptInfo *baserel, Oid, ForeignPath *, List *tlist,
                     List *scan_clauses, Plan *outer_plan) {
  scan_clauses = extract_actual_clauses(scan_clauses, false);
  return make_foreignscan(tlist, scan_clauses, baserel->relid, NIL, NIL, NIL, NIL, outer_plan);
}

// ---------------------------------------------------------------------------
// Scanning
// ---------------------------------------------------------------------------

struct ScanCpp {
  TableOptions options;
  std::shared_ptr<ObjectStore> store;
  std::unique_ptr<PartReader> reader;
  std::vector<CsvField> fields;
};

constexpr int kScanBatchRows = 1000;

struct ScanState {
  CppOwner<ScanCpp> cpp;
  int ncolumns;
  int *attnums;  // CSV column -> attribute index
  FmgrInfo *input_functions;
  Oid *typioparams;
  int32 *typmods;
  MemoryContext batch_context;
  Datum *batch_values;  // kScanBatchRows * natts
  bool *batch_nulls;
  int natts;
  int batch_rows;
  int batch_position;
  bool exhausted;
  // From the parts' encoding (option encoding) to the server's.
  pg::TextConversion conversion;
  const char **column_what;  // per CSV column, for conversion errors
  const char *conversion_hint;
};

// "a value of column \"c\" of cdw_backup external table t" for each CSV
// column, for the detail of a conversion error.
const char **ColumnWhat(TupleDesc desc, const int *attnums, int ncolumns, const char *table) {
  auto **what = static_cast<const char **>(palloc(sizeof(char *) * (ncolumns + 1)));
  for (int c = 0; c < ncolumns; c++)
    what[c] = psprintf("a value of column %s of cdw_backup external table %s",
                       quote_identifier(NameStr(TupleDescAttr(desc, attnums[c])->attname)), table);
  return what;
}

void StartReader(ScanState *state) {
  pg::CallCpp([&] {
    ScanCpp *cpp = state->cpp.object;
    cpp->reader.reset();
    if (cpp->options.has_parts)
      cpp->reader = std::make_unique<PartReader>(cpp->store.get(), cpp->options.parts,
                                                 cpp->options.compression, cpp->options.header);
    else
      cpp->reader = std::make_unique<PartReader>(cpp->store.get(), cpp->options.prefix,
                                                 cpp->options.compression, cpp->options.header);
  });
  state->batch_rows = state->batch_position = 0;
  state->exhausted = false;
}

void BeginScan(ForeignScanState *node, int eflags) {
  Relation rel = node->ss.ss_currentRelation;
  TupleDesc desc = RelationGetDescr(rel);
  auto *state = static_cast<ScanState *>(palloc0(sizeof(ScanState)));
  node->fdw_state = state;
  state->natts = desc->natts;
  state->attnums = static_cast<int *>(palloc(sizeof(int) * (desc->natts + 1)));
  state->ncolumns = CountColumns(desc, state->attnums);
  state->input_functions = static_cast<FmgrInfo *>(palloc(sizeof(FmgrInfo) * (desc->natts + 1)));
  state->typioparams = static_cast<Oid *>(palloc(sizeof(Oid) * (desc->natts + 1)));
  state->typmods = static_cast<int32 *>(palloc(sizeof(int32) * (desc->natts + 1)));
  for (int c = 0; c < state->ncolumns; c++) {
    Form_pg_attribute attr = TupleDescAttr(desc, state->attnums[c]);
    Oid input_function;
    getTypeInputInfo(attr->atttypid, &input_function, &state->typioparams[c]);
    fmgr_info(input_function, &state->input_functions[c]);
    state->typmods[c] = attr->atttypmod;
  }
  state->batch_values =
      static_cast<Datum *>(palloc(sizeof(Datum) * kScanBatchRows * (desc->natts + 1)));
  state->batch_nulls =
      static_cast<bool *>(palloc(sizeof(bool) * kScanBatchRows * (desc->natts + 1)));
  state->batch_context = AllocSetContextCreate(CurrentMemoryContext, "cdw_backup_fdw scan batch",
                                               ALLOCSET_DEFAULT_SIZES);
  Oid relid = RelationGetRelid(rel);
  // `new` runs inside CallCpp: a bad_alloc must not cross PostgreSQL frames.
  state->cpp.Attach(pg::CallCpp([] { return new ScanCpp(); }), CurrentMemoryContext);
  if (eflags & EXEC_FLAG_EXPLAIN_ONLY) {
    pg::CallCpp([&] { state->cpp.object->options = LoadTableOptions(relid); });
    return;
  }
  int encoding = PG_UTF8;
  pg::CallCpp([&] {
    ScanCpp *cpp = state->cpp.object;
    cpp->options = LoadTableOptions(relid);
    CheckFilePermission(cpp->options, false);
    cpp->store = OpenStore(cpp->options);
    encoding = cpp->options.encoding;
  });
  state->conversion = pg::ConversionFromSource(encoding);
  state->column_what = ColumnWhat(desc, state->attnums, state->ncolumns,
                                  state->cpp.object->options.table_name.c_str());
  state->conversion_hint =
      encoding == PG_SQL_ASCII
          ? "The parts hold the bytes of a SQL_ASCII database, which cannot be converted: restore "
            "into a database of the encoding they really are in (CREATE DATABASE ... ENCODING "
            "'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0) or into a SQL_ASCII "
            "database."
      : state->conversion.missing
          ? psprintf(
                "The parts hold text in encoding %s, which encoding %s cannot be converted "
                "from: restore into a database with encoding %s.",
                pg_encoding_to_char(encoding), GetDatabaseEncodingName(),
                pg_encoding_to_char(encoding))
          : psprintf(
                "The parts hold text in encoding %s (the external table's option encoding): "
                "restore into a database whose encoding has the character, such as UTF8.",
                pg_encoding_to_char(encoding));
  StartReader(state);
}

struct ScanErrorContext {
  ScanState *state;
};

void ScanErrorCallback(void *arg) {
  auto *state = static_cast<ScanState *>(arg);
  if (!state->cpp.object || !state->cpp.object->reader) return;
  // No C++ object may be alive in this frame while errcontext() runs.
  char *position = nullptr;
  try {
    position = pg::PallocCopy(state->cpp.object->reader->Position());
  } catch (...) {
    return;
  }
  if (position[0] != '\0')
    errcontext("cdw_backup external table %s, %s", state->cpp.object->options.table_name.c_str(),
               position);
}

// Decodes up to kScanBatchRows records with the pinned settings, so the
// settings are switched once per batch rather than once per row.
void FillBatch(ScanState *state) {
  MemoryContextReset(state->batch_context);
  MemoryContext old_context = MemoryContextSwitchTo(state->batch_context);
  ErrorContextCallback error_context;
  error_context.callback = ScanErrorCallback;
  error_context.arg = state;
  error_context.previous = error_context_stack;
  error_context_stack = &error_context;
  bool pinned_by_caller = SettingsPinnedByCaller();
  int nest_level = pinned_by_caller ? 0 : PinSettings();
  int rows = 0;
  ScanCpp *cpp = state->cpp.object;
  while (rows < kScanBatchRows) {
    bool got = pg::CallCpp([&] { return cpp->reader->NextRecord(&cpp->fields); });
    if (!got) {
      state->exhausted = true;
      break;
    }
    int nfields = static_cast<int>(cpp->fields.size());
    // COPY writes an empty line for a row of a table without columns.
    if (state->ncolumns == 0 && nfields == 1 && cpp->fields[0].is_null) nfields = 0;
    if (nfields != state->ncolumns)
      ereport(
          ERROR,
          (errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
           errmsg("%s data for cdw_backup external table %s",
                  nfields > state->ncolumns ? "extra" : "missing", cpp->options.table_name.c_str()),
           errdetail("The record has %d fields; the table has %d columns.", nfields,
                     state->ncolumns),
           errhint("The columns of the external table must match the backed-up table.")));
    Datum *values = state->batch_values + static_cast<size_t>(rows) * state->natts;
    bool *nulls = state->batch_nulls + static_cast<size_t>(rows) * state->natts;
    for (int a = 0; a < state->natts; a++) nulls[a] = true, values[a] = (Datum)0;
    for (int c = 0; c < state->ncolumns; c++) {
      const CsvField &field = cpp->fields[c];
      int a = state->attnums[c];
      const char *text = field.is_null ? nullptr : field.data;
      if (text && state->conversion.active) {
        size_t len = 0;
        text = pg::ConvertText(state->conversion, field.data, field.len, &len,
                               state->column_what[c], state->conversion_hint);
      }
      values[a] = InputFunctionCall(&state->input_functions[c], const_cast<char *>(text),
                                    state->typioparams[c], state->typmods[c]);
      nulls[a] = field.is_null;
    }
    rows++;
  }
  if (!pinned_by_caller) UnpinSettings(nest_level);
  error_context_stack = error_context.previous;
  MemoryContextSwitchTo(old_context);
  state->batch_rows = rows;
  state->batch_position = 0;
}

TupleTableSlot *IterateScan(ForeignScanState *node) {
  auto *state = static_cast<ScanState *>(node->fdw_state);
  TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
  ExecClearTuple(slot);
  if (state->batch_position == state->batch_rows) {
    if (state->exhausted) return slot;
    FillBatch(state);
    if (state->batch_rows == 0) return slot;
  }
  size_t offset = static_cast<size_t>(state->batch_position++) * state->natts;
  memcpy(slot->tts_values, state->batch_values + offset, sizeof(Datum) * state->natts);
  memcpy(slot->tts_isnull, state->batch_nulls + offset, sizeof(bool) * state->natts);
  ExecStoreVirtualTuple(slot);
  return slot;
}

void RescanScan(ForeignScanState *node) {
  auto *state = static_cast<ScanState *>(node->fdw_state);
  StartReader(state);
}

void EndScan(ForeignScanState *node) {
  auto *state = static_cast<ScanState *>(node->fdw_state);
  if (state) state->cpp.Release();
}

// ---------------------------------------------------------------------------
// Modifying (INSERT / COPY FROM into the external table)
// ---------------------------------------------------------------------------

struct InsertCpp {
  TableOptions options;
  std::shared_ptr<ObjectStore> store;
  std::unique_ptr<PartWriter> writer;
  // Direct export of a table with a fingerprint seed (tuple_fingerprint.h).
  std::unique_ptr<RowFingerprint> fingerprint;
};

struct InsertState {
  CppOwner<InsertCpp> cpp;
  int ncolumns;
  int *attnums;
  FmgrInfo *output_functions;
  ColumnFormat *formats;  // how each column's text is made (column_text.h)
  char (*scratch)[kColumnScratchBytes];
  StringInfo *jsonb_buffers;  // per jsonb column, for the statement, reset per value
  ColumnText *texts;          // per CSV column, the current row's text
  bool *nulls;
  MemoryContext row_context;
  int rows_since_reset;
  int batch_size;
  // From the server encoding to the parts' encoding (option encoding).
  pg::TextConversion conversion;
  const char **column_what;  // per CSV column, for conversion errors
  const char *conversion_hint;
  // Direct export: the rows' fingerprint (null when the table has none), of
  // rows scanned from fingerprint_relid; with rows_only no text is made at
  // all (PartMode::kProbeRows).
  RowFingerprint *fingerprint;
  Oid fingerprint_relid;
  bool rows_only;
};

int IsUpdatable(Relation) {
  return 1 << CMD_INSERT;
}

// The state of one part being written from rows of `desc`: for a foreign
// table `relid` (its options from the catalogs), or, with `given`, for a
// direct export (part_receiver.h).
InsertState *BeginInsertState(TupleDesc desc, Oid relid, const TableOptions *given,
                              bool explain_only) {
  auto *state = static_cast<InsertState *>(palloc0(sizeof(InsertState)));
  state->attnums = static_cast<int *>(palloc(sizeof(int) * (desc->natts + 1)));
  state->ncolumns = CountColumns(desc, state->attnums);
  state->output_functions = static_cast<FmgrInfo *>(palloc(sizeof(FmgrInfo) * (desc->natts + 1)));
  state->formats = static_cast<ColumnFormat *>(palloc0(sizeof(ColumnFormat) * (desc->natts + 1)));
  state->scratch =
      static_cast<char(*)[kColumnScratchBytes]>(palloc(kColumnScratchBytes * (desc->natts + 1)));
  state->jsonb_buffers = static_cast<StringInfo *>(palloc0(sizeof(StringInfo) * (desc->natts + 1)));
  state->texts = static_cast<ColumnText *>(palloc(sizeof(ColumnText) * (desc->natts + 1)));
  state->nulls = static_cast<bool *>(palloc(sizeof(bool) * (desc->natts + 1)));
  for (int c = 0; c < state->ncolumns; c++) {
    Oid output_function;
    bool is_varlena;
    Oid type = TupleDescAttr(desc, state->attnums[c])->atttypid;
    getTypeOutputInfo(type, &output_function, &is_varlena);
    fmgr_info(output_function, &state->output_functions[c]);
    state->formats[c] = ColumnFormatFor(output_function);
    if (state->formats[c] == ColumnFormat::kJsonb) state->jsonb_buffers[c] = makeStringInfo();
  }
  state->row_context = AllocSetContextCreate(CurrentMemoryContext, "cdw_backup_fdw insert rows", 0,
                                             1024 * 1024, 8 * 1024 * 1024);
  state->cpp.Attach(pg::CallCpp([] { return new InsertCpp(); }), CurrentMemoryContext);
  if (!explain_only) {
    Compression compression = Compression::kGzip;
    pg::CallCpp([&] {
      state->cpp.object->options = given ? *given : LoadTableOptions(relid);
      compression = state->cpp.object->options.compression;
      int encoding = state->cpp.object->options.encoding;
      pg::PgCall([&] {
        state->conversion = pg::ConversionToTarget(encoding);
        state->column_what = ColumnWhat(desc, state->attnums, state->ncolumns,
                                        state->cpp.object->options.table_name.c_str());
        state->conversion_hint = psprintf(
            "The external table writes text in encoding %s (its option encoding); to keep "
            "characters it cannot hold, write with OPTIONS (encoding '%s').",
            pg_encoding_to_char(encoding), GetDatabaseEncodingName());
      });
    });
    char name[kPartNameBytes];
    NewPartName(compression, name);
    pg::CallCpp([&] {
      InsertCpp *cpp = state->cpp.object;
      CheckFilePermission(cpp->options, true);
      cpp->store = OpenStore(cpp->options);
      // A probe writes nothing: the writer only hashes the CSV.
      cpp->writer = std::make_unique<PartWriter>(
          cpp->options.probe ? nullptr : cpp->store.get(), cpp->options.prefix + name,
          cpp->options.compression, cpp->options.compression_level);
    });
    state->batch_size = state->cpp.object->options.batch_size;
    if (state->cpp.object->options.header) {
      // Like COPY ... (HEADER): the column names as the first record.
      pg::CallCpp([&] {
        CsvEncoder &csv = state->cpp.object->writer->csv();
        for (int c = 0; c < state->ncolumns; c++) {
          const char *name = NameStr(TupleDescAttr(desc, state->attnums[c])->attname);
          size_t len = strlen(name);
          pg::PgCall([&] {
            name = pg::ConvertText(state->conversion, name, len, &len, "a column name",
                                   state->conversion_hint);
          });
          csv.AppendField(name, len, false, c == 0, state->ncolumns == 1);
        }
        csv.EndRecord();
      });
    }
  } else {
    pg::CallCpp([&] { state->cpp.object->options = LoadTableOptions(relid); });
  }
  return state;
}

void BeginInsertCommon(ResultRelInfo *rinfo, bool explain_only) {
  Relation rel = rinfo->ri_RelationDesc;
  rinfo->ri_FdwState =
      BeginInsertState(RelationGetDescr(rel), RelationGetRelid(rel), nullptr, explain_only);
}

// Converts one row to text (PostgreSQL) then appends it (C++). The caller
// has pinned the output settings.
void AppendRow(InsertState *state, TupleTableSlot *slot) {
  if (state->fingerprint)
    AddRowToFingerprint(slot, state->fingerprint_relid, state->ncolumns, state->attnums,
                        state->fingerprint);
  if (state->rows_only) {
    state->cpp.object->writer->CountRow();
    return;
  }
  slot_getallattrs(slot);
  for (int c = 0; c < state->ncolumns; c++) {
    int a = state->attnums[c];
    state->nulls[c] = slot->tts_isnull[a];
    if (state->nulls[c]) continue;
    ColumnText *text = &state->texts[c];
    *text = FormatColumnValue(state->formats[c], &state->output_functions[c], slot->tts_values[a],
                              state->scratch[c], state->jsonb_buffers[c]);
    // CSV-encoded text (jsonb) converts as it is: its quotes and commas are
    // ASCII, the same in every server encoding and in the target's.
    if (state->conversion.active && MayHoldNonAscii(state->formats[c]))
      text->data = pg::ConvertText(state->conversion, text->data, text->len, &text->len,
                                   state->column_what[c], state->conversion_hint);
  }
  pg::CallCpp([&] {
    PartWriter *writer = state->cpp.object->writer.get();
    CsvEncoder &csv = writer->csv();
    bool single = state->ncolumns == 1;
    for (int c = 0; c < state->ncolumns; c++) {
      const ColumnText &text = state->texts[c];
      if (state->nulls[c])
        csv.AppendField(nullptr, 0, true, c == 0, single);
      else if (text.csv_encoded)
        csv.AppendEncodedField(text.data, text.len, c == 0);
      else
        csv.AppendField(text.data, text.len, false, c == 0, single);
    }
    csv.EndRecord();
    writer->CountRow();
  });
}

void AppendRows(InsertState *state, TupleTableSlot **slots, int count) {
  MemoryContext old_context = MemoryContextSwitchTo(state->row_context);
  // Backup workers pin the settings for their whole transaction; then the
  // per-batch switch (six set_config_option calls) is skipped.
  bool pinned_by_caller = SettingsPinnedByCaller();
  int nest_level = pinned_by_caller ? 0 : PinSettings();
  for (int i = 0; i < count; i++) {
    AppendRow(state, slots[i]);
    // The context keeps its first block, so resetting it reuses memory
    // instead of returning pages to the kernel and faulting them back.
    if (++state->rows_since_reset == 256) {
      MemoryContextReset(state->row_context);
      state->rows_since_reset = 0;
    }
  }
  if (!pinned_by_caller) UnpinSettings(nest_level);
  MemoryContextSwitchTo(old_context);
  if (count > 1 || (state->rows_since_reset & 63) == 0) {
    PartWriter *writer = state->cpp.object->writer.get();
    ReportWriterProgress(writer->rows(), writer->csv().bytes_encoded());
  }
  CHECK_FOR_INTERRUPTS();
}

// `background`: the part's upload may still be under way when this returns
// (part_registry.h, background commits); the registry holds its commit.
void FinishInsertState(InsertState *state, bool background = false) {
  if (!state || !state->cpp.object || !state->cpp.object->writer) return;
  pg::CallCpp([&] {
    InsertCpp *cpp = state->cpp.object;
    std::unique_ptr<PendingCommit> pending;
    PartStats stats = background ? cpp->writer->FinishAndCommitInBackground(&pending)
                                 : cpp->writer->FinishAndCommit();
    cpp->writer.reset();
    if (cpp->fingerprint) stats.fingerprint = cpp->fingerprint->HexDigest();
    // A commit that is already over (a file) reports its outcome here, in
    // the statement.
    if (pending && pending->Done()) {
      pending->Wait();
      pending.reset();
    }
    if (cpp->options.probe)
      SetRecentProbe(stats);
    else
      RegisterWrittenPart(cpp->store, stats, cpp->store->Url(stats.key), std::move(pending));
  });
  state->cpp.Release();
}

void FinishInsert(ResultRelInfo *rinfo) {
  FinishInsertState(static_cast<InsertState *>(rinfo->ri_FdwState));
}

void BeginModify(ModifyTableState *, ResultRelInfo *rinfo, List *, int, int eflags) {
  BeginInsertCommon(rinfo, (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0);
}

TupleTableSlot *ExecInsert(EState *, ResultRelInfo *rinfo, TupleTableSlot *slot, TupleTableSlot *) {
  AppendRows(static_cast<InsertState *>(rinfo->ri_FdwState), &slot, 1);
  return slot;
}

TupleTableSlot **ExecBatchInsert(EState *, ResultRelInfo *rinfo, TupleTableSlot **slots,
                                 TupleTableSlot **, int *num_slots) {
  AppendRows(static_cast<InsertState *>(rinfo->ri_FdwState), slots, *num_slots);
  return slots;
}

int BatchSize(ResultRelInfo *rinfo) {
  auto *state = static_cast<InsertState *>(rinfo->ri_FdwState);
  // As postgres_fdw: no batching with RETURNING or row triggers.
  if (rinfo->ri_projectReturning != nullptr ||
      (rinfo->ri_TrigDesc &&
       (rinfo->ri_TrigDesc->trig_insert_after_row || rinfo->ri_TrigDesc->trig_insert_before_row)))
    return 1;
  return state && state->batch_size > 0 ? state->batch_size : 1000;
}

void EndModify(EState *, ResultRelInfo *rinfo) {
  FinishInsert(rinfo);
}

void BeginInsert(ModifyTableState *, ResultRelInfo *rinfo) {
  BeginInsertCommon(rinfo, false);
}

void EndInsert(EState *, ResultRelInfo *rinfo) {
  FinishInsert(rinfo);
}

// ---------------------------------------------------------------------------
// Direct export (part_receiver.h): the insert path above fed by a query's
// DestReceiver instead of a foreign table's ModifyTable node.
// ---------------------------------------------------------------------------

struct PartReceiver {
  DestReceiver pub;                // first: the executor sees a DestReceiver
  CppOwner<TableOptions> options;  // freed with the receiver's memory context
  InsertState *state;
  Oid relid;
  PartMode mode;
};

void ReceiverStartup(DestReceiver *self, int, TupleDesc desc) {
  auto *receiver = reinterpret_cast<PartReceiver *>(self);
  InsertState *state = BeginInsertState(desc, InvalidOid, receiver->options.object, false);
  receiver->state = state;
  // The executor has the table open and locked by now.
  char *seed = FingerprintSeed(receiver->relid, receiver->options.object->encoding);
  if (!seed) return;  // its CSV is all there is to compare
  state->fingerprint = pg::CallCpp([&] {
    state->cpp.object->fingerprint = std::make_unique<RowFingerprint>(seed);
    return state->cpp.object->fingerprint.get();
  });
  state->fingerprint_relid = receiver->relid;
  state->rows_only = receiver->mode == PartMode::kProbeRows;
}

bool ReceiverSlot(TupleTableSlot *slot, DestReceiver *self) {
  AppendRows(reinterpret_cast<PartReceiver *>(self)->state, &slot, 1);
  return true;
}

void ReceiverShutdown(DestReceiver *self) {
  auto *receiver = reinterpret_cast<PartReceiver *>(self);
  FinishInsertState(receiver->state, BackgroundCommits());
  receiver->state = nullptr;
}

void ReceiverDestroy(DestReceiver *self) {
  auto *receiver = reinterpret_cast<PartReceiver *>(self);
  receiver->options.Release();
  // Not pfree'd: the context still lists the owners' reset callbacks, which
  // live inside the receiver and its state; freed (and reused by the next
  // receiver) they would corrupt that list. The context frees them all.
}

// ---------------------------------------------------------------------------
// EXPLAIN
// ---------------------------------------------------------------------------

void ExplainOptions(const TableOptions &options, ExplainState *es) {
  char *url = pg::CallCpp([&] { return pg::PallocCopy(PrefixUrl(options)); });
  ExplainPropertyText("Location", url, es);
  ExplainPropertyText("Compression", CompressionName(options.compression), es);
}

void ExplainScan(ForeignScanState *node, ExplainState *es) {
  auto *state = static_cast<ScanState *>(node->fdw_state);
  if (state && state->cpp.object) ExplainOptions(state->cpp.object->options, es);
}

void ExplainModify(ModifyTableState *, ResultRelInfo *rinfo, List *, int, ExplainState *es) {
  auto *state = static_cast<InsertState *>(rinfo->ri_FdwState);
  if (state && state->cpp.object) ExplainOptions(state->cpp.object->options, es);
}

}  // namespace
}  // namespace cdw::fdw

namespace cdw::fdw {

DestReceiver *CreatePartReceiver(const char *server_name, const char *table_label, const char *path,
                                 const char *compression, const char *encoding, Oid relid,
                                 PartMode mode) {
  auto *receiver = static_cast<PartReceiver *>(palloc0(sizeof(PartReceiver)));
  receiver->pub.receiveSlot = ReceiverSlot;
  receiver->pub.rStartup = ReceiverStartup;
  receiver->pub.rShutdown = ReceiverShutdown;
  receiver->pub.rDestroy = ReceiverDestroy;
  receiver->pub.mydest = DestNone;
  receiver->relid = relid;
  receiver->mode = mode;
  receiver->options.Attach(pg::CallCpp([&] {
                             auto *options = new TableOptions(LoadExportOptions(
                                 server_name, table_label, path, compression, encoding));
                             options->probe = mode != PartMode::kWrite;
                             return options;
                           }),
                           CurrentMemoryContext);
  return &receiver->pub;
}

}  // namespace cdw::fdw

CDW_SQL_FUNCTION(cdw_backup_fdw_handler) {
  (void)fcinfo;
  using namespace cdw::fdw;
  FdwRoutine *routine = makeNode(FdwRoutine);
  // Planning and scanning.
  routine->GetForeignRelSize = GetRelSize;
  routine->GetForeignPaths = GetPaths;
  routine->GetForeignPlan = GetPlan;
  routine->BeginForeignScan = BeginScan;
  routine->IterateForeignScan = IterateScan;
  routine->ReScanForeignScan = RescanScan;
  routine->EndForeignScan = EndScan;
  // Modifying: INSERT only, one new part per statement.
  routine->IsForeignRelUpdatable = IsUpdatable;
  routine->BeginForeignModify = BeginModify;
  routine->ExecForeignInsert = ExecInsert;
  routine->ExecForeignBatchInsert = ExecBatchInsert;
  routine->GetForeignModifyBatchSize = BatchSize;
  routine->EndForeignModify = EndModify;
  routine->BeginForeignInsert = BeginInsert;
  routine->EndForeignInsert = EndInsert;
  // EXPLAIN.
  routine->ExplainForeignScan = ExplainScan;
  routine->ExplainForeignModify = ExplainModify;
  PG_RETURN_POINTER(routine);
}
