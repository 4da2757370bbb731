#include "manifest/manifest.h"

#include <algorithm>

#include "common/error.h"
#include "manifest/json_value.h"
#include "storage/file_store.h"
#include "manifest/json_writer.h"

namespace cdw {

namespace {

constexpr const char *kNotUtf8 = "22021";  // character_not_in_repertoire

// A JsonWriter that refuses strings that are not UTF-8: a manifest must be
// valid JSON whatever the database's encoding was.
class Writer {
 public:
  Writer &Key(const char *key) {
    json_.Key(key);
    return *this;
  }
  void String(const std::string &value, const char *what) {
    if (!IsValidUtf8(value))
      throw Error(kNotUtf8, std::string("the manifest's ") + what + " is not valid UTF-8",
                  "Everything cdw_backup writes to a target is UTF-8.",
                  "Names must be converted to UTF-8 before they are written.");
    json_.String(value);
  }
  void Int(int64_t value) { json_.Int(value); }
  void Bool(bool value) { json_.Bool(value); }
  void Raw(const std::string &value) { json_.Raw(value); }
  void Extra(const JsonSections &extra) {
    for (const auto &[key, raw] : extra) {
      json_.Key(key);
      json_.Raw(raw);
    }
  }
  JsonWriter &json() { return json_; }

 private:
  JsonWriter json_;
};

// Reads the members of an object: known ones through Take*, the rest (kept
// raw by Extra) afterwards.
class Reader {
 public:
  Reader(const JsonValue &object, const std::string &source, std::string what)
      : object_(object), source_(source), what_(std::move(what)) {
    if (object.type() != JsonValue::Type::kObject)
      throw Error("22P02", what_ + " is not a JSON object");
  }
  const JsonValue *Get(const char *key) {
    taken_.push_back(key);
    const JsonValue *value = object_.Find(key);
    return value && !value->is_null() ? value : nullptr;
  }
  std::string Str(const char *key) {
    const JsonValue *v = Get(key);
    return v ? v->AsString(Name(key)) : std::string();
  }
  int64_t Int(const char *key, int64_t fallback = 0) {
    const JsonValue *v = Get(key);
    return v ? v->AsInt(Name(key)) : fallback;
  }
  bool Bool(const char *key) {
    const JsonValue *v = Get(key);
    return v && v->AsBool(Name(key));
  }
  const std::vector<JsonValue> &Array(const char *key) {
    static const std::vector<JsonValue> kEmpty;
    const JsonValue *v = Get(key);
    return v ? v->AsArray(Name(key)) : kEmpty;
  }
  std::string Name(const char *key) const { return what_ + "." + key; }
  JsonSections Extra() const {
    JsonSections extra;
    for (const auto &[key, value] : object_.members()) {
      bool known = false;
      for (const auto &taken : taken_) known |= taken == key;
      if (!known)
        extra.emplace_back(
            key, source_.substr(value.source_begin(), value.source_end() - value.source_begin()));
    }
    return extra;
  }

