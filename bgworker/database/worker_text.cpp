// Text between a worker's database, its job and the target (see worker_text.h).
extern "C" {
#include "postgres.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"
}

#include "bgworker/database/worker_state.h"
#include "bgworker/database/worker_text.h"

namespace cdw::bgworker::database_worker {

pg::TextConversion g_to_home;
pg::TextConversion g_from_home;
pg::TextConversion g_home_to_utf8;
pg::TextConversion g_to_utf8;
pg::TextConversion g_from_utf8;
int g_part_encoding = PG_UTF8;

void SetUpConversions() {
  int server = GetDatabaseEncoding();
  g_to_home = pg::ConversionBetween(server, g_job->text_encoding, TopMemoryContext);
  g_from_home = pg::ConversionBetween(g_job->text_encoding, server, TopMemoryContext);
  g_home_to_utf8 = pg::ConversionBetween(g_job->text_encoding, PG_UTF8, TopMemoryContext);
  g_to_utf8 = pg::ConversionBetween(server, PG_UTF8, TopMemoryContext);
  g_from_utf8 = pg::ConversionBetween(PG_UTF8, server, TopMemoryContext);
  g_part_encoding = pg::PartEncoding();
}

void CopyForHome(char *dest, size_t size, const char *src) {
  char *converted = pg::ConvertLossy(g_to_home, src ? src : "");
  strlcpy(dest, converted, size);
  dest[pg_encoding_mbcliplen(g_job->text_encoding, dest, static_cast<int>(strlen(dest)),
                             static_cast<int>(size) - 1)] = '\0';
  pfree(converted);
}

}  // namespace cdw::bgworker::database_worker
