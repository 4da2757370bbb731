#include "s3/credential_provider.h"

#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "common/error.h"
#include "s3/http_client.h"
#include "s3/retry_policy.h"

namespace cdw::s3 {

namespace {

constexpr const char *kInvalidAuthorization = "28000";

std::atomic<long long (*)()> g_clock{nullptr};

long long Now() {
  auto clock = g_clock.load();
  return clock ? clock() : static_cast<long long>(std::time(nullptr));
}

class StaticProvider : public CredentialProvider {
 public:
  explicit StaticProvider(Credentials credentials) : credentials_(std::move(credentials)) {}
  Credentials Get(const AbortCheck &) override { return credentials_; }

 private:
  const Credentials credentials_;
};

// --- env ---------------------------------------------------------------------

std::string EnvOrEmpty(const char *name) {
  const char *value = std::getenv(name);
  return value ? value : "";
}

std::string HomeDirectory() {
  std::string home = EnvOrEmpty("HOME");
  if (!home.empty()) return home;
  struct passwd pwd, *result = nullptr;
  char buffer[4096];
  if (getpwuid_r(geteuid(), &pwd, buffer, sizeof buffer, &result) == 0 && result)
    return result->pw_dir;
  return {};
}

class EnvProvider : public CredentialProvider {
 public:
  EnvProvider(std::string profile, std::string where)
      : profile_(std::move(profile)), where_(std::move(where)) {}

  Credentials Get(const AbortCheck &) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!loaded_) {
      credentials_ = Load();
      loaded_ = true;
    }
    return credentials_;
  }

 private:
  Credentials Load() const {
    std::string detail;
    if (profile_.empty()) {
      Credentials env{EnvOrEmpty("AWS_ACCESS_KEY_ID"), EnvOrEmpty("AWS_SECRET_ACCESS_KEY"),
                      EnvOrEmpty("AWS_SESSION_TOKEN")};
      if (!env.access_key_id.empty() && !env.secret_access_key.empty()) return env;
      if (!env.access_key_id.empty() || !env.secret_access_key.empty())
        detail = std::string("Only ") +
                 (env.access_key_id.empty() ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") +
                 " is set in the server's environment; ";
      else
        detail =
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set in the server's "
            "environment; ";
    }
    std::string profile = profile_;
    if (profile.empty()) profile = EnvOrEmpty("AWS_PROFILE");
    if (profile.empty()) profile = "default";
    std::string file = EnvOrEmpty("AWS_SHARED_CREDENTIALS_FILE");
    if (file.empty()) {
      std::string home = HomeDirectory();
      file = home.empty() ? "~/.aws/credentials" : home + "/.aws/credentials";
    }
    std::ifstream in(file);
    if (!in) {
      detail += "the shared credentials file " + file + " cannot be read.";
    } else {
      std::stringstream text;
      text << in.rdbuf();
      if (auto found = CredentialsFromIni(text.str(), profile)) return *found;
      detail += "profile \"" + profile + "\" in " + file +
                " is missing or lacks aws_access_key_id and aws_secret_access_key.";
    }
    if (!detail.empty()) detail[0] = static_cast<char>(std::toupper(detail[0]));
    throw Error(kInvalidAuthorization,
                "no credentials in the database server's environment for " + where_, detail,
                "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the "
                "environment PostgreSQL is started with (systemd: Environment= in a drop-in), or "
                "put the profile into the shared credentials file of the server's OS user; then "
                "restart PostgreSQL.");
  }

  const std::string profile_;
  const std::string where_;
  std::mutex mutex_;
  bool loaded_ = false;
  Credentials credentials_;
};

// --- instance metadata ---------------------------------------------------------

class MetadataProvider : public CredentialProvider {
 public:
  explicit MetadataProvider(CredentialSettings settings)
      : settings_(std::move(settings)), http_(MetadataHttpSettings()) {}

