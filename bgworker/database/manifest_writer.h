// The database manifest, written by the leader once every worker is done.
// Include after postgres.h.
#pragma once

#include <string>

namespace cdw {
class ObjectStore;
}

namespace cdw::bgworker::database_worker {

// The manifest's "encryption" section (JSON) for a run writing to `store`
// with the job's key ring; "" when the target does not encrypt. Incremental
// runs reuse objects only of a base whose section is the same. May throw.
std::string EncryptionSection(ObjectStore *store);

// Writes the manifest of the job's database from the table list (g_tables),
// and removes the parts of tables that did not succeed in every range.
// `schema` is the "schema" object from CaptureSchema() (format 2).
// Inside the snapshot transaction and SPI; ERROR when it cannot be written.
void WriteManifest(const char *schema);

}  // namespace cdw::bgworker::database_worker
