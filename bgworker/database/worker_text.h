// Text that crosses between the encoding of the database a worker exports,
// the job's (the coordinator's, i.e. the home database's: see
// database_job.h) and the target's (UTF-8), set up once per worker.
// Internal to bgworker/database/. Include after postgres.h.
#pragma once

#include "extension/pg/text_encoding.h"

namespace cdw::bgworker::database_worker {

// Usable outside transactions (error paths) once set up.
extern pg::TextConversion g_to_home;       // this database's text -> the job's
extern pg::TextConversion g_from_home;     // the job's text -> this database's
extern pg::TextConversion g_home_to_utf8;  // the job's text -> the target's
extern pg::TextConversion g_to_utf8;       // this database's text -> the target's
extern pg::TextConversion g_from_utf8;     // keys -> this database's text
extern int g_part_encoding;                // of the parts' text (text_encoding.h)

// Inside a transaction, after connecting.
void SetUpConversions();

// This database's text (names, messages) into the job, for the coordinator:
// converted, never an error (a character the home database cannot hold is
// spelled out), clipped on a character boundary.
void CopyForHome(char *dest, size_t size, const char *src);

}  // namespace cdw::bgworker::database_worker
