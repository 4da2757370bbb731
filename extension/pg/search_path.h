// search_path safety (STYLE.md "Search-path safety"): every SQL statement
// cdw_backup issues runs with search_path = pg_catalog, pg_temp, so an
// object of the caller's (or of a database owner's) in another schema can
// never be picked by name or by a better argument-type match. The pin is a
// GUC nest level, as PostgreSQL's own SECURITY DEFINER handling and pg_cron
// do it: an ERROR before UnpinSearchPath() restores the caller's value when
// the (sub)transaction aborts, and a pin left in place ends with the
// transaction.
//
// Where to pin: at the top of every SQL-callable function of ours that runs
// SQL or resolves names, right after every StartTransactionCommand() of a
// background worker, and (done for you) around every statement control::SpiRun
// issues and every span between BecomeExtensionOwner()/RestoreUser().
// Pinning does not replace qualifying names: write pg_catalog.fn(),
// OPERATOR(pg_catalog.=) and ::pg_catalog.type in every SQL string as well.
// Include only from .cpp files, after postgres.h.
#pragma once

namespace cdw::pg {

// The value every statement of ours runs with.
inline constexpr char kPinnedSearchPath[] = "pg_catalog, pg_temp";

// Pins search_path to kPinnedSearchPath; returns the nest level to hand to
// UnpinSearchPath(). Errors if the value cannot be set.
int PinSearchPath();

// Restores the search_path in force before PinSearchPath() returned
// `nest_level` (and any setting changed after it).
void UnpinSearchPath(int nest_level);

// True when search_path is kPinnedSearchPath right now.
bool SearchPathPinned();

}  // namespace cdw::pg
