// Writes the sorted schema entries as the manifest's "objects" array (the
// format is described in schema_toc.h).
#pragma once

#include <vector>

#include "manifest/json_writer.h"
#include "schema/schema_toc.h"

namespace cdw {

void WriteSchemaObjects(JsonWriter &json, const std::vector<SchemaObject> &objects);

}  // namespace cdw
