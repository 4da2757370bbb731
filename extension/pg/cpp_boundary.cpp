#include "extension/pg/cpp_boundary.h"

#include <new>

#include "common/error.h"

namespace cdw::pg {

namespace {
char *CopyOrNull(const std::string &s) {
  return s.empty() ? nullptr : pstrdup(s.c_str());
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
    pending->message = pstrdup(e.what());
    pending->detail = CopyOrNull(e.detail());
    pending->hint = CopyOrNull(e.hint());
  } catch (const cdw::Interrupted &) {
    pending->interrupted = true;
  } catch (const std::bad_alloc &) {
    pending->sqlstate = ERRCODE_OUT_OF_MEMORY;
    pending->message = nullptr;
  } catch (const std::exception &e) {
    pending->sqlstate = ERRCODE_INTERNAL_ERROR;
    pending->message = pstrdup(e.what());
  } catch (...) {
    pending->sqlstate = ERRCODE_INTERNAL_ERROR;
    pending->message = pstrdup("unknown C++ exception");
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
  if (pending->sqlstate == ERRCODE_OUT_OF_MEMORY)
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
  ereport(ERROR, (errcode(pending->sqlstate), errmsg_internal("%s", pending->message),
                  pending->detail ? errdetail_internal("%s", pending->detail) : 0,
                  pending->hint ? errhint("%s", pending->hint) : 0));
  pg_unreachable();
}

bool InterruptsPending() {
  return InterruptPending && (QueryCancelPending || ProcDiePending);
}

}  // namespace cdw::pg
