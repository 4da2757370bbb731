// A strict JSON parser (RFC 8259) for what cdw_backup reads back from a
// target: manifests and run indexes. Strings must be valid UTF-8 and are
// returned as UTF-8 (\u escapes decoded, surrogate pairs joined); nesting is
// bounded so a hostile object cannot exhaust the stack; duplicate keys are
// an error. Every value remembers where it was in the source, so sections
// this version does not model can be kept byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cdw {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }

  // Typed access; each throws cdw::Error (22P02) naming `what` when the
  // value has another type (or, for AsInt, is not an integer in range).
  bool AsBool(const std::string &what) const;
  int64_t AsInt(const std::string &what) const;
  const std::string &AsString(const std::string &what) const;
  const std::vector<JsonValue> &AsArray(const std::string &what) const;

  // Object members in source order; Find returns NULL when absent (or when
  // this is not an object).
  const std::vector<std::pair<std::string, JsonValue>> &members() const { return members_; }
  const JsonValue *Find(const std::string &key) const;

  // The value's exact text in the source it was parsed from.
  size_t source_begin() const { return begin_; }
  size_t source_end() const { return end_; }

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;  // a string's value, or a number's literal
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
  size_t begin_ = 0, end_ = 0;
};

constexpr int kMaxJsonDepth = 256;

// Parses one JSON document (surrounding whitespace allowed). Throws
// cdw::Error (22P02, with the byte offset in the detail) when it is not
// valid JSON.
JsonValue ParseJson(const std::string &text);

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, at
// most U+10FFFF).
bool IsValidUtf8(const std::string &bytes);

}  // namespace cdw
