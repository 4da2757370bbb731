#include "manifest/json_writer.h"

#include <cstdio>

namespace cdw {

void JsonWriter::Separator() {
  if (need_comma_) out_.push_back(',');
  need_comma_ = false;
}

JsonWriter &JsonWriter::BeginObject() {
  Separator();
  out_.push_back('{');
  return *this;
}
JsonWriter &JsonWriter::EndObject() {
  out_.push_back('}');
  need_comma_ = true;
  return *this;
}
JsonWriter &JsonWriter::BeginArray() {
  Separator();
  out_.push_back('[');
  return *this;
}
JsonWriter &JsonWriter::EndArray() {
  out_.push_back(']');
  need_comma_ = true;
  return *this;
}
JsonWriter &JsonWriter::Key(const std::string &key) {
  Separator();
  out_ += Escape(key);
  out_.push_back(':');
  return *this;
}
JsonWriter &JsonWriter::String(const std::string &value) {
  Separator();
  out_ += Escape(value);
  need_comma_ = true;
  return *this;
}
JsonWriter &JsonWriter::Int(int64_t value) {
  Separator();
  out_ += std::to_string(value);
  need_comma_ = true;
  return *this;
}
JsonWriter &JsonWriter::Bool(bool value) {
  Separator();
  out_ += value ? "true" : "false";
  need_comma_ = true;
  return *this;
}
JsonWriter &JsonWriter::Null() {
  Separator();
  out_ += "null";
  need_comma_ = true;
  return *this;
}

JsonWriter &JsonWriter::Raw(const std::string &json) {
  Separator();
  out_ += json;
  need_comma_ = true;
  return *this;
}

std::string JsonWriter::Escape(const std::string &value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buffer[8];
          snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace cdw
