// Errors raised by the PostgreSQL-free core.
//
// The core never calls ereport(); it throws cdw::Error carrying everything a
// PostgreSQL error report needs (SQLSTATE, message, detail, hint). The
// extension boundary turns it into ereport(ERROR) once the C++ frames are gone.
#pragma once

#include <stdexcept>
#include <string>

namespace cdw {

// SQLSTATE codes the core uses; kept as strings so the core does not depend
// on PostgreSQL headers. The extension maps them with MAKE_SQLSTATE.
namespace sqlstate {
inline constexpr const char *kInvalidParameterValue = "22023";
inline constexpr const char *kBadCopyFileFormat = "22P04";
inline constexpr const char *kDataCorrupted = "XX001";
inline constexpr const char *kIoError = "58030";
inline constexpr const char *kUndefinedFile = "58P01";
inline constexpr const char *kInsufficientPrivilege = "42501";
inline constexpr const char *kConnectionFailure = "08006";
inline constexpr const char *kFdwError = "HV000";
inline constexpr const char *kFdwInvalidOptionName = "HV00D";
inline constexpr const char *kFdwInvalidOptionValue = "HV024";  // fdw_invalid_attribute_value
inline constexpr const char *kQueryCanceled = "57014";
inline constexpr const char *kInternalError = "XX000";
inline constexpr const char *kObjectNotInPrerequisiteState = "55000";
}  // namespace sqlstate

class Error : public std::runtime_error {
 public:
  Error(std::string sqlstate, std::string message, std::string detail = {}, std::string hint = {})
      : std::runtime_error(message),
        sqlstate_(std::move(sqlstate)),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}

  const std::string &sqlstate() const { return sqlstate_; }
  const std::string &detail() const { return detail_; }
  const std::string &hint() const { return hint_; }

 private:
  std::string sqlstate_;
  std::string detail_;
  std::string hint_;
};

// Thrown when the interrupt check installed by the host (PostgreSQL) says a
// query cancel or termination is pending. The extension boundary reacts by
// running CHECK_FOR_INTERRUPTS() so PostgreSQL reports it the usual way.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("operation interrupted") {}
};

}  // namespace cdw
