#include "manifest/verify.h"

#include <map>
#include <set>

#include "common/error.h"
#include "common/sha256.h"
#include "format/csv.h"

namespace cdw {

namespace {

// Hashes and counts the stored bytes while passing them on to the
// decompressor, so each object is read once.
class HashingSource : public ByteSource {
 public:
  explicit HashingSource(std::unique_ptr<ByteSource> upstream) : upstream_(std::move(upstream)) {}
  size_t Read(char *buffer, size_t capacity) override {
    size_t n = upstream_->Read(buffer, capacity);
    hash_->Update(buffer, n);
    *bytes_ += n;
    return n;
  }
  Sha256 *hash_ = nullptr;
  uint64_t *bytes_ = nullptr;

 private:
  std::unique_ptr<ByteSource> upstream_;
};

}  // namespace

std::vector<VerifyProblem> VerifyTable(ObjectStore *store, const std::string &table_prefix,
                                       const std::vector<ManifestObject> &objects,
                                       Compression compression, int64_t expected_rows) {
  std::vector<VerifyProblem> problems;
  std::set<std::string> present;
  for (const auto &info : store->List(table_prefix)) {
    std::string name = info.key.substr(table_prefix.size());
    if (name.find('/') == std::string::npos) present.insert(name);
  }
  // Objects of earlier runs that references name, by directory (listed
  // once each).
  std::map<std::string, std::set<std::string>> referenced_dirs;
  std::set<std::string> listed;
  int64_t total_rows = 0;
  bool rows_known = true;
  for (const auto &object : objects) {
    bool reference = !object.source.empty();
    std::string key = reference ? object.source : table_prefix + object.key;
    std::string url = store->Url(key);
    std::string writer =
        reference ? " (written by run " + std::to_string(object.source_run) + ")" : "";
    bool found = false;
    if (reference) {
      std::string dir = key.substr(0, key.rfind('/') + 1);
      auto it = referenced_dirs.find(dir);
      if (it == referenced_dirs.end()) {
        std::set<std::string> names;
        for (const auto &info : store->List(dir)) names.insert(info.key);
        it = referenced_dirs.emplace(dir, std::move(names)).first;
      }
      found = it->second.count(key) > 0;
    } else {
      listed.insert(object.key);
      found = present.count(object.key) > 0;
    }
    if (!found) {
      problems.push_back(
          {"missing_object", "Object " + url + writer + " listed in the manifest is missing."});
      rows_known = false;
      continue;
    }
    url += writer;
    Sha256 hash;
    uint64_t bytes = 0;
    int64_t rows = 0;
    // The stored bytes are hashed; decryption (when the target encrypts)
    // and decompression follow.
    auto hashing_owned = std::make_unique<HashingSource>(store->OpenStored(key));
    HashingSource *hashing = hashing_owned.get();
    hashing->hash_ = &hash;
    hashing->bytes_ = &bytes;
    auto decompressed = MakeDecompressor(
        compression, store->DecryptFrom(std::move(hashing_owned), table_prefix + object.key), url);
    bool corrupt = false;
    try {
      CsvDecoder decoder(decompressed.get());
      std::vector<CsvField> fields;
      while (decoder.NextRecord(&fields)) rows++;
    } catch (const Interrupted &) {
      throw;
    } catch (const Error &e) {
      if (e.sqlstate() == sqlstate::kConnectionFailure) throw;
      problems.push_back({e.sqlstate() == "28000" ? "wrong_key" : "corrupt_data",
                          std::string(e.what()) + (e.detail().empty() ? "" : ": ") + e.detail()});
      corrupt = true;
      rows_known = false;
      // Read the rest of the stored bytes so size and checksum are reported too.
      std::vector<char> rest(1 << 16);
      while (hashing->Read(rest.data(), rest.size()) > 0) {
      }
    }
    std::string digest = hash.HexDigest();
    if (bytes != object.size)
      problems.push_back({"size_mismatch", "Object " + url + " has " + std::to_string(bytes) +
                                               " bytes; the manifest says " +
                                               std::to_string(object.size) + "."});
    if (digest != object.sha256)
      problems.push_back({"checksum_mismatch", "Object " + url + " has SHA-256 " + digest +
                                                   "; the manifest says " + object.sha256 + "."});
    if (!corrupt && object.rows >= 0 && rows != object.rows)
      problems.push_back({"row_count_mismatch", "Object " + url + " holds " + std::to_string(rows) +
                                                    " rows; the manifest says " +
                                                    std::to_string(object.rows) + "."});
    if (!corrupt) total_rows += rows;
  }
  if (rows_known && total_rows != expected_rows)
    problems.push_back({"row_count_mismatch", "The objects hold " + std::to_string(total_rows) +
                                                  " rows; the manifest says the table has " +
                                                  std::to_string(expected_rows) + "."});
  for (const auto &name : present)
    if (!listed.count(name) && name.rfind("part-", 0) == 0)
      problems.push_back({"unexpected_object", "Object " + store->Url(table_prefix + name) +
                                                   " is not listed in the manifest."});
  return problems;
}

}  // namespace cdw