 private:
  const JsonValue &object_;
  const std::string &source_;
  std::string what_;
  std::vector<std::string> taken_;
};

void CheckVersion(int64_t version, const char *what) {
  if (version < 1 || version > kManifestFormatVersion)
    throw Error("0A000", std::string(what) + " has format version " + std::to_string(version),
                "This version of cdw_backup reads format version " +
                    std::to_string(kManifestFormatVersion) + ".",
                "Use a newer cdw_backup to read this backup.");
}

bool AllDigits(const std::string &s, size_t from, size_t to) {
  if (from >= to || to > s.size()) return false;
  for (size_t i = from; i < to; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// A reference names an earlier run and an object of that run's prefix.
void CheckReference(const ManifestObject &o, int64_t run_id) {
  std::string problem;
  if (o.source_run <= 0 || (run_id > 0 && o.source_run >= run_id))
    problem = "names run " + std::to_string(o.source_run) + ", which is not an earlier run";
  else if (RunOfKey(o.source) != o.source_run)
    problem = "is not a key of run " + std::to_string(o.source_run);
  else if (o.source.back() == '/')
    problem = "is not an object's key";
  else {
    try {
      CheckRelativeKey(o.source, "manifest object.source");
    } catch (const Error &e) {
      problem = "is not a relative key";
    }
  }
  if (!problem.empty())
    throw Error("22P02", "manifest object.source \"" + o.source + "\" " + problem,
                "A reference points at an object an earlier run of the same target wrote.");
}

}  // namespace

int64_t RunOfKey(const std::string &key) {
  // "<YYYYMMDD>/<HHMMSS>Z-run<id>/"
  if (key.size() < 20 || !AllDigits(key, 0, 8) || key[8] != '/' || !AllDigits(key, 9, 15) ||
      key.compare(15, 5, "Z-run") != 0)
    return -1;
  size_t end = key.find('/', 20);
  if (end == std::string::npos || end == 20 || end - 20 > 18 || !AllDigits(key, 20, end)) return -1;
  return std::stoll(key.substr(20, end - 20));
}

std::string ObjectKey(const std::string &database_path, const std::string &table_path,
                      const ManifestObject &object) {
  return object.source.empty() ? database_path + table_path + object.key : object.source;
}

std::vector<std::string> ManifestObjectKeys(const DatabaseManifest &manifest) {
  std::vector<std::string> keys;
  for (const auto &t : manifest.tables)
    for (const auto &o : t.objects) keys.push_back(ObjectKey(manifest.path, t.path, o));
  return keys;
}

std::string SerializeManifest(const DatabaseManifest &m) {
  bool references = false;
  for (const auto &t : m.tables)
    for (const auto &o : t.objects) references |= !o.source.empty();
  Writer w;
  w.json().BeginObject();
  w.Key("format_version")
      .Int(references ? kManifestFormatVersion
                      : std::min(m.format_version, kManifestFormatWithoutReferences));
  w.Key("tool").String(m.tool, "tool");
  w.Key("run_id").Int(m.run_id);
  w.Key("database").String(m.database, "database name");
  w.Key("created_at").String(m.created_at, "created_at");
  w.Key("server_version").String(m.server_version, "server_version");
  w.Key("encoding").String(m.encoding, "encoding");
  if (!m.source_encoding.empty())
    w.Key("source_encoding").String(m.source_encoding, "source_encoding");
  w.Key("compression").String(m.compression, "compression");
  w.Key("format").String(m.format, "format");
  w.Key("path").String(m.path, "path");
  w.Key("tables").json().BeginArray();
  for (const auto &t : m.tables) {
    w.json().BeginObject();
    w.Key("schema").String(t.schema, "schema name");
    w.Key("name").String(t.name, "table name");
    w.Key("status").String(t.status, "table status");
    w.Key("path").String(t.path, "table path");
    w.Key("rows").Int(t.rows);
    w.Key("bytes_raw").Int(t.bytes_raw);
    w.Key("bytes_stored").Int(t.bytes_stored);
    w.Key("columns").json().BeginArray();
    for (const auto &c : t.columns) {
      w.json().BeginObject();
      w.Key("name").String(c.name, "column name");
      w.Key("type").String(c.type, "column type");
      w.Key("not_null").Bool(c.not_null);
      w.json().EndObject();
    }
    w.json().EndArray();
    w.Key("create_table").String(t.create_table, "create_table");
    w.Key("objects").json().BeginArray();
    for (const auto &o : t.objects) {
      w.json().BeginObject();
      w.Key("key").String(o.key, "object key");
      w.Key("rows").Int(o.rows);
      w.Key("size").Int(static_cast<int64_t>(o.size));
      w.Key("sha256").String(o.sha256, "object sha256");
      if (!o.content_sha256.empty())
        w.Key("content_sha256").String(o.content_sha256, "object content_sha256");
      if (o.bytes_raw >= 0) w.Key("bytes_raw").Int(o.bytes_raw);
      if (!o.fingerprint.empty()) w.Key("fingerprint").String(o.fingerprint, "object fingerprint");
      if (!o.source.empty()) {
        CheckReference(o, m.run_id);
        w.Key("source").String(o.source, "object source");
        w.Key("source_run").Int(o.source_run);
      }
      w.json().EndObject();
    }
    w.json().EndArray();
    if (!t.sqlstate.empty() || !t.error.empty()) {
      w.Key("sqlstate").String(t.sqlstate, "table sqlstate");
      w.Key("error").String(t.error, "table error");
    }
    w.Extra(t.extra);
    w.json().EndObject();
  }
  w.json().EndArray();
  w.Extra(m.extra);
  w.json().EndObject();
  return w.json().str();
}

DatabaseManifest ParseManifest(const std::string &json) {
  JsonValue root = ParseJson(json);
  Reader r(root, json, "manifest");
  DatabaseManifest m;
  m.format_version = static_cast<int>(r.Int("format_version", -1));
  CheckVersion(m.format_version, "the manifest");
  m.tool = r.Str("tool");
  m.run_id = r.Int("run_id");
  m.database = r.Str("database");
  m.created_at = r.Str("created_at");
  m.server_version = r.Str("server_version");
  m.encoding = r.Str("encoding");
  m.source_encoding = r.Str("source_encoding");
  m.compression = r.Str("compression");
  m.format = r.Str("format");
  m.path = r.Str("path");
  for (const auto &tv : r.Array("tables")) {
    Reader tr(tv, json, "manifest table");
    ManifestTable t;
    t.schema = tr.Str("schema");
    t.name = tr.Str("name");
    t.status = tr.Str("status");
    t.path = tr.Str("path");
    t.rows = tr.Int("rows");
    t.bytes_raw = tr.Int("bytes_raw");
    t.bytes_stored = tr.Int("bytes_stored");
    for (const auto &cv : tr.Array("columns")) {
      Reader cr(cv, json, "manifest column");
      t.columns.push_back({cr.Str("name"), cr.Str("type"), cr.Bool("not_null")});
    }
    t.create_table = tr.Str("create_table");
    for (const auto &ov : tr.Array("objects")) {
      Reader orr(ov, json, "manifest object");
      ManifestObject o;
      o.key = orr.Str("key");
      o.rows = orr.Int("rows", -1);
      int64_t size = orr.Int("size");
      if (size < 0) throw Error("22P02", "manifest object.size is negative");
      o.size = static_cast<uint64_t>(size);
      o.sha256 = orr.Str("sha256");
      o.content_sha256 = orr.Str("content_sha256");
      o.bytes_raw = orr.Int("bytes_raw", -1);
      o.fingerprint = orr.Str("fingerprint");
      o.source = orr.Str("source");
      o.source_run = orr.Int("source_run");
      if (!o.source.empty() || o.source_run != 0) {
        if (m.format_version < 3)
          throw Error("22P02", "manifest object.source in a manifest of format version " +
                                   std::to_string(m.format_version));
        CheckReference(o, m.run_id);
      }
      t.objects.push_back(std::move(o));
    }
    t.sqlstate = tr.Str("sqlstate");
    t.error = tr.Str("error");
    t.extra = tr.Extra();
    m.tables.push_back(std::move(t));
  }
  m.extra = r.Extra();
  return m;
}

std::string SerializeRunIndex(const RunIndex &index) {
  Writer w;
  w.json().BeginObject();
  w.Key("format_version").Int(index.format_version);
  w.Key("run_id").Int(index.run_id);
  w.Key("path").String(index.path, "run path");
  if (index.has_summary) {
    w.Key("status").String(index.status, "run status");
    w.Key("started_at").String(index.started_at, "started_at");
    w.Key("finished_at").String(index.finished_at, "finished_at");
    w.Key("compression").String(index.compression, "compression");
    if (!index.schedule.empty()) w.Key("schedule").String(index.schedule, "schedule name");
  }
  w.Key("databases").json().BeginArray();
  for (const auto &d : index.databases) {
    w.json().BeginObject();
    w.Key("name").String(d.name, "database name");
    w.Key("path").String(d.path, "database path");
    w.Key("status").String(d.status, "database status");
    w.Key("tables").Int(d.tables);
    w.Key("rows").Int(d.rows);
    w.Key("bytes_stored").Int(d.bytes_stored);
    w.Key("manifest").Bool(d.manifest);
    w.Extra(d.extra);
    w.json().EndObject();
  }
  w.json().EndArray();
  w.Extra(index.extra);
  w.json().EndObject();
  return w.json().str();
}

RunIndex ParseRunIndex(const std::string &json) {
  JsonValue root = ParseJson(json);
  Reader r(root, json, "run index");
  RunIndex index;
  index.format_version = static_cast<int>(r.Int("format_version", -1));
  CheckVersion(index.format_version, "the run index");
  index.run_id = r.Int("run_id");
  index.path = r.Str("path");
  index.has_summary = root.Find("status") != nullptr;
  index.status = r.Str("status");
  index.started_at = r.Str("started_at");
  index.finished_at = r.Str("finished_at");
  index.compression = r.Str("compression");
  index.schedule = r.Str("schedule");
  for (const auto &dv : r.Array("databases")) {
    Reader dr(dv, json, "run index database");
    RunIndexDatabase d;
    d.name = dr.Str("name");
    d.path = dr.Str("path");
    d.status = dr.Str("status");
    d.tables = dr.Int("tables");
    d.rows = dr.Int("rows");
    d.bytes_stored = dr.Int("bytes_stored");
    d.manifest = dr.Bool("manifest");
    d.extra = dr.Extra();
    index.databases.push_back(std::move(d));
  }
  index.extra = r.Extra();
  return index;
}

}  // namespace cdw
