// The C++ / PostgreSQL boundary (after pg_duckdb's cpp_wrapper / PostgresFunctionGuard).
//
// Outward: every function PostgreSQL calls runs its C++ body through
// CallCpp(). A C++ exception is captured into plain palloc'd strings and
// raised with ereport() only after all C++ frames with destructors are gone.
//
// Inward: C++ code that holds destructible objects calls PostgreSQL through
// PgCall(); an ereport(ERROR) inside is caught with PG_TRY, copied, flushed,
// and rethrown as a C++ PgError, so the longjmp never crosses C++ frames.
//
// Include only from .cpp files, after postgres.h.
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

namespace cdw::pg {

// A PostgreSQL error turned into a C++ exception (owns a copied ErrorData
// in the memory context that was current when the error was caught).
class PgError : public std::exception {
 public:
  explicit PgError(ErrorData *data) : data_(data) {}
  const char *what() const noexcept override { return data_->message ? data_->message : "error"; }
  ErrorData *data() const { return data_; }

 private:
  ErrorData *data_;
};

// What a caught C++ exception becomes; only trivially destructible members so
// raising it with a longjmp leaks nothing.
struct PendingError {
  bool set = false;
  bool interrupted = false;
  int sqlstate = 0;
  char *message = nullptr;
  char *detail = nullptr;
  char *hint = nullptr;
  ErrorData *pg_error = nullptr;
};

// Fills `pending` from std::current_exception(). Call only inside catch(...).
void CapturePendingError(PendingError *pending) noexcept;
// Raises the captured error; never returns.
[[noreturn]] void RaisePendingError(const PendingError *pending);

// Runs `body` (which returns T) and converts any C++ exception into a
// PostgreSQL error after leaving the C++ frames.
template <typename Body>
auto CallCpp(Body &&body) -> decltype(body()) {
  PendingError pending;
  if constexpr (std::is_void_v<decltype(body())>) {
    try {
      body();
    } catch (...) {
      CapturePendingError(&pending);
    }
    if (pending.set) RaisePendingError(&pending);
  } else {
    decltype(body()) result{};
    try {
      result = body();
    } catch (...) {
      CapturePendingError(&pending);
    }
    if (pending.set) RaisePendingError(&pending);
    return result;
  }
}

// Runs `body` where an error must not end the caller: cleanup after the real
// work, exit and transaction callbacks (an exception escaping those would be
// std::terminate, a longjmp out of an abort callback worse). A C++ error
// becomes a WARNING "<what>: <message>" with its detail and hint, issued
// after the C++ frames are gone. A PostgreSQL error (from PgCall) or a
// pending interrupt is raised as usual when `raise_pg_errors`; otherwise it
// is reported as a WARNING too (an interrupt stays pending for the next
// CHECK_FOR_INTERRUPTS). Returns whether `body` completed.
void WarnPendingError(const char *what, PendingError *pending, bool raise_pg_errors);

template <typename Body>
bool CallCppOrWarn(const char *what, Body &&body, bool raise_pg_errors = true) {
  PendingError pending;
  try {
    body();
  } catch (...) {
    CapturePendingError(&pending);
  }
  if (!pending.set) return true;
  WarnPendingError(what, &pending, raise_pg_errors);
  return false;
}

// A palloc'd copy of `s` for use inside CallCpp: unlike pstrdup it never
// ereports (which would longjmp over the C++ frames around it) but throws
// std::bad_alloc.
char *PallocCopy(const std::string &s);

// Runs PostgreSQL code `fn` from C++; an ERROR becomes a thrown PgError.
// `fn` itself must not own destructible objects across PostgreSQL calls.
template <typename Fn>
void PgCall(Fn &&fn) {
  MemoryContext context = CurrentMemoryContext;
  ErrorData *volatile error = nullptr;
  PG_TRY();
  { fn(); }
  PG_CATCH();
  {
    MemoryContextSwitchTo(context);
    error = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
  if (error) throw PgError(error);
}

// Interrupt check handed to the core: true when PostgreSQL has a cancel or
// termination pending (reads flags only; safe in C++ frames).
bool InterruptsPending();

}  // namespace cdw::pg

// Declares the V1 info record for an SQL-callable function; the definition
// that follows must be `extern "C" PGDLLEXPORT Datum name(PG_FUNCTION_ARGS)`.
#define CDW_SQL_FUNCTION(name)              \
  extern "C" {                              \
  PGDLLEXPORT Datum name(PG_FUNCTION_ARGS); \
  PG_FUNCTION_INFO_V1(name);                \
  }                                         \
  extern "C" Datum name(PG_FUNCTION_ARGS)
