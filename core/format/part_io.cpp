#include "format/part_io.h"

#include "common/error.h"
#include "compression/compression.h"
#include "compression/threaded_compressor.h"
#include "storage/file_store.h"

namespace cdw {

std::string NormalizeTablePrefix(const std::string &path) {
  std::string prefix = path;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  CheckRelativeKey(prefix, "path");
  return prefix + "/";
}

PartWriter::PartWriter(ObjectStore *store, const std::string &key, Compression compression,
                       int level)
    : key_(store ? key : std::string()) {
  if (store) {
    // Stored bytes are measured after encryption (when the target encrypts):
    // the manifest's size and SHA-256 cover what is stored.
    object_ = store->CreateStored(key, ObjectKind::kPart);  // part names are unique
    measure_ = std::make_unique<MeasuringSink>(object_.get());
    encryptor_ = store->EncryptTo(measure_.get());
    if (compression == Compression::kNone && !encryptor_) {
      // What is stored is the CSV itself: content_ measures both, one
      // SHA-256 over the bytes instead of two (with an S3 target's payload
      // hash, a third, that was a fifth of a big uncompressed table's CPU).
      measure_.reset();
      compressor_ = MakeCompressor(compression, level, object_.get());
    } else {
      // Compression runs on its own thread, overlapped with scanning.
      compressor_ = MakeThreadedCompressor(compression, level,
                                           encryptor_ ? encryptor_.get() : measure_.get());
    }
  } else {
    compressor_ = std::make_unique<DiscardingSink>();
  }
  content_ = std::make_unique<MeasuringSink>(compressor_.get());
  encoder_ = std::make_unique<CsvEncoder>(content_.get());
}

PartWriter::~PartWriter() {
  if (!committed_ && object_) object_->Abort();
}

PartStats PartWriter::FinishAndCommit() {
  encoder_->Flush();
  content_->Finish();  // finishes the compressor, the measuring sink and the object too
  if (object_) object_->Commit();
  committed_ = true;
  return Stats();
}

PartStats PartWriter::FinishAndCommitInBackground(std::unique_ptr<PendingCommit> *pending) {
  encoder_->Flush();
  content_->Finish();
  if (object_) *pending = object_->CommitInBackground();
  committed_ = true;
  return Stats();
}

PartStats PartWriter::Stats() const {
  PartStats stats;
  stats.key = key_;
  stats.rows = rows_;
  stats.bytes_raw = encoder_->bytes_encoded();
  stats.content_sha256 = content_->HexDigest();
  if (measure_) {
    stats.bytes_stored = measure_->bytes();
    stats.sha256 = measure_->HexDigest();
  } else if (object_) {  // stored as it was made (see the constructor)
    stats.bytes_stored = content_->bytes();
    stats.sha256 = stats.content_sha256;
  }
  return stats;
}

namespace {
bool EndsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

PartReader::PartReader(ObjectStore *store, const std::string &prefix, Compression compression,
                       bool header)
    : store_(store), compression_(compression), header_(header) {
  const std::string suffix = PartSuffix(compression);
  for (auto &object : store->List(prefix)) {
    // Only direct children named part-*: a table's prefix never mixes with
    // another table's deeper prefix or with manifests.
    std::string name = object.key.substr(prefix.size());
    if (name.find('/') != std::string::npos) continue;
    if (name.rfind("part-", 0) != 0 || !EndsWith(name, suffix)) continue;
    // ".csv" is a suffix of nothing else we write, but ".csv.gz" parts must not
    // be read as plain ".csv" parts.
    if (compression == Compression::kNone && (EndsWith(name, ".gz") || EndsWith(name, ".zst")))
      continue;
    parts_.push_back(std::move(object));
  }
}

PartReader::PartReader(ObjectStore *store, const std::vector<std::string> &keys,
                       Compression compression, bool header)
    : store_(store), compression_(compression), header_(header) {
  for (const auto &key : keys) {
    CheckRelativeKey(key, "part key");
    parts_.push_back({key, 0});
  }
}

bool PartReader::OpenNextPart() {
  decoder_.reset();
  source_.reset();
  if (next_part_ == parts_.size()) return false;
  const ObjectInfo &part = parts_[next_part_++];
  source_ = MakeDecompressor(compression_, store_->Open(part.key), store_->Url(part.key));
  decoder_ = std::make_unique<CsvDecoder>(source_.get());
  return true;
}

bool PartReader::NextRecord(std::vector<CsvField> *fields) {
  for (;;) {
    if (!decoder_ && !OpenNextPart()) return false;
    if (decoder_->NextRecord(fields)) {
      if (header_ && decoder_->record_line() == 1) continue;
      return true;
    }
    decoder_.reset();
  }
}

std::string PartReader::Position() const {
  if (!decoder_ || next_part_ == 0) return {};
  return store_->Url(parts_[next_part_ - 1].key) + ", line " +
         std::to_string(decoder_->record_line());
}

}  // namespace cdw
