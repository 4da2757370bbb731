#include "compression/compression.h"

#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#include <vector>

#include "common/error.h"

namespace cdw {

namespace {

constexpr size_t kGzipMemberInput = 1 << 20;  // input bytes per gzip member

class PassThrough : public ByteSink {
 public:
  explicit PassThrough(ByteSink *downstream) : downstream_(downstream) {}
  void Write(const char *data, size_t len) override { downstream_->Write(data, len); }
  void Finish() override { downstream_->Finish(); }

 private:
  ByteSink *downstream_;
};

class GzipCompressor : public ByteSink {
 public:
  GzipCompressor(int level, ByteSink *downstream)
      : compressor_(libdeflate_alloc_compressor(level)), downstream_(downstream) {
    if (!compressor_) throw std::bad_alloc();
    input_.reserve(kGzipMemberInput);
    output_.resize(libdeflate_gzip_compress_bound(compressor_, kGzipMemberInput));
  }
  ~GzipCompressor() override { libdeflate_free_compressor(compressor_); }

  void Write(const char *data, size_t len) override {
    // Whole members straight from the caller's buffer (the threaded
    // compressor hands over exactly one member's worth): no copy.
    while (input_.empty() && len >= kGzipMemberInput) {
      CompressMember(data, kGzipMemberInput);
      data += kGzipMemberInput;
      len -= kGzipMemberInput;
    }
    while (len > 0) {
      size_t take = std::min(len, kGzipMemberInput - input_.size());
      input_.insert(input_.end(), data, data + take);
      data += take;
      len -= take;
      if (input_.size() == kGzipMemberInput) CompressBuffered();
    }
  }
  void Finish() override {
    // An empty object is still a valid gzip file: one empty member.
    if (!input_.empty() || !wrote_member_) CompressBuffered();
    downstream_->Finish();
  }

 private:
  void CompressBuffered() {
    CompressMember(input_.data(), input_.size());
    input_.clear();
  }
  void CompressMember(const char *data, size_t len) {
    size_t n = libdeflate_gzip_compress(compressor_, data, len, output_.data(), output_.size());
    if (n == 0) throw Error(sqlstate::kInternalError, "gzip compression failed");
    downstream_->Write(output_.data(), n);
    wrote_member_ = true;
  }

  libdeflate_compressor *compressor_;
  ByteSink *downstream_;
  std::vector<char> input_;
  std::vector<char> output_;
  bool wrote_member_ = false;
};

class ZstdCompressor : public ByteSink {
 public:
  ZstdCompressor(int level, ByteSink *downstream)
      : context_(ZSTD_createCCtx()), downstream_(downstream), output_(ZSTD_CStreamOutSize()) {
    if (!context_) throw std::bad_alloc();
    ZSTD_CCtx_setParameter(context_, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(context_, ZSTD_c_checksumFlag, 1);
  }
  ~ZstdCompressor() override { ZSTD_freeCCtx(context_); }

  void Write(const char *data, size_t len) override {
    ZSTD_inBuffer in{data, len, 0};
    while (in.pos < in.size) Drain(&in, ZSTD_e_continue);
  }
  void Finish() override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (Drain(&in, ZSTD_e_end) != 0) {
    }
    downstream_->Finish();
  }

 private:
  size_t Drain(ZSTD_inBuffer *in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{output_.data(), output_.size(), 0};
    size_t remaining = ZSTD_compressStream2(context_, &out, in, mode);
    if (ZSTD_isError(remaining))
      throw Error(sqlstate::kInternalError,
                  std::string("zstd compression failed: ") + ZSTD_getErrorName(remaining));
    if (out.pos > 0) downstream_->Write(output_.data(), out.pos);
    return remaining;
  }

