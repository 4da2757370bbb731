#include "schema/schema_json.h"

namespace cdw {

void WriteSchemaObjects(JsonWriter &json, const std::vector<SchemaObject> &objects) {
  json.BeginArray();
  for (const auto &object : objects) {
    json.BeginObject();
    json.Key("id").String(object.id);
    json.Key("section").String(object.section);
    json.Key("kind").String(object.kind);
    json.Key("schema").String(object.schema);
    json.Key("name").String(object.name);
    json.Key("owner").String(object.owner);
    if (!object.table_name.empty()) {
      json.Key("table").BeginObject();
      json.Key("schema").String(object.table_schema);
      json.Key("name").String(object.table_name);
      json.EndObject();
    }
    json.Key("sql").String(object.sql);
    json.Key("deps").BeginArray();
    for (const auto &dep : object.deps) json.String(dep);
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
}

}  // namespace cdw
