// Verification of a backed-up table against its manifest: every object is
// re-read (streaming, bounded memory), its size and SHA-256 compared with the
// manifest, decompressed and parsed as CSV, and the records counted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compression/compression.h"
#include "manifest/manifest.h"
#include "storage/object_store.h"

namespace cdw {

struct VerifyProblem {
  std::string kind;    // missing_object, size_mismatch, checksum_mismatch, corrupt_data,
                       // row_count_mismatch, unexpected_object
  std::string detail;  // full sentence(s)
};

// Checks one table. `table_prefix` is the key of the table's directory on
// the store (ends in '/'); `expected_rows` is the manifest's row count. A
// reference (an object with a source) is checked where it is, and its
// problems name the run that wrote it.
// Never throws for a problem with the data; throws cdw::Error only when the
// store itself cannot be reached.
std::vector<VerifyProblem> VerifyTable(ObjectStore *store, const std::string &table_prefix,
                                       const std::vector<ManifestObject> &objects,
                                       Compression compression, int64_t expected_rows);

}  // namespace cdw
