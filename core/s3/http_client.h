// One libcurl easy handle: HTTP(S) requests with keep-alive, timeouts, a
// connect-to override and an abort check polled during transfers.
//
// An HttpClient is used by one thread at a time. It never throws for HTTP
// statuses or transport failures: it reports them in HttpResponse, and the S3
// client decides about retries and errors. libcurl runs with CURLOPT_NOSIGNAL
// (no SIGALRM for DNS timeouts: PostgreSQL owns the process's signals).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "s3/sigv4.h"

namespace cdw::s3 {

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;     // scheme://host[:port]/encoded-path[?query]
  HeaderList headers;  // sent as given (Host, Authorization, x-amz-*, Range, ...)
  const char *body = nullptr;
  size_t body_size = 0;
  size_t expected_response_size = 0;  // for GET: the bytes expected (a hint and a cap)
  long timeout_ms = 0;                // whole-request limit; 0: only the low-speed limit
};

// What kind of transport failure a response is (for the error's hint).
enum class TransportFailure {
  kNone,
  kOther,
  kTimeout,    // connect_timeout or request_timeout (or the low-speed limit) elapsed
  kTlsVerify,  // the server's certificate (or its name) could not be verified
  kTlsSetup,   // ca_file / ca_path unusable
  kProxy,      // the proxy could not be resolved, reached or refused the tunnel
};

struct HttpResponse {
  bool transport_error = false;      // no complete HTTP response
  bool transport_retryable = false;  // timeouts, resets, refused connections, ...
  TransportFailure failure = TransportFailure::kNone;
  bool aborted = false;  // the abort check asked to stop
  std::string error;     // libcurl's description of a transport error
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, last value wins
  std::string body;

  const std::string &Header(const std::string &lower_name) const;
};

struct HttpSettings {
  std::string connect_to;  // "host:port" or ""
  long connect_timeout_ms = 10000;
  long low_speed_seconds = 60;  // below 1 byte/s for this long: timeout
  long request_timeout_ms = 0;  // each request (attempt) at most this long; 0: no limit
  // TLS: the CA bundle file / hashed CA directory that replace the system's
  // ("" keeps libcurl's default); tls_verify false skips peer and host checks.
  // They also apply to an https:// proxy.
  std::string ca_file;
  std::string ca_path;
  bool tls_verify = true;
  // Proxy: unset (proxy_set false) leaves libcurl's default, the
  // http_proxy / https_proxy / all_proxy / no_proxy environment variables of
  // the process; set, `proxy` is used for every request (no_proxy ignored),
  // and an empty `proxy` means no proxy at all.
  bool proxy_set = false;
  std::string proxy;
};

class HttpClient {
 public:
  explicit HttpClient(HttpSettings settings);
  ~HttpClient();
  HttpClient(const HttpClient &) = delete;
  HttpClient &operator=(const HttpClient &) = delete;

  // `should_abort` is polled about once a second and on every progress
  // callback while the transfer runs; true stops it (response.aborted).
  HttpResponse Perform(const HttpRequest &request, const std::function<bool()> &should_abort);

  // Closes the kept-alive connection and frees the libcurl handle (its
  // socket and the socket pair libcurl uses for wake-ups); the next
  // Perform() opens a new one. A client kept only for a possible later
  // request (a part's removal on abort) holds no descriptor meanwhile.
  void Close() noexcept;

 private:
  HttpSettings settings_;
  void *curl_ = nullptr;  // CURL*, created by the first Perform()
};

// Calls curl_global_init once per process; HttpClient does it itself, but
// the first call should come from the main thread before others start.
void GlobalInitHttp();

}  // namespace cdw::s3