  Credentials Get(const AbortCheck &abort) override {
    std::lock_guard<std::mutex> lock(mutex_);
    long long now = Now();
    if (have_) {
      bool due = renew_at_ != 0 && now >= renew_at_;
      bool valid = current_.expires_at == 0 || now < current_.expires_at;
      if (!due && valid) return current_.credentials;
      // A renewal failed a moment ago: keep the valid credentials meanwhile.
      if (valid && now < last_failure_ + 1) return current_.credentials;
    }
    try {
      TimedCredentials fresh = Fetch(abort);
      long long fetched_at = Now();
      if (fresh.expires_at != 0 && fresh.expires_at <= fetched_at)
        throw Error(kInvalidAuthorization,
                    "expired credentials from " + ServiceName() + " metadata at " +
                        settings_.MetadataEndpoint(),
                    "The credentials of role \"" + role_ + "\" expired " +
                        std::to_string(fetched_at - fresh.expires_at) + " s ago.",
                    "Synchronize the database server's clock (NTP).");
      current_ = std::move(fresh);
      have_ = true;
      renew_at_ = RenewalTime(fetched_at, current_.expires_at);
      return current_.credentials;
    } catch (const Error &) {
      last_failure_ = Now();
      if (have_ && (current_.expires_at == 0 || Now() < current_.expires_at))
        return current_.credentials;
      throw;
    }
  }

  bool Invalidate(const Credentials &used) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!have_) return true;
    if (current_.credentials.access_key_id != used.access_key_id ||
        current_.credentials.session_token != used.session_token)
      return true;  // already renewed by another thread
    // Renew at the next Get(), but not in a loop: at most once a second.
    if (Now() < last_failure_ + 1) return false;
    renew_at_ = Now();
    return true;
  }

 private:
  static HttpSettings MetadataHttpSettings() {
    HttpSettings settings;
    settings.connect_timeout_ms = 2000;  // a link-local service answers at once or not at all
    settings.low_speed_seconds = 5;
    // Never through a proxy (http_proxy of the postmaster): the metadata
    // service is the instance's own, and a proxy would answer with its own role.
    settings.proxy_set = true;
    settings.proxy = "";
    return settings;
  }

  bool cvm() const { return settings_.source == CredentialSource::kCvm; }
  std::string ServiceName() const { return cvm() ? "Tencent CVM instance" : "EC2 instance"; }

  // One metadata request, retried on transport failures (3 attempts in about
  // a second). Returns the response, with transport_error set when no
  // attempt got an answer.
  HttpResponse Request(const char *method, const std::string &path, HeaderList headers,
                       const AbortCheck &abort) {
    HttpRequest request;
    request.method = method;
    request.url = settings_.MetadataEndpoint() + path;
    request.headers = std::move(headers);
    request.timeout_ms = 5000;
    HttpResponse response;
    for (int attempt = 1;; attempt++) {
      if (abort && abort()) throw Interrupted();
      response = http_.Perform(request, abort);
      if (response.aborted) throw Interrupted();
      attempts_ = attempt;
      bool retry = response.transport_error ? response.transport_retryable
                                            : response.status >= 500 || response.status == 429;
      if (!retry || attempt >= 3) return response;
      http_.Close();
      if (!SleepInSlices(std::chrono::milliseconds(200 * attempt), abort)) throw Interrupted();
    }
  }

  [[noreturn]] void Fail(const std::string &method_path, const HttpResponse &response,
                         const std::string &hint) const {
    std::string message = "could not get credentials from " + ServiceName() + " metadata at " +
                          settings_.MetadataEndpoint();
    std::string attempts =
        " (" + std::to_string(attempts_) + " attempt" + (attempts_ == 1 ? "" : "s") + ").";
    if (response.transport_error)
      throw Error(
          sqlstate::kConnectionFailure, message, method_path + ": " + response.error + attempts,
          "Credentials '" + std::string(CredentialSourceName(settings_.source)) +
              "' need the instance metadata service of the machine PostgreSQL runs " + "on" +
              (cvm() ? " (a Tencent CVM instance with a CAM role bound)"
                     : " (an EC2 instance with an IAM instance profile; IMDSv2 "
                       "from inside a container needs a hop limit of 2)") +
              "; elsewhere use credentials 'static' or 'env'.");
    throw Error(kInvalidAuthorization, message,
                method_path + " answered HTTP " + std::to_string(response.status) + attempts, hint);
  }

  TimedCredentials Fetch(const AbortCheck &abort) {
    HeaderList headers;
    std::string base;
    if (cvm()) {
      base = "/latest/meta-data/cam/security-credentials/";
    } else {
      base = "/latest/meta-data/iam/security-credentials/";
      HttpResponse token = Request("PUT", "/latest/api/token",
                                   {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}, abort);
      if (token.transport_error || token.status != 200 || token.body.empty())
        Fail("PUT /latest/api/token", token,
             "IMDSv2 must be enabled on the instance (the session token request was refused).");
      headers.emplace_back("X-aws-ec2-metadata-token", token.body);
    }
    std::string role = settings_.role;
    if (role.empty()) {
      HttpResponse listing = Request("GET", base, headers, abort);
      if (listing.transport_error || listing.status != 200)
        Fail("GET " + base, listing,
             cvm() ? "Bind a CAM role to the CVM instance (console: instance, more, instance "
                     "settings, bind role), or name it with option role."
                   : "Attach an IAM instance profile to the EC2 instance, or name its role with "
                     "option role.");
      role = FirstRoleName(listing.body);
      if (role.empty() || !ValidRoleName(role))
        Fail("GET " + base, listing,
             cvm() ? "Bind a CAM role to the CVM instance, or name it with option role."
                   : "Attach an IAM instance profile to the EC2 instance, or name its role with "
                     "option role.");
    }
    role_ = role;
    HttpResponse document = Request("GET", base + role, headers, abort);
    if (document.transport_error || document.status != 200)
      Fail("GET " + base + role, document,
           "Check the role name (option role): the instance has no role \"" + role + "\".");
    return cvm() ? ParseCvmCredentials(document.body) : ParseImdsCredentials(document.body);
  }

  const CredentialSettings settings_;
  std::mutex mutex_;
  HttpClient http_;
  TimedCredentials current_;
  bool have_ = false;
  long long renew_at_ = 0;
  long long last_failure_ = 0;
  int attempts_ = 0;
  std::string role_;
};

