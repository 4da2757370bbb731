// A minimal streaming JSON writer for manifests (no dependency needed for
// writing; strings are escaped per RFC 8259, bytes >= 0x80 pass through as
// UTF-8).
#pragma once

#include <cstdint>
#include <string>

namespace cdw {

class JsonWriter {
 public:
  JsonWriter &BeginObject();
  JsonWriter &EndObject();
  JsonWriter &BeginArray();
  JsonWriter &EndArray();
  JsonWriter &Key(const std::string &key);
  JsonWriter &String(const std::string &value);
  JsonWriter &Int(int64_t value);
  JsonWriter &Bool(bool value);
  JsonWriter &Null();
  // Inserts already-serialized JSON (e.g. produced by PostgreSQL's json_agg).
  JsonWriter &Raw(const std::string &json);

  const std::string &str() const { return out_; }
  static std::string Escape(const std::string &value);

 private:
  void Separator();
  std::string out_;
  bool need_comma_ = false;
};

}  // namespace cdw
