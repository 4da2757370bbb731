#include "s3/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>

namespace cdw::s3 {

namespace {

// Error bodies and list responses are small; a GET may carry up to its range.
constexpr size_t kMinBodyCap = 16 * 1024 * 1024;

struct TransferState {
  const HttpRequest *request = nullptr;
  HttpResponse *response = nullptr;
  const std::function<bool()> *should_abort = nullptr;
  size_t read_offset = 0;
  size_t body_cap = 0;
  bool overflow = false;
};

size_t OnWrite(char *data, size_t size, size_t count, void *user) {
  auto *state = static_cast<TransferState *>(user);
  size_t len = size * count;
  if (state->response->body.size() + len > state->body_cap) {
    state->overflow = true;
    return 0;  // makes libcurl fail with CURLE_WRITE_ERROR
  }
  state->response->body.append(data, len);
  return len;
}

size_t OnHeader(char *data, size_t size, size_t count, void *user) {
  auto *state = static_cast<TransferState *>(user);
  size_t len = size * count;
  std::string line(data, len);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    state->response->headers.clear();  // a new response (after 100 Continue or a retry)
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return len;
  std::string name = line.substr(0, colon);
  for (auto &c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t start = line.find_first_not_of(" \t", colon + 1);
  state->response->headers[name] = start == std::string::npos ? "" : line.substr(start);
  return len;
}

size_t OnRead(char *buffer, size_t size, size_t count, void *user) {
  auto *state = static_cast<TransferState *>(user);
  size_t remaining = state->request->body_size - state->read_offset;
  size_t n = std::min(remaining, size * count);
  if (n > 0) std::memcpy(buffer, state->request->body + state->read_offset, n);
  state->read_offset += n;
  return n;
}

int OnSeek(void *user, curl_off_t offset, int origin) {
  auto *state = static_cast<TransferState *>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > state->request->body_size)
    return CURL_SEEKFUNC_CANTSEEK;
  state->read_offset = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

int OnProgress(void *user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto *state = static_cast<TransferState *>(user);
  if (!state->should_abort || !*state->should_abort) return 0;
  bool stop = true;
  try {
    stop = (*state->should_abort)();
  } catch (...) {
    stop = true;  // never let an exception cross libcurl's C frames
  }
  if (stop) state->response->aborted = true;
  return stop ? 1 : 0;
}

bool Retryable(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_HTTP2:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_FAIL_REWIND:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

TransportFailure FailureOf(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return TransportFailure::kTimeout;
    case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
    case CURLE_SSL_CACERT:
#endif
      return TransportFailure::kTlsVerify;
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return TransportFailure::kTlsSetup;
    case CURLE_COULDNT_RESOLVE_PROXY:
#if LIBCURL_VERSION_NUM >= 0x074900
    case CURLE_PROXY:
#endif
      return TransportFailure::kProxy;
    default:
      return TransportFailure::kOther;
  }
}

struct SlistFree {
  void operator()(curl_slist *list) const { curl_slist_free_all(list); }
};

}  // namespace

const std::string &HttpResponse::Header(const std::string &lower_name) const {
  static const std::string kEmpty;
  auto it = headers.find(lower_name);
  return it == headers.end() ? kEmpty : it->second;
}

void GlobalInitHttp() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpClient::HttpClient(HttpSettings settings) : settings_(std::move(settings)) {
  GlobalInitHttp();
}

HttpClient::~HttpClient() {
  Close();
}

void HttpClient::Close() noexcept {
  if (curl_) curl_easy_cleanup(static_cast<CURL *>(curl_));
  curl_ = nullptr;
}

HttpResponse HttpClient::Perform(const HttpRequest &request,
                                 const std::function<bool()> &should_abort) {
  if (!curl_) {
    curl_ = curl_easy_init();
    if (!curl_) throw std::bad_alloc();
  }
  CURL *curl = static_cast<CURL *>(curl_);
  // Resetting options keeps the connection cache: keep-alive survives.
  curl_easy_reset(curl);

  HttpResponse response;
  TransferState state;
  state.request = &request;
  state.response = &response;
  state.should_abort = &should_abort;
  state.body_cap = std::max(kMinBodyCap, request.expected_response_size + 1024);
  if (request.expected_response_size > 0) response.body.reserve(request.expected_response_size);

  std::unique_ptr<curl_slist, SlistFree> headers;
  auto add_header = [&](const std::string &line) {
    curl_slist *appended = curl_slist_append(headers.get(), line.c_str());
    if (!appended) throw std::bad_alloc();
    (void)headers.release();
    headers.reset(appended);
  };
  bool has_content_type = false;
  for (const auto &[name, value] : request.headers) {
    add_header(name + ": " + value);
    std::string lower = name;
    for (auto &c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    has_content_type |= lower == "content-type";
  }
  add_header("Expect:");                               // no 100-continue round trip
  if (!has_content_type) add_header("Content-Type:");  // no form encoding on POST

  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);  // keys are sent exactly as signed
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "cdw_backup");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, settings_.connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, settings_.low_speed_seconds);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  long timeout_ms = request.timeout_ms;
  if (settings_.request_timeout_ms > 0 &&
      (timeout_ms <= 0 || settings_.request_timeout_ms < timeout_ms))
    timeout_ms = settings_.request_timeout_ms;
  if (timeout_ms > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  // TLS (also for an https:// proxy). libcurl's defaults verify peer and host.
  if (!settings_.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, settings_.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_PROXY_CAINFO, settings_.ca_file.c_str());
  }
  if (!settings_.ca_path.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAPATH, settings_.ca_path.c_str());
    curl_easy_setopt(curl, CURLOPT_PROXY_CAPATH, settings_.ca_path.c_str());
  }
  if (!settings_.tls_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(curl, CURLOPT_PROXY_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_PROXY_SSL_VERIFYHOST, 0L);
  }
  // Proxy: nothing set keeps libcurl's use of the environment variables
  // (http_proxy, https_proxy, all_proxy, no_proxy); never disable that.
  if (settings_.proxy_set) {
    curl_easy_setopt(curl, CURLOPT_PROXY, settings_.proxy.c_str());
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "");
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &state);
  std::unique_ptr<curl_slist, SlistFree> connect_to;
  if (!settings_.connect_to.empty()) {
    connect_to.reset(curl_slist_append(nullptr, ("::" + settings_.connect_to).c_str()));
    if (!connect_to) throw std::bad_alloc();
    curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to.get());
  }

  const std::string &method = request.method;
  if (method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "PUT" || method == "POST") {
    if (method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body_size));
    } else {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body_size));
    }
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, &state);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, OnSeek);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &state);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  CURLcode code = curl_easy_perform(curl);
  // Options point at this frame's buffers; drop them before returning.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_CONNECT_TO, nullptr);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }
  response.transport_error = true;
  if (code == CURLE_ABORTED_BY_CALLBACK) response.aborted = true;
  response.transport_retryable = Retryable(code);
  response.failure = FailureOf(code);
  response.error = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
  if (state.overflow) response.error = "response body larger than expected";
  response.status = 0;
  response.body.clear();
  return response;
}

}  // namespace cdw::s3