std::mutex g_providers_mutex;
std::map<std::string, std::shared_ptr<CredentialProvider>> g_providers;

}  // namespace

std::shared_ptr<CredentialProvider> MakeCredentialProvider(const CredentialSettings &settings,
                                                           const Credentials &given,
                                                           const std::string &where) {
  if (settings.source == CredentialSource::kStatic) {
    if (given.access_key_id.empty() || given.secret_access_key.empty())
      throw Error(sqlstate::kFdwInvalidOptionValue,
                  "object storage location " + where + " needs secret_id and secret_key",
                  "Credentials are accepted only on user mappings and backup targets, unless "
                  "option credentials names another source ('env', 'imds', 'cvm').",
                  "CREATE USER MAPPING FOR CURRENT_USER SERVER ... OPTIONS (secret_id '...', "
                  "secret_key '...');");
    return std::make_shared<StaticProvider>(given);
  }
  if (!given.empty() || !given.session_token.empty())
    throw Error(sqlstate::kFdwInvalidOptionValue,
                "object storage location " + where + " takes its credentials from " +
                    (settings.source == CredentialSource::kEnv ? "the server's environment"
                                                               : "instance metadata"),
                std::string("Option credentials is '") + CredentialSourceName(settings.source) +
                    "', but secret_id, secret_key or session_token are given as well.",
                "Drop secret_id and secret_key (from the user mapping or target), or drop the "
                "credentials option.");
  if (settings.source == CredentialSource::kEnv)
    return std::make_shared<EnvProvider>(settings.profile, where);
  std::string key = std::string(CredentialSourceName(settings.source)) + "\n" +
                    settings.MetadataEndpoint() + "\n" + settings.role;
  std::lock_guard<std::mutex> lock(g_providers_mutex);
  auto &provider = g_providers[key];
  if (!provider) provider = std::make_shared<MetadataProvider>(settings);
  return provider;
}

void SetCredentialClockForTest(long long (*now)()) {
  g_clock = now;
}

void ResetCredentialProvidersForTest() {
  std::lock_guard<std::mutex> lock(g_providers_mutex);
  g_providers.clear();
}

}  // namespace cdw::s3
