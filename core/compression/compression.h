// Compression of backup objects: gzip (default), zstd, or none.
//
// gzip output is a sequence of independent gzip members (one per input block,
// compressed with libdeflate), which is still one valid .gz file for gzip -d,
// zcat and COPY FROM PROGRAM, and lets blocks be compressed independently.
// zstd output is a standard zstd stream (zstd -d reads it).
#pragma once

#include <memory>
#include <string>

#include "common/byte_stream.h"

namespace cdw {

enum class Compression { kNone, kGzip, kZstd };

// "gzip" / "zstd" / "none"; throws cdw::Error (22023) otherwise.
Compression ParseCompression(const std::string &name);
const char *CompressionName(Compression compression);
// File-name suffix of a part: ".csv.gz", ".csv.zst", ".csv".
const char *PartSuffix(Compression compression);
// Default level: libdeflate 5 for gzip: within about 2% of zlib -6's size
// (smaller on log-like rows, a little larger on prose) at ~2.7x zlib's speed
// and 1.3x libdeflate 6's, so a backup is no larger than pg_dump -Z6's yet
// twice as fast; zstd 1.
int DefaultCompressionLevel(Compression compression);
// Throws cdw::Error when `level` is out of range for the algorithm.
void CheckCompressionLevel(Compression compression, int level);

// A ByteSink that compresses into `downstream` (not owned). Finish() writes
// the trailer and finishes `downstream` too.
std::unique_ptr<ByteSink> MakeCompressor(Compression compression, int level, ByteSink *downstream);

// A ByteSource that decompresses `upstream`. Truncated or corrupt input is a
// cdw::Error (XX001) naming `object_name`.
std::unique_ptr<ByteSource> MakeDecompressor(Compression compression,
                                             std::unique_ptr<ByteSource> upstream,
                                             const std::string &object_name);

}  // namespace cdw
