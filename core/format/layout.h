// Where a backup run puts its objects on a target.
//
//   <root>/<YYYYMMDD>/<HHMMSS>Z-run<id>/<database>/<schema>.<table>/part-....csv.gz
//   <root>/<YYYYMMDD>/<HHMMSS>Z-run<id>/<database>/manifest.json
//
// The date level is the original script's layout; the run level keeps two
// runs of one day apart. Identifiers are percent-encoded so any name (spaces,
// quotes, slashes, dots, control characters) gives one safe, reversible path
// component; multibyte UTF-8 is kept as is.
#pragma once

#include <cstdint>
#include <string>

namespace cdw {

// Encodes an identifier as one path component: bytes outside
// [A-Za-z0-9_-] and below 0x80 become %XX (so '.' never appears and can
// separate schema and table); bytes >= 0x80 are kept.
std::string EncodePathComponent(const std::string &identifier);
// Inverse of EncodePathComponent; throws cdw::Error on malformed input.
std::string DecodePathComponent(const std::string &component);

// "<YYYYMMDD>/<HHMMSS>Z-run<id>/" for a run started at `unix_seconds` (UTC).
std::string RunPrefix(int64_t run_id, int64_t unix_seconds);
// "<database>/" relative to the run prefix.
std::string DatabasePrefix(const std::string &database);
// "<schema>.<table>/" relative to the database prefix.
std::string TablePrefix(const std::string &schema, const std::string &table);

constexpr const char *kManifestName = "manifest.json";

// Every finished run also writes a small index object under "_runs/", so
// cdw_backup_list() and a restore on a fresh cluster find runs without
// listing every part on the target: "_runs/20261124T030005Z-run42.json".
constexpr const char *kRunIndexPrefix = "_runs/";
std::string RunIndexKey(const std::string &run_prefix);
// The run id encoded in a run index key or run prefix, or -1.
int64_t RunIdFromKey(const std::string &key);

}  // namespace cdw
