#include "manifest/json_value.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/error.h"

namespace cdw {

namespace {

constexpr const char *kInvalidText = "22P02";  // invalid_text_representation

[[noreturn]] void TypeError(const std::string &what, const char *expected) {
  throw Error(kInvalidText, what + " is not " + expected);
}

// Length of the UTF-8 sequence at `s[i]`, or 0 when it is malformed.
size_t Utf8SequenceLength(const std::string &s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; k++) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (byte(i + k) & 0x3F);
  }
  static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

void AppendUtf8(std::string *out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | cp >> 6));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | cp >> 12));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | cp >> 18));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

bool IsValidUtf8(const std::string &bytes) {
  for (size_t i = 0; i < bytes.size();) {
    size_t len = Utf8SequenceLength(bytes, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

class JsonParser {
 public:
  explicit JsonParser(const std::string &text) : s_(text) {}

  JsonValue Document() {
    SkipSpace();
    JsonValue value = Value(0);
    SkipSpace();
    if (pos_ != s_.size()) Fail("unexpected text after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void Fail(const std::string &what) {
    throw Error(kInvalidText, "invalid JSON", what + " at byte " + std::to_string(pos_) + ".");
  }

  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      pos_++;
  }

  bool Literal(const char *word) {
    size_t len = strlen(word);
    if (s_.compare(pos_, len, word) != 0) return false;
    pos_ += len;
    return true;
  }

  JsonValue Value(int depth) {
    if (depth > kMaxJsonDepth) Fail("JSON nested too deeply");
    if (pos_ >= s_.size()) Fail("unexpected end of JSON");
    JsonValue value;
    value.begin_ = pos_;
    char c = s_[pos_];
    if (c == '{') {
      value.type_ = JsonValue::Type::kObject;
      pos_++;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        pos_++;
      } else {
        for (;;) {
          SkipSpace();
          if (pos_ >= s_.size() || s_[pos_] != '"') Fail("expected a string key");
          std::string key = String();
          if (value.Find(key)) Fail("duplicate key \"" + key + "\"");
          SkipSpace();
          if (pos_ >= s_.size() || s_[pos_] != ':') Fail("expected ':'");
          pos_++;
          SkipSpace();
          value.members_.emplace_back(std::move(key), Value(depth + 1));
          SkipSpace();
          if (pos_ < s_.size() && s_[pos_] == ',') {
            pos_++;
            continue;
          }
          if (pos_ < s_.size() && s_[pos_] == '}') {
            pos_++;
            break;
          }
          Fail("expected ',' or '}'");
        }
      }
    } else if (c == '[') {
      value.type_ = JsonValue::Type::kArray;
      pos_++;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        pos_++;
      } else {
        for (;;) {
          SkipSpace();
          value.items_.push_back(Value(depth + 1));
          SkipSpace();
          if (pos_ < s_.size() && s_[pos_] == ',') {
            pos_++;
            continue;
          }
          if (pos_ < s_.size() && s_[pos_] == ']') {
            pos_++;
            break;
          }
          Fail("expected ',' or ']'");
        }
      }
    } else if (c == '"') {
      value.type_ = JsonValue::Type::kString;
      value.text_ = String();
    } else if (c == 't' || c == 'f' || c == 'n') {
      if (Literal("true")) {
        value.type_ = JsonValue::Type::kBool;
        value.bool_ = true;
      } else if (Literal("false")) {
        value.type_ = JsonValue::Type::kBool;
      } else if (Literal("null")) {
        value.type_ = JsonValue::Type::kNull;
      } else {
        Fail("unexpected character");
      }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      value.type_ = JsonValue::Type::kNumber;
      value.text_ = Number();
    } else {
      Fail("unexpected character");
    }
    value.end_ = pos_;
    return value;
  }

  std::string Number() {
    size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') pos_++;
      return pos_ - from;
    };
    if (s_[pos_] == '-') pos_++;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      pos_++;
    } else if (digits() == 0) {
      Fail("malformed number");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      pos_++;
      if (digits() == 0) Fail("malformed number");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      pos_++;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) pos_++;
      if (digits() == 0) Fail("malformed number");
    }
    return s_.substr(start, pos_ - start);
  }

  uint32_t Hex4() {
    if (pos_ + 4 > s_.size()) Fail("truncated \\u escape");
    uint32_t cp = 0;
    for (int i = 0; i < 4; i++) {
      char c = s_[pos_++];
      cp <<= 4;
      if (c >= '0' && c <= '9')
        cp |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        cp |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        cp |= static_cast<uint32_t>(c - 'A' + 10);
      else
        Fail("malformed \\u escape");
    }
    return cp;
  }

  std::string String() {
    pos_++;  // the opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        pos_++;
        return out;
      }
      if (c < 0x20) Fail("control character in a string");
      if (c == '\\') {
        pos_++;
        if (pos_ >= s_.size()) Fail("unterminated string");
        char e = s_[pos_++];
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out.push_back(e);
            break;
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'n':
            out.push_back('\n');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'u': {
            uint32_t cp = Hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) Fail("unpaired surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.compare(pos_, 2, "\\u") != 0) Fail("unpaired surrogate");
              pos_ += 2;
              uint32_t low = Hex4();
              if (low < 0xDC00 || low > 0xDFFF) Fail("unpaired surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            if (cp == 0) Fail("\\u0000 in a string");
            AppendUtf8(&out, cp);
            break;
          }
          default:
            Fail("unknown escape");
        }
        continue;
      }
      size_t len = Utf8SequenceLength(s_, pos_);
      if (len == 0) Fail("invalid UTF-8");
      out.append(s_, pos_, len);
      pos_ += len;
    }
  }

  const std::string &s_;
  size_t pos_ = 0;
};

JsonValue ParseJson(const std::string &text) {
  return JsonParser(text).Document();
}

bool JsonValue::AsBool(const std::string &what) const {
  if (type_ != Type::kBool) TypeError(what, "a boolean");
  return bool_;
}

int64_t JsonValue::AsInt(const std::string &what) const {
  if (type_ != Type::kNumber || text_.find_first_of(".eE") != std::string::npos)
    TypeError(what, "an integer");
  errno = 0;
  char *end = nullptr;
  long long v = strtoll(text_.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') TypeError(what, "an integer in range");
  return static_cast<int64_t>(v);
}

const std::string &JsonValue::AsString(const std::string &what) const {
  if (type_ != Type::kString) TypeError(what, "a string");
  return text_;
}

const std::vector<JsonValue> &JsonValue::AsArray(const std::string &what) const {
  if (type_ != Type::kArray) TypeError(what, "an array");
  return items_;
}

const JsonValue *JsonValue::Find(const std::string &key) const {
  for (const auto &[name, value] : members_)
    if (name == key) return &value;
  return nullptr;
}

}  // namespace cdw
