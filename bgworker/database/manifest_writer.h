// The database manifest, written by the leader once every worker is done.
// Include after postgres.h.
#pragma once

namespace cdw::bgworker::database_worker {

// Writes the manifest of the job's database from the table list (g_tables),
// and removes the parts of tables that did not succeed in every range.
// `schema` is the "schema" object from CaptureSchema() (format 2).
// Inside the snapshot transaction and SPI; ERROR when it cannot be written.
void WriteManifest(const char *schema);

}  // namespace cdw::bgworker::database_worker
