#include "extension/pg/cpp_boundary.h"

#include <new>

#include "common/error.h"

namespace cdw::pg {

namespace {
// Copies without ever raising: inside a catch handler a longjmp would leave
// the exception object behind. NULL when out of memory.
char *CopyNoThrow(const char *s, size_t len) {
  if (len >= MaxAllocHugeSize) return nullptr;
  auto *copy = static_cast<char *>(MemoryContextAllocExtended(CurrentMemoryContext, len + 1,
                                                              MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE));
  if (copy) {
    memcpy(copy, s, len);
    copy[len] = '\0';
  }
  return copy;
}

char *CopyOrNull(const std::string &s) {
  return s.empty() ? nullptr : CopyNoThrow(s.data(), s.size());
}

char *CopyMessage(const char *s) {
  return CopyNoThrow(s, strlen(s));
}

int SqlstateFromString(const std::string &code) {
  if (code.size() != 5) return ERRCODE_INTERNAL_ERROR;
  return MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4]);
}
}  // namespace

void CapturePendingError(PendingError *pending) noexcept {
  pending->set = true;
  try {
    throw;
  } catch (const PgError &e) {
    pending->pg_error = e.data();
  } catch (const cdw::Error &e) {
    pending->sqlstate = SqlstateFromString(e.sqlstate());
    pending->message = CopyMessage(e.what());
    pending->detail = CopyOrNull(e.detail());
    pending->hint = CopyOrNull(e.hint());
  } catch (const cdw::Interrupted &) {
    pending->interrupted = true;
  } catch (const std::bad_alloc &) {
    pending->sqlstate = ERRCODE_OUT_OF_MEMORY;
    pending->message = nullptr;
  } catch (const std::exception &e) {
    pending->sqlstate = ERRCODE_INTERNAL_ERROR;
    pending->message = CopyMessage(e.what());
  } catch (...) {
    pending->sqlstate = ERRCODE_INTERNAL_ERROR;
    pending->message = CopyMessage("unknown C++ exception");
  }
}

void RaisePendingError(const PendingError *pending) {
  if (pending->pg_error) ReThrowError(pending->pg_error);
  if (pending->interrupted) {
    CHECK_FOR_INTERRUPTS();
    // The flag was cleared meanwhile (e.g. by another check); report a cancel.
    ereport(ERROR,
            (errcode(ERRCODE_QUERY_CANCELED), errmsg("canceling statement due to user request")));
  }
  if (pending->sqlstate == ERRCODE_OUT_OF_MEMORY || !pending->message)
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
  ereport(ERROR, (errcode(pending->sqlstate), errmsg_internal("%s", pending->message),
                  pending->detail ? errdetail_internal("%s", pending->detail) : 0,
                  pending->hint ? errhint("%s", pending->hint) : 0));
  pg_unreachable();
}

void WarnPendingError(const char *what, PendingError *pending, bool raise_pg_errors) {
  if (pending->pg_error) {
    if (raise_pg_errors) ReThrowError(pending->pg_error);
    ErrorData *error = pending->pg_error;
    ereport(WARNING, (errcode(error->sqlerrcode), errmsg("%s: %s", what, error->message),
                      error->detail ? errdetail_internal("%s", error->detail) : 0,
                      error->hint ? errhint("%s", error->hint) : 0));
    FreeErrorData(error);
    return;
  }
  if (pending->interrupted) {
    if (raise_pg_errors) RaisePendingError(pending);
    return;  // the cancel or termination stays pending
  }
  ereport(WARNING, (errcode(pending->sqlstate),
                    errmsg("%s: %s", what, pending->message ? pending->message : "out of memory"),
                    pending->detail ? errdetail_internal("%s", pending->detail) : 0,
                    pending->hint ? errhint("%s", pending->hint) : 0));
}

char *PallocCopy(const std::string &s) {
  char *copy = CopyNoThrow(s.data(), s.size());
  if (!copy) throw std::bad_alloc();
  return copy;
}

bool InterruptsPending() {
  return InterruptPending && (QueryCancelPending || ProcDiePending);
}

}  // namespace cdw::pg
