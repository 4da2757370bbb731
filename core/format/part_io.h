// Writing and reading the part objects of one external table.
//
// A table's data lives under a prefix as parts named
// part-<unique>.csv[.gz|.zst]. PartWriter chains CSV encoder -> compressor ->
// [encryption, when the store encrypts] -> measuring sink -> object writer; PartReader walks every
// complete part under a prefix in key order and decodes records.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "compression/compression.h"
#include "format/csv.h"
#include "storage/object_store.h"

namespace cdw {

struct PartStats {
  std::string key;
  uint64_t rows = 0;
  uint64_t bytes_raw = 0;      // CSV bytes
  uint64_t bytes_stored = 0;   // bytes of the stored object
  std::string sha256;          // of the stored object
  std::string content_sha256;  // of the CSV bytes (before compression)
  // Of the rows the part was made from (format/row_fingerprint.h); "" when
  // the table has none. Set by the FDW's direct export.
  std::string fingerprint;
};

// Normalizes a table path option to a directory prefix ending in '/'.
// Throws cdw::Error if it is absolute or contains "." / ".." components.
std::string NormalizeTablePrefix(const std::string &path);

class PartWriter {
 public:
  // With a null `store` the writer only probes: it hashes the CSV and
  // writes nothing (no compression either); FinishAndCommit() then returns
  // the CSV's rows, bytes and content_sha256, with no key and nothing stored.
  PartWriter(ObjectStore *store, const std::string &key, Compression compression, int level);
  ~PartWriter();

  CsvEncoder &csv() { return *encoder_; }
  void CountRow() { rows_++; }

  // Flushes and finishes the stream and commits the object. Returns what was
  // written. After an exception the object is aborted by the destructor.
  PartStats FinishAndCommit();
  // FinishAndCommit() whose commit may still be under way on the store's
  // thread (ObjectWriter::CommitInBackground): the object is visible once
  // (*pending)->Wait() returned.
  PartStats FinishAndCommitInBackground(std::unique_ptr<PendingCommit> *pending);
  const std::string &key() const { return key_; }
  uint64_t rows() const { return rows_; }

 private:
  std::string key_;
  std::unique_ptr<ObjectWriter> object_;
  std::unique_ptr<MeasuringSink> measure_;
  std::unique_ptr<ByteSink> encryptor_;  // null unless the store encrypts
  std::unique_ptr<ByteSink> compressor_;
  std::unique_ptr<MeasuringSink> content_;  // hashes the CSV on its way to compressor_
  std::unique_ptr<CsvEncoder> encoder_;
  uint64_t rows_ = 0;
  bool committed_ = false;

  PartStats Stats() const;
};

class PartReader {
 public:
  // Lists the parts under `prefix` whose names carry the compression's suffix.
  PartReader(ObjectStore *store, const std::string &prefix, Compression compression, bool header);
  // Reads exactly `keys` (relative to the store root), in order: the
  // objects a manifest lists, its references to earlier runs included.
  PartReader(ObjectStore *store, const std::vector<std::string> &keys, Compression compression,
             bool header);

  // Next record across all parts; false at the end of the last part.
  bool NextRecord(std::vector<CsvField> *fields);
  // "<url of part>, line N" for error context.
  std::string Position() const;
  const std::vector<ObjectInfo> &parts() const { return parts_; }

 private:
  bool OpenNextPart();

  ObjectStore *store_;
  Compression compression_;
  bool header_;
  std::vector<ObjectInfo> parts_;
  size_t next_part_ = 0;
  std::unique_ptr<ByteSource> source_;
  std::unique_ptr<CsvDecoder> decoder_;
};

}  // namespace cdw
