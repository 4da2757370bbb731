// Small helpers shared by the files of bgworker/run/ (see run_context.h).
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

#include "bgworker/run/run_context.h"
#include "extension/pg/search_path.h"

namespace cdw::bgworker::coordinator {

void BeginWork() {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  (void)pg::PinSearchPath();  // until the transaction ends
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
}

void EndWork() {
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
}

Datum Text(const char *s) {
  return CStringGetTextDatum(s ? s : "");
}

void Broadcast(Run *run) {
  ConditionVariableBroadcast(&Shared()->runs[run->slot].changed);
}

bool CancelRequested(Run *run) {
  if (Shared()->runs[run->slot].cancel_requested) run->cancelled = true;
  return run->cancelled;
}

char *Url(Run *run, const char *key) {
  const char *root = run->location;
  size_t len = strlen(root);
  return psprintf("%s%s%s", root, (len > 0 && root[len - 1] == '/') ? "" : "/", key);
}

}  // namespace cdw::bgworker::coordinator