  ZSTD_CCtx *context_;
  ByteSink *downstream_;
  std::vector<char> output_;
};

[[noreturn]] void ThrowCorrupt(const std::string &object_name, const std::string &what) {
  throw Error(sqlstate::kDataCorrupted, "corrupt compressed data in \"" + object_name + "\"", what,
              "The object is damaged or truncated; restore from another backup run.");
}

class GzipDecompressor : public ByteSource {
 public:
  GzipDecompressor(std::unique_ptr<ByteSource> upstream, std::string object_name)
      : upstream_(std::move(upstream)), object_name_(std::move(object_name)), input_(256 << 10) {
    stream_ = {};
    if (inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();
  }
  ~GzipDecompressor() override { inflateEnd(&stream_); }

  size_t Read(char *buffer, size_t capacity) override {
    stream_.next_out = reinterpret_cast<Bytef *>(buffer);
    stream_.avail_out = static_cast<uInt>(capacity);
    while (stream_.avail_out == capacity) {
      if (stream_.avail_in == 0) {
        size_t n = upstream_->Read(input_.data(), input_.size());
        if (n == 0) {
          if (in_member_)
            ThrowCorrupt(object_name_, "The gzip stream ends in the middle of a member.");
          return 0;
        }
        stream_.next_in = reinterpret_cast<Bytef *>(input_.data());
        stream_.avail_in = static_cast<uInt>(n);
      }
      in_member_ = true;
      int rc = inflate(&stream_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        // Concatenated members form one file; start the next one.
        in_member_ = false;
        inflateReset(&stream_);
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        ThrowCorrupt(object_name_,
                     std::string("gzip: ") + (stream_.msg ? stream_.msg : "invalid data"));
      }
    }
    return capacity - stream_.avail_out;
  }

 private:
  std::unique_ptr<ByteSource> upstream_;
  std::string object_name_;
  std::vector<char> input_;
  z_stream stream_;
  bool in_member_ = false;
};

class ZstdDecompressor : public ByteSource {
 public:
  ZstdDecompressor(std::unique_ptr<ByteSource> upstream, std::string object_name)
      : upstream_(std::move(upstream)),
        object_name_(std::move(object_name)),
        context_(ZSTD_createDCtx()),
        input_(ZSTD_DStreamInSize()) {
    if (!context_) throw std::bad_alloc();
  }
  ~ZstdDecompressor() override { ZSTD_freeDCtx(context_); }

  size_t Read(char *buffer, size_t capacity) override {
    ZSTD_outBuffer out{buffer, capacity, 0};
    while (out.pos == 0) {
      if (in_.pos == in_.size) {
        size_t n = upstream_->Read(input_.data(), input_.size());
        if (n == 0) {
          if (frame_remaining_ != 0)
            ThrowCorrupt(object_name_, "The zstd stream ends in the middle of a frame.");
          return 0;
        }
        in_ = ZSTD_inBuffer{input_.data(), n, 0};
      }
      size_t rc = ZSTD_decompressStream(context_, &out, &in_);
      if (ZSTD_isError(rc))
        ThrowCorrupt(object_name_, std::string("zstd: ") + ZSTD_getErrorName(rc));
      frame_remaining_ = rc;
    }
    return out.pos;
  }

 private:
  std::unique_ptr<ByteSource> upstream_;
  std::string object_name_;
  ZSTD_DCtx *context_;
  std::vector<char> input_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  size_t frame_remaining_ = 0;
};

}  // namespace

Compression ParseCompression(const std::string &name) {
  if (name == "gzip") return Compression::kGzip;
  if (name == "zstd") return Compression::kZstd;
  if (name == "none") return Compression::kNone;
  throw Error(sqlstate::kInvalidParameterValue, "invalid compression \"" + name + "\"", {},
              "Valid values are gzip, zstd and none.");
}

const char *CompressionName(Compression compression) {
  switch (compression) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
    case Compression::kNone:
      break;
  }
  return "none";
}

const char *PartSuffix(Compression compression) {
  switch (compression) {
    case Compression::kGzip:
      return ".csv.gz";
    case Compression::kZstd:
      return ".csv.zst";
    case Compression::kNone:
      break;
  }
  return ".csv";
}

int DefaultCompressionLevel(Compression compression) {
  return compression == Compression::kGzip ? 5 : compression == Compression::kZstd ? 1 : 0;
}

void CheckCompressionLevel(Compression compression, int level) {
  int low = 0, high = 0;
  if (compression == Compression::kGzip) {
    low = 1;
    high = 12;
  } else if (compression == Compression::kZstd) {
    low = 1;
    high = ZSTD_maxCLevel();
  }
  if (level < low || level > high)
    throw Error(
        sqlstate::kInvalidParameterValue,
        "invalid compression level " + std::to_string(level) + " for " +
            CompressionName(compression),
        {}, "Use a level between " + std::to_string(low) + " and " + std::to_string(high) + ".");
}

std::unique_ptr<ByteSink> MakeCompressor(Compression compression, int level, ByteSink *downstream) {
  switch (compression) {
    case Compression::kGzip:
      return std::make_unique<GzipCompressor>(level, downstream);
    case Compression::kZstd:
      return std::make_unique<ZstdCompressor>(level, downstream);
    case Compression::kNone:
      break;
  }
  return std::make_unique<PassThrough>(downstream);
}

std::unique_ptr<ByteSource> MakeDecompressor(Compression compression,
                                             std::unique_ptr<ByteSource> upstream,
                                             const std::string &object_name) {
  switch (compression) {
    case Compression::kGzip:
      return std::make_unique<GzipDecompressor>(std::move(upstream), object_name);
    case Compression::kZstd:
      return std::make_unique<ZstdDecompressor>(std::move(upstream), object_name);
    case Compression::kNone:
      break;
  }
  return upstream;
}

}  // namespace cdw
