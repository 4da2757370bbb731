// S3 client behaviour under faults, against an in-process fake HTTP server
// that answers each request as the test says: S3 error documents, 5xx,
// dropped connections, stalls. Checks retries (a failed part is retried, not
// the object), what is not retried, query-cancel latency, the best-effort
// abort of an interrupted upload, and that secrets never reach an error.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "s3/credential_provider.h"
#include "s3/s3_location.h"
#include "s3/s3_store.h"

namespace cdw::s3 {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct FakeRequest {
  std::string method;
  std::string path;                            // encoded, without the query
  std::string query;                           // as sent
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct FakeResponse {
  enum Action { kRespond, kStall, kDropConnection };
  Action action = kRespond;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

FakeResponse S3Error(int status, const std::string &code, const std::string &message = "msg") {
  FakeResponse r;
  r.status = status;
  r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" +
           message + "</Message><RequestId>req-1</RequestId></Error>";
  return r;
}

FakeResponse Ok(std::string body = {},
                std::vector<std::pair<std::string, std::string>> headers = {}) {
  FakeResponse r;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

class FakeS3Server {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest &)>;

  explicit FakeS3Server(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof(addr));
    listen(listen_fd_, 16);
    getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~FakeS3Server() {
    stop_ = true;
    acceptor_.join();
    for (auto &t : connections_) t.join();
    close(listen_fd_);
  }

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<FakeRequest> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  int Count(const std::string &method, const std::string &query_part = "") {
    int n = 0;
    for (const auto &r : requests())
      n += r.method == method && r.query.find(query_part) != std::string::npos;
    return n;
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      connections_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  // Reads until `want` bytes are buffered or the peer goes away.
  bool Fill(int fd, std::string *buffer, size_t want) {
    char chunk[65536];
    while (buffer->size() < want) {
      pollfd p{fd, POLLIN, 0};
      if (stop_) return false;
      if (poll(&p, 1, 20) <= 0) continue;
      ssize_t n = read(fd, chunk, sizeof(chunk));
      if (n <= 0) return false;
      buffer->append(chunk, static_cast<size_t>(n));
    }
    return true;
  }

  void Serve(int fd) {
    std::string buffer;
    while (!stop_) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos)
        if (!Fill(fd, &buffer, buffer.size() + 1)) {
          close(fd);
          return;
        }
      FakeRequest request;
      std::string head = buffer.substr(0, end);
      buffer.erase(0, end + 4);
      size_t line_end = head.find("\r\n");
      std::string line = head.substr(0, line_end);
      size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
      request.method = line.substr(0, sp1);
      std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t q = target.find('?');
      request.path = target.substr(0, q);
      request.query = q == std::string::npos ? "" : target.substr(q + 1);
      for (size_t pos = line_end; pos != std::string::npos && pos < head.size();) {
        size_t next = head.find("\r\n", pos + 2);
        std::string h =
            head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
        size_t colon = h.find(':');
        if (colon != std::string::npos) {
          std::string name = h.substr(0, colon);
          for (auto &c : name) c = static_cast<char>(tolower(c));
          request.headers[name] = h.substr(h.find_first_not_of(' ', colon + 1));
        }
        pos = next;
      }
      size_t length = request.headers.count("content-length")
                          ? std::stoul(request.headers["content-length"])
                          : 0;
      if (!Fill(fd, &buffer, length)) {
        close(fd);
        return;
      }
      request.body = buffer.substr(0, length);
      buffer.erase(0, length);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(request);
      }
      FakeResponse response = handler_(request);
      if (response.action == FakeResponse::kStall) {
        while (!stop_) std::this_thread::sleep_for(milliseconds(5));
        close(fd);
        return;
      }
      if (response.action == FakeResponse::kDropConnection) {
        close(fd);
        return;
      }
      std::string out = "HTTP/1.1 " + std::to_string(response.status) + " X\r\n";
      for (const auto &[name, value] : response.headers) out += name + ": " + value + "\r\n";
      if (request.method == "HEAD")
        out += "Content-Length: 0\r\n\r\n";
      else
        out +=
            "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n" + response.body;
      for (size_t sent = 0; sent < out.size();) {
        ssize_t n = write(fd, out.data() + sent, out.size() - sent);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
    }
    close(fd);
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> connections_;
  std::mutex mutex_;
  std::vector<FakeRequest> requests_;
};

const Credentials kCredentials{"AKIDEXAMPLEFAULTS", "SECRETKEYFAULTS/abc+def", "SESSIONTOKEN123"};

std::unique_ptr<S3Store> StoreFor(const FakeS3Server &server, int attempts = 4,
                                  const std::string &part_size = "5MB") {
  S3Location loc = ParseS3Location("s3://bucket/root",
                                   {{"endpoint", server.endpoint()}, {"part_size", part_size}});
  loc.retry.max_attempts = attempts;
  loc.retry.base_delay = milliseconds(5);
  loc.retry.max_delay = milliseconds(20);
  return std::make_unique<S3Store>(loc, kCredentials);
}

bool IsProbe(const FakeRequest &r) {
  return r.method == "GET" && r.headers.count("range") && r.headers.at("range") == "bytes=0-0";
}

std::string ErrorText(const Error &e) {
  return std::string(e.what()) + "\n" + e.detail() + "\n" + e.hint();
}

TEST(S3FaultTest, RetriesServerErrorsThenSucceeds) {
  std::atomic<int> puts{0};
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsProbe(r)) return S3Error(404, "NoSuchKey");
    if (r.method == "PUT") {
      int n = ++puts;
      if (n == 1) return S3Error(503, "SlowDown", "Please reduce your request rate.");
      if (n == 2) return S3Error(500, "InternalError");
      return Ok({}, {{"ETag", "\"e\""}});
    }
    return S3Error(400, "Unexpected");
  });
  auto store = StoreFor(server);
  auto writer = store->Create("a.csv");
  writer->Write("abc", 3);
  writer->Finish();
  writer->Commit();
  EXPECT_EQ(server.Count("PUT"), 3);
  for (const auto &r : server.requests()) {
    if (r.method != "PUT") continue;
    EXPECT_EQ(r.body, "abc");
    EXPECT_EQ(r.path, "/bucket/root/a.csv");
    EXPECT_EQ(r.headers.at("x-amz-security-token"), "SESSIONTOKEN123");
    EXPECT_NE(r.headers.at("authorization").find("Credential=AKIDEXAMPLEFAULTS/"),
              std::string::npos);
  }
}

TEST(S3FaultTest, DoesNotRetryClientErrors) {
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsProbe(r)) return S3Error(404, "NoSuchKey");
    return S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated ...");
  });
  auto store = StoreFor(server);
  auto writer = store->Create("a.csv");
  writer->Finish();
  try {
    writer->Commit();
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), sqlstate::kInsufficientPrivilege);
    EXPECT_NE(std::string(e.what()).find("SignatureDoesNotMatch: The request signature"),
              std::string::npos);
    EXPECT_NE(e.detail().find("HTTP 403"), std::string::npos);
    EXPECT_NE(e.detail().find("req-1"), std::string::npos);
    EXPECT_NE(e.hint().find("secret_key"), std::string::npos);
  }
  EXPECT_EQ(server.Count("PUT"), 1);
}

TEST(S3FaultTest, GivesUpAfterMaxAttempts) {
  FakeS3Server server([&](const FakeRequest &) { return S3Error(500, "InternalError"); });
  auto store = StoreFor(server, 3);
  try {
    store->List("");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("InternalError"), std::string::npos);
    EXPECT_NE(e.detail().find("after 3 attempts"), std::string::npos) << e.detail();
  }
  EXPECT_EQ(server.Count("GET"), 3);
}

TEST(S3FaultTest, RetriesOnlyTheFailedPart) {
  std::mutex mutex;
  std::map<std::string, int> attempts;  // by partNumber
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsProbe(r)) return S3Error(404, "NoSuchKey");
    if (r.method == "POST" && r.query == "uploads")
      return Ok(
          "<InitiateMultipartUploadResult><UploadId>UP1</UploadId>"
          "</InitiateMultipartUploadResult>");
    if (r.method == "PUT") {
      std::string part = r.query.substr(r.query.find("partNumber=") + 11, 1);
      int n;
      {
        std::lock_guard<std::mutex> lock(mutex);
        n = ++attempts[part];
      }
      if (part == "2" && n == 1) return S3Error(500, "InternalError");
      if (part == "3" && n == 1) {
        FakeResponse drop;
        drop.action = FakeResponse::kDropConnection;
        return drop;
      }
      return Ok({}, {{"ETag", "\"etag-" + part + "\""}});
    }
    if (r.method == "POST" && r.query == "uploadId=UP1")
      return Ok(
          "<CompleteMultipartUploadResult><Key>root/big</Key></CompleteMultipartUploadResult>");
    return S3Error(400, "Unexpected");
  });
  auto store = StoreFor(server);
  auto writer = store->Create("big");
  std::string data(11 * kMiB, 'x');
  writer->Write(data.data(), data.size());
  writer->Finish();
  writer->Commit();
  EXPECT_EQ(attempts["1"], 1);
  EXPECT_EQ(attempts["2"], 2);
  EXPECT_EQ(attempts["3"], 2);
  std::string complete;
  size_t part_bytes = 0;
  for (const auto &r : server.requests()) {
    if (r.method == "POST" && r.query == "uploadId=UP1") complete = r.body;
    if (r.method == "POST" && r.query == "uploads") {
      EXPECT_EQ(r.headers.at("x-amz-checksum-algorithm"), "CRC32");
    }
    if (r.method == "PUT") {
      EXPECT_EQ(r.headers.at("x-amz-content-sha256").size(), 64u);  // the part's real hash
      EXPECT_EQ(r.headers.at("x-amz-checksum-crc32"),
                ChecksumCrc32Base64(r.body.data(), r.body.size()));
      part_bytes = std::max(part_bytes, r.body.size());
    }
  }
  EXPECT_EQ(part_bytes, 5 * kMiB);
  const std::string full = ChecksumCrc32Base64(data.data(), 5 * kMiB);
  const std::string last = ChecksumCrc32Base64(data.data(), 1 * kMiB);
  EXPECT_NE(complete.find("<Part><PartNumber>1</PartNumber><ETag>\"etag-1\"</ETag><ChecksumCRC32>" +
                          full + "</ChecksumCRC32></Part>" +
                          "<Part><PartNumber>2</PartNumber><ETag>\"etag-2\"</ETag><ChecksumCRC32>" +
                          full + "</ChecksumCRC32></Part>" +
                          "<Part><PartNumber>3</PartNumber><ETag>\"etag-3\"</ETag><ChecksumCRC32>" +
                          last + "</ChecksumCRC32></Part>"),
            std::string::npos)
      << complete;
  EXPECT_EQ(server.Count("DELETE"), 0);
}

// The multipart upload is created on part 1's thread (the writer fills part
// 2 meanwhile): a refused creation is the writer's error, with S3's code and
// hint, as soon as part 2 needs the upload id; no part is sent, nothing to
// abort.
TEST(S3FaultTest, RefusedMultipartCreationIsTheWritersError) {
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsProbe(r)) return S3Error(404, "NoSuchKey");
    if (r.method == "POST" && r.query == "uploads")
      return S3Error(403, "AccessDenied", "Access Denied");
    return S3Error(400, "Unexpected");
  });
  auto store = StoreFor(server);
  auto writer = store->Create("big");
  std::string data(11 * kMiB, 'x');
  try {
    writer->Write(data.data(), data.size());
    writer->Finish();
    writer->Commit();
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), sqlstate::kInsufficientPrivilege);
    EXPECT_NE(std::string(e.what()).find("AccessDenied"), std::string::npos) << e.what();
  }
  writer.reset();
  EXPECT_EQ(server.Count("POST"), 1);
  EXPECT_EQ(server.Count("PUT"), 0);
  EXPECT_EQ(server.Count("DELETE"), 0);
}

TEST(S3FaultTest, CompletionThatSucceededButLostItsAnswerIsConfirmed) {
  std::atomic<int> completes{0};
  std::atomic<bool> completed{false};
  const uint64_t size = 6 * kMiB;
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsProbe(r)) {
      if (!completed) return S3Error(404, "NoSuchKey");
      FakeResponse r206 = Ok("x", {{"Content-Range", "bytes 0-0/" + std::to_string(size)}});
      r206.status = 206;
      return r206;
    }
    if (r.method == "POST" && r.query == "uploads")
      return Ok(
          "<InitiateMultipartUploadResult><UploadId>UP</UploadId>"
          "</InitiateMultipartUploadResult>");
    if (r.method == "PUT") return Ok({}, {{"ETag", "\"e\""}});
    if (r.method == "POST") {
      if (++completes == 1) {
        completed = true;  // done on the server, but the answer is lost
        FakeResponse drop;
        drop.action = FakeResponse::kDropConnection;
        return drop;
      }
      return S3Error(404, "NoSuchUpload");
    }
    return S3Error(400, "Unexpected");
  });
  auto store = StoreFor(server);
  auto writer = store->Create("obj");
  std::string data(size, 'y');
  writer->Write(data.data(), data.size());
  writer->Finish();
  writer->Commit();
  EXPECT_EQ(completes.load(), 2);
  EXPECT_EQ(server.Count("DELETE"), 0);
}

TEST(S3FaultTest, ErrorInsideA200CompletionIsRetried) {
  std::atomic<int> completes{0};
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsProbe(r)) return S3Error(404, "NoSuchKey");
    if (r.method == "POST" && r.query == "uploads")
      return Ok(
          "<InitiateMultipartUploadResult><UploadId>UP</UploadId>"
          "</InitiateMultipartUploadResult>");
    if (r.method == "PUT") return Ok({}, {{"ETag", "\"e\""}});
    if (r.method == "POST") {
      if (++completes == 1)
        return Ok("<Error><Code>InternalError</Code><Message>try again</Message></Error>");
      return Ok("<CompleteMultipartUploadResult/>");
    }
    return S3Error(400, "Unexpected");
  });
  auto store = StoreFor(server);
  auto writer = store->Create("obj");
  std::string data(5 * kMiB + 1, 'z');
  writer->Write(data.data(), data.size());
  writer->Finish();
  writer->Commit();
  EXPECT_EQ(completes.load(), 2);
}

TEST(S3FaultTest, ConnectionFailureNamesTheHostNotTheSecret) {
  int port;
  {
    FakeS3Server closed([](const FakeRequest &) { return Ok(); });
    port = closed.port();
  }  // nothing listens there any more
  S3Location loc = ParseS3Location("s3://bucket/root",
                                   {{"endpoint", "http://127.0.0.1:" + std::to_string(port)}});
  loc.retry.max_attempts = 2;
  loc.retry.base_delay = milliseconds(5);
  S3Store store(loc, kCredentials);
  try {
    store.List("");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), sqlstate::kConnectionFailure);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << e.what();
    EXPECT_NE(e.detail().find("2 attempts"), std::string::npos) << e.detail();
    EXPECT_EQ(ErrorText(e).find(kCredentials.secret_access_key), std::string::npos);
  }
}

TEST(S3FaultTest, SecretsNeverReachAnError) {
  // A server (or proxy) that echoes what it got must not leak it.
  FakeS3Server server([&](const FakeRequest &r) {
    return S3Error(400, "InvalidArgument",
                   "bad " + r.headers.at("authorization") + " token " +
                       r.headers.at("x-amz-security-token") + " " + kCredentials.secret_access_key);
  });
  auto store = StoreFor(server);
  try {
    store->List("");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    std::string text = ErrorText(e);
    EXPECT_EQ(text.find(kCredentials.access_key_id), std::string::npos) << text;
    EXPECT_EQ(text.find(kCredentials.secret_access_key), std::string::npos) << text;
    EXPECT_EQ(text.find(kCredentials.session_token), std::string::npos) << text;
    EXPECT_NE(text.find("[redacted]"), std::string::npos);
  }
}

TEST(S3FaultTest, StalledReadIsInterruptedWithinASecond) {
  FakeS3Server server([&](const FakeRequest &) {
    FakeResponse stall;
    stall.action = FakeResponse::kStall;
    return stall;
  });
  auto store = StoreFor(server);
  auto start = Clock::now();
  store->SetInterruptCheck([&] { return Clock::now() - start > milliseconds(300); });
  EXPECT_THROW(store->Open("x.csv"), Interrupted);
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
}

TEST(S3FaultTest, RetrySleepIsInterrupted) {
  FakeS3Server server([&](const FakeRequest &) { return S3Error(503, "SlowDown"); });
  S3Location loc = ParseS3Location("s3://bucket/root", {{"endpoint", server.endpoint()}});
  loc.retry.max_attempts = 10;
  loc.retry.base_delay = milliseconds(60000);  // would wait up to a minute
  loc.retry.max_delay = milliseconds(60000);
  S3Store store(loc, kCredentials);
  auto start = Clock::now();
  store.SetInterruptCheck([&] { return Clock::now() - start > milliseconds(300); });
  // A full-jitter delay may be short; whichever way, the cancel comes through quickly.
  EXPECT_THROW(store.List(""), Interrupted);
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
}

TEST(S3FaultTest, StalledTransferTimesOutAndIsRetried) {
  std::atomic<int> gets{0};
  FakeS3Server server([&](const FakeRequest &r) {
    if (r.method == "GET" && ++gets == 1) {
      FakeResponse stall;
      stall.action = FakeResponse::kStall;
      return stall;
    }
    FakeResponse ok = Ok("0123456789", {{"Content-Range", "bytes 0-9/10"}});
    ok.status = 206;
    return ok;
  });
  S3Location loc = ParseS3Location("s3://bucket/root", {{"endpoint", server.endpoint()}});
  loc.low_speed_seconds = 1;
  loc.retry.base_delay = milliseconds(5);
  S3Store store(loc, kCredentials);
  auto source = store.Open("x.csv");
  char buffer[32];
  size_t n = source->Read(buffer, sizeof(buffer));
  EXPECT_EQ(std::string(buffer, n), "0123456789");
  EXPECT_EQ(source->Read(buffer, sizeof(buffer)), 0u);
  EXPECT_EQ(gets.load(), 2);
}

TEST(S3FaultTest, InterruptedPartUploadIsCancelledAndAborted) {
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsProbe(r)) return S3Error(404, "NoSuchKey");
    if (r.method == "POST" && r.query == "uploads")
      return Ok(
          "<InitiateMultipartUploadResult><UploadId>UP9</UploadId>"
          "</InitiateMultipartUploadResult>");
    if (r.method == "PUT") {
      FakeResponse stall;
      stall.action = FakeResponse::kStall;
      return stall;
    }
    if (r.method == "DELETE") {
      FakeResponse gone;
      gone.status = 204;
      return gone;
    }
    return S3Error(400, "Unexpected");
  });
  auto store = StoreFor(server);
  std::atomic<bool> cancel{false};
  store->SetInterruptCheck([&] { return cancel.load(); });
  auto writer = store->Create("big");
  // Parts 1..kDefaultUploadsInFlight go to the upload threads and stall.
  std::string data((s3::kDefaultUploadsInFlight + 1) * 5 * kMiB, 'q');
  writer->Write(data.data(), s3::kDefaultUploadsInFlight * 5 * kMiB + 1);
  auto start = Clock::now();
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(300));
    cancel = true;
  });
  // The next part needs a free upload thread: waits for part 1.
  EXPECT_THROW(writer->Write(data.data(), 5 * kMiB), Interrupted);
  canceller.join();
  EXPECT_LT(Clock::now() - start, milliseconds(2500));
  writer.reset();  // statement unwinds: the upload is aborted
  EXPECT_EQ(server.Count("DELETE", "uploadId=UP9"), 1);
  EXPECT_EQ(server.Count("POST", "uploadId=UP9"), 0);  // never completed
}

// SSE-C: every request that writes or reads an object carries the key
// (PutObject, CreateMultipartUpload, each UploadPart, the completion, the
// probes and ranged GETs); listing and removal do not need it. A read the
// store refuses names sse_customer_key in its hint, never the key.
TEST(S3FaultTest, CustomerKeyOnEveryObjectRequest) {
  const std::string key_b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  std::mutex mutex;
  std::map<std::string, std::string> objects;
  bool refuse_reads = false;
  FakeS3Server server([&](const FakeRequest &r) {
    std::lock_guard<std::mutex> lock(mutex);
    if (r.method == "GET" && r.headers.count("range")) {
      if (refuse_reads) return S3Error(403, "AccessDenied", "Access Denied");
      auto it = objects.find(r.path);
      if (it == objects.end()) return S3Error(404, "NoSuchKey");
      FakeResponse ok = Ok(it->second);
      return ok;
    }
    if (r.method == "POST" && r.query == "uploads")
      return Ok(
          "<InitiateMultipartUploadResult><UploadId>UPC</UploadId>"
          "</InitiateMultipartUploadResult>");
    if (r.method == "PUT" && r.query.find("partNumber=") != std::string::npos) {
      objects["parts"] += r.body;
      return Ok({}, {{"ETag", "\"p\""}});
    }
    if (r.method == "PUT") {
      objects[r.path] = r.body;
      return Ok({}, {{"ETag", "\"e\""}});
    }
    if (r.method == "POST" && r.query == "uploadId=UPC") {
      objects[r.path] = objects["parts"];
      return Ok("<CompleteMultipartUploadResult></CompleteMultipartUploadResult>");
    }
    return S3Error(400, "Unexpected");
  });
  S3Location loc =
      ParseS3Location("s3://bucket/root", {{"endpoint", server.endpoint()}, {"part_size", "5MB"}});
  loc.retry.max_attempts = 1;
  Credentials credentials = kCredentials;
  credentials.sse_customer_key = key_b64;
  S3Store store(loc, credentials);
  std::string big(11 * kMiB, 'k');
  for (const char *name : {"small", "big"}) {
    auto writer = store.Create(name);
    if (std::string(name) == "big")
      writer->Write(big.data(), big.size());
    else
      writer->Write("abc", 3);
    writer->Finish();
    writer->Commit();
  }
  auto reader = store.Open("small");
  char buffer[8];
  EXPECT_EQ(reader->Read(buffer, sizeof buffer), 3u);
  int object_requests = 0;
  for (const auto &r : server.requests()) {
    object_requests++;
    SCOPED_TRACE(r.method + " " + r.path + "?" + r.query);
    ASSERT_TRUE(r.headers.count("x-amz-server-side-encryption-customer-key"));
    EXPECT_EQ(r.headers.at("x-amz-server-side-encryption-customer-key"), key_b64);
    EXPECT_EQ(r.headers.at("x-amz-server-side-encryption-customer-algorithm"), "AES256");
    EXPECT_EQ(r.headers.at("x-amz-server-side-encryption-customer-key-md5"),
              "tP/LI3N87DFaSk0aoqYgzg==");
    EXPECT_EQ(r.headers.count("x-amz-server-side-encryption"), 0u);
    // Signed, as every x-amz-* header must be.
    EXPECT_NE(r.headers.at("authorization").find("x-amz-server-side-encryption-customer-key;"),
              std::string::npos);
  }
  EXPECT_EQ(server.Count("PUT", "partNumber="), 3);
  EXPECT_EQ(server.Count("POST", "uploads"), 1);
  EXPECT_EQ(server.Count("POST", "uploadId=UPC"), 1);
  EXPECT_GE(object_requests, 7);

  {
    std::lock_guard<std::mutex> lock(mutex);
    refuse_reads = true;
  }
  try {
    auto refused = store.Open("small");
    refused->Read(buffer, sizeof buffer);
    FAIL() << "expected an error";
  } catch (const Error &e) {
    std::string text = ErrorText(e);
    EXPECT_NE(text.find("AccessDenied"), std::string::npos) << text;
    EXPECT_NE(e.hint().find("Check sse_customer_key"), std::string::npos) << text;
    EXPECT_EQ(text.find(key_b64), std::string::npos) << text;
  }
}

// SSE-KMS headers go on PutObject and CreateMultipartUpload only: S3
// refuses them on UploadPart.
TEST(S3FaultTest, KmsHeadersOnObjectCreationOnly) {
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsProbe(r)) return S3Error(404, "NoSuchKey");
    if (r.method == "POST" && r.query == "uploads")
      return Ok(
          "<InitiateMultipartUploadResult><UploadId>UPK</UploadId>"
          "</InitiateMultipartUploadResult>");
    if (r.method == "PUT") return Ok({}, {{"ETag", "\"e\""}});
    if (r.method == "POST") return Ok("<CompleteMultipartUploadResult/>");
    return S3Error(400, "Unexpected");
  });
  S3Location loc = ParseS3Location("s3://bucket/root", {{"endpoint", server.endpoint()},
                                                        {"part_size", "5MB"},
                                                        {"sse", "aws:kms"},
                                                        {"sse_kms_key_id", "alias/cdw"},
                                                        {"sse_kms_context", "{\"app\": \"cdw\"}"}});
  S3Store store(loc, kCredentials);
  std::string big(6 * kMiB, 'm');
  for (const char *name : {"small", "big"}) {
    auto writer = store.Create(name);
    writer->Write(big.data(), std::string(name) == "big" ? big.size() : 10);
    writer->Finish();
    writer->Commit();
  }
  int creations = 0;
  for (const auto &r : server.requests()) {
    SCOPED_TRACE(r.method + " " + r.path + "?" + r.query);
    bool creates = (r.method == "PUT" && r.query.empty()) || r.query == "uploads";
    creations += creates;
    if (creates) {
      EXPECT_EQ(r.headers.at("x-amz-server-side-encryption"), "aws:kms");
      EXPECT_EQ(r.headers.at("x-amz-server-side-encryption-aws-kms-key-id"), "alias/cdw");
      EXPECT_EQ(r.headers.at("x-amz-server-side-encryption-context"), "eyJhcHAiOiAiY2R3In0=");
    } else {
      EXPECT_EQ(r.headers.count("x-amz-server-side-encryption"), 0u);
      EXPECT_EQ(r.headers.count("x-amz-server-side-encryption-aws-kms-key-id"), 0u);
    }
  }
  EXPECT_EQ(creations, 2);
}

// --- credentials from instance metadata (the same fake server plays IMDS) ---

std::atomic<long long> g_fake_now{0};
long long FakeNow() {
  return g_fake_now.load();
}

std::string Iso8601(long long t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buffer[32];
  strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

struct ClockGuard {
  ClockGuard() {
    g_fake_now = 1800000000;
    SetCredentialClockForTest(FakeNow);
    ResetCredentialProvidersForTest();
  }
  ~ClockGuard() {
    SetCredentialClockForTest(nullptr);
    ResetCredentialProvidersForTest();
  }
};

// IMDSv2 on `server`: each credentials document is a new set "ASIAGEN<n>"
// (token "TOKEN<n>") valid for 20 s from the fake clock.
FakeResponse Imds(const FakeRequest &r, std::atomic<int> *generation) {
  if (r.method == "PUT" && r.path == "/latest/api/token") {
    if (!r.headers.count("x-aws-ec2-metadata-token-ttl-seconds")) return S3Error(400, "NoTtl");
    return Ok("IMDSTOKEN");
  }
  if (!r.headers.count("x-aws-ec2-metadata-token") ||
      r.headers.at("x-aws-ec2-metadata-token") != "IMDSTOKEN")
    return S3Error(401, "Unauthorized");
  if (r.path == "/latest/meta-data/iam/security-credentials/") return Ok("backup-role\n");
  if (r.path != "/latest/meta-data/iam/security-credentials/backup-role")
    return S3Error(404, "NotFound");
  int n = ++*generation;
  return Ok("{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAGEN" + std::to_string(n) +
            "\",\"SecretAccessKey\":\"SECRET" + std::to_string(n) + "\",\"Token\":\"TOKEN" +
            std::to_string(n) + "\",\"Expiration\":\"" + Iso8601(g_fake_now + 20) + "\"}");
}

bool IsMetadata(const FakeRequest &r) {
  return r.path.rfind("/latest/", 0) == 0;
}

TEST(S3CredentialRenewalTest, MultipartUploadSignsEachPartWithCurrentCredentials) {
  ClockGuard clock;
  std::atomic<int> generation{0};
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsMetadata(r)) return Imds(r, &generation);
    if (IsProbe(r)) return S3Error(404, "NoSuchKey");
    if (r.method == "POST" && r.query == "uploads")
      return Ok(
          "<InitiateMultipartUploadResult><UploadId>UPR</UploadId>"
          "</InitiateMultipartUploadResult>");
    if (r.method == "PUT") return Ok({}, {{"ETag", "\"p\""}});
    if (r.method == "POST") return Ok("<CompleteMultipartUploadResult/>");
    return S3Error(400, "Unexpected");
  });
  S3Location loc = ParseS3Location("s3://bucket/root", {{"endpoint", server.endpoint()},
                                                        {"part_size", "5MB"},
                                                        {"credentials", "imds"},
                                                        {"metadata_endpoint", server.endpoint()}});
  S3Store store(loc, Credentials{});
  auto writer = store.Create("big.csv");
  std::string chunk(5 * 1024 * 1024, 'x');
  // Parts upload on helper threads: the clock moves only once the part
  // before has reached the server (signed).
  auto arrived = [&](const std::string &part) {
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (server.Count("PUT", part) == 0 && Clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(2));
    return server.Count("PUT", part) == 1;
  };
  writer->Write(chunk.data(), chunk.size());
  writer->Write(chunk.data(), chunk.size());  // part 1 goes
  ASSERT_TRUE(arrived("partNumber=1&"));
  g_fake_now += 16;                           // within the renewal window of set 1 (20 s)
  writer->Write(chunk.data(), chunk.size());  // part 2 goes
  ASSERT_TRUE(arrived("partNumber=2&"));
  g_fake_now += 30;  // set 2 has expired
  writer->Write("tail", 4);
  writer->Finish();  // part 3 goes
  writer->Commit();
  std::map<std::string, std::string> key_of_part;
  for (const auto &r : server.requests()) {
    if (IsMetadata(r)) continue;
    const std::string &auth = r.headers.at("authorization");
    size_t at = auth.find("Credential=") + 11;
    std::string key = auth.substr(at, auth.find('/', at) - at);
    // The session token sent is the one of the key that signed.
    EXPECT_EQ(r.headers.at("x-amz-security-token"), "TOKEN" + key.substr(7)) << key;
    if (r.method == "PUT") key_of_part[r.query.substr(0, r.query.find('&'))] = key;
  }
  EXPECT_EQ(key_of_part["partNumber=1"], "ASIAGEN1");
  EXPECT_EQ(key_of_part["partNumber=2"], "ASIAGEN2");
  EXPECT_EQ(key_of_part["partNumber=3"], "ASIAGEN3");
  EXPECT_EQ(generation.load(), 3);
  int token_requests = 0;
  for (const auto &r : server.requests()) token_requests += r.path == "/latest/api/token";
  EXPECT_EQ(token_requests, 3);  // a fresh IMDSv2 token for each renewal
}

TEST(S3CredentialRenewalTest, ExpiredTokenIsRenewedAndRetriedOnce) {
  ClockGuard clock;
  std::atomic<int> generation{0};
  FakeS3Server server([&](const FakeRequest &r) {
    if (IsMetadata(r)) return Imds(r, &generation);
    if (r.headers.at("x-amz-security-token") == "TOKEN1")
      return S3Error(400, "ExpiredToken", "The provided token has expired.");
    return Ok("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  });
  S3Location loc = ParseS3Location("s3://bucket/root", {{"endpoint", server.endpoint()},
                                                        {"credentials", "imds"},
                                                        {"metadata_endpoint", server.endpoint()}});
  S3Store store(loc, Credentials{});
  EXPECT_TRUE(store.List("").empty());
  EXPECT_EQ(generation.load(), 2);
}

TEST(S3CredentialRenewalTest, UnreachableMetadataIsAClearErrorWithoutSecrets) {
  ClockGuard clock;
  std::string endpoint;
  {
    FakeS3Server gone([](const FakeRequest &) { return Ok(); });
    endpoint = gone.endpoint();
  }  // nothing listens there any more
  S3Location loc = ParseS3Location(
      "cos://backup-1250000000.cos.ap-guangzhou.myqcloud.com/p",
      {{"credentials", "instance"}, {"role", "cdw"}, {"metadata_endpoint", endpoint}});
  S3Store store(loc, Credentials{});
  try {
    store.List("");
    ADD_FAILURE() << "no error";
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), "08006");
    EXPECT_NE(std::string(e.what()).find("Tencent CVM instance metadata at " + endpoint),
              std::string::npos)
        << ErrorText(e);
    EXPECT_NE(e.detail().find("GET /latest/meta-data/cam/security-credentials/cdw"),
              std::string::npos)
        << ErrorText(e);
    EXPECT_NE(e.hint().find("CAM role"), std::string::npos) << ErrorText(e);
  }
}

TEST(S3CredentialRenewalTest, CvmRoleAndCosSecurityToken) {
  ClockGuard clock;
  std::atomic<int> documents{0};
  FakeS3Server server([&](const FakeRequest &r) {
    if (r.path == "/latest/meta-data/cam/security-credentials/") return Ok("cvm-role");
    if (r.path == "/latest/meta-data/cam/security-credentials/cvm-role") {
      ++documents;
      return Ok(
          "{\"TmpSecretId\":\"AKIDTMP\",\"TmpSecretKey\":\"TMPKEY\",\"Token\":\"CVMTOKEN\","
          "\"ExpiredTime\":" +
          std::to_string(g_fake_now + 7200) + ",\"Code\":\"Success\"}");
    }
    return Ok("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  });
  S3Location loc = ParseS3Location("cos://backup-1250000000.cos.ap-guangzhou.myqcloud.com/p",
                                   {{"endpoint", server.endpoint()},
                                    {"path_style", "true"},
                                    {"credentials", "cvm"},
                                    {"metadata_endpoint", server.endpoint()}});
  S3Store store(loc, Credentials{});
  store.List("");
  store.List("");
  EXPECT_EQ(documents.load(), 1);  // valid for two hours: fetched once
  int signed_requests = 0;
  for (const auto &r : server.requests()) {
    if (IsMetadata(r)) continue;
    signed_requests++;
    EXPECT_EQ(r.headers.at("x-amz-security-token"), "CVMTOKEN");
    EXPECT_EQ(r.headers.at("x-cos-security-token"), "CVMTOKEN");
    EXPECT_NE(r.headers.at("authorization").find("x-cos-security-token"), std::string::npos);
    EXPECT_NE(r.headers.at("authorization").find("Credential=AKIDTMP/"), std::string::npos);
  }
  EXPECT_EQ(signed_requests, 2);
}

// Storage classes go out in each provider's own header: data objects get
// storage_class (single PUT and Initiate Multipart Upload), metadata objects
// manifest_storage_class. Against a recording server, so the test fails
// when a header stops being sent or is misnamed.
TEST(S3FaultTest, StorageClassHeadersPerProviderAndObjectKind) {
  auto handler = [&](const FakeRequest &r) {
    if (IsProbe(r)) return S3Error(404, "NoSuchKey");
    if (r.method == "POST" && r.query == "uploads")
      return Ok(
          "<InitiateMultipartUploadResult><UploadId>UP5</UploadId>"
          "</InitiateMultipartUploadResult>");
    if (r.method == "PUT") return Ok({}, {{"ETag", "\"e\""}});
    if (r.method == "POST") return Ok("<CompleteMultipartUploadResult/>");
    return S3Error(400, "Unexpected");
  };
  for (bool cos : {false, true}) {
    FakeS3Server server(handler);
    StoreOptions options = {{"storage_class", cos ? "ARCHIVE" : "DEEP_ARCHIVE"},
                            {"part_size", "5MB"}};
    std::string location = "s3://bucket/root";
    if (cos) {
      location = "cos://b-1250000000.cos.ap-guangzhou.myqcloud.com/root";
      options["https"] = "false";
      options["connect_to"] =
          "127.0.0.1:" + server.endpoint().substr(server.endpoint().rfind(':') + 1);
    } else {
      options["endpoint"] = server.endpoint();
    }
    S3Store store(ParseS3Location(location, options), kCredentials);
    const std::string header = cos ? "x-cos-storage-class" : "x-amz-storage-class";
    const std::string other = cos ? "x-amz-storage-class" : "x-cos-storage-class";
    const std::string data_class = cos ? "ARCHIVE" : "DEEP_ARCHIVE";
    auto small = store.Create("part-1.csv.gz");
    small->Write("abc", 3);
    small->Finish();
    small->Commit();
    auto manifest = store.Create("manifest.json", ObjectKind::kMetadata);
    manifest->Write("{}", 2);
    manifest->Finish();
    manifest->Commit();
    auto big = store.Create("part-2.csv.gz");
    std::string bytes(6 * kMiB, 'x');
    big->Write(bytes.data(), bytes.size());
    big->Finish();
    big->Commit();
    int checked = 0;
    for (const auto &r : server.requests()) {
      if (IsProbe(r)) continue;
      bool initiate = r.method == "POST" && r.query == "uploads";
      bool single_put = r.method == "PUT" && r.query.empty();
      EXPECT_EQ(r.headers.count(other), 0u) << r.method << " " << r.path;
      if (initiate || single_put) {
        checked++;
        std::string expected =
            r.path.find("manifest.json") != std::string::npos ? "STANDARD" : data_class;
        ASSERT_EQ(r.headers.count(header), 1u) << r.method << " " << r.path;
        EXPECT_EQ(r.headers.at(header), expected) << r.path;
        // Signed like every header we add.
        EXPECT_NE(r.headers.at("authorization").find(header), std::string::npos);
      } else {
        // Parts and the completion carry no class (S3 takes it from the initiate).
        EXPECT_EQ(r.headers.count(header), 0u) << r.method << " " << r.path << "?" << r.query;
      }
    }
    EXPECT_EQ(checked, 3) << (cos ? "cos" : "s3");
  }
}

TEST(S3FaultTest, ThawStatusFromHeadAndRestoreRequest) {
  std::atomic<int> restores{0};
  FakeS3Server server([&](const FakeRequest &r) {
    if (r.method == "HEAD" && r.path == "/bucket/root/cold")
      return Ok({}, {{"x-amz-storage-class", "GLACIER"}});
    if (r.method == "HEAD" && r.path == "/bucket/root/thawing")
      return Ok({}, {{"x-amz-storage-class", "DEEP_ARCHIVE"},
                     {"x-amz-restore", "ongoing-request=\"true\""}});
    if (r.method == "HEAD" && r.path == "/bucket/root/thawed")
      return Ok({}, {{"x-amz-storage-class", "GLACIER"},
                     {"x-amz-restore",
                      "ongoing-request=\"false\", expiry-date=\"Fri, 23 Dec 2012 00:00:00 GMT\""}});
    if (r.method == "HEAD" && r.path == "/bucket/root/cos-cold")
      return Ok({}, {{"x-cos-storage-class", "ARCHIVE"}});
    if (r.method == "HEAD" && r.path == "/bucket/root/hot") return Ok();
    if (r.method == "POST" && r.query == "restore" && r.path == "/bucket/root/cold") {
      restores++;
      FakeResponse accepted;
      accepted.status = 202;
      return accepted;
    }
    if (r.method == "POST" && r.query == "restore") return S3Error(403, "AccessDenied", "denied");
    return S3Error(404, "NoSuchKey");
  });
  auto store = StoreFor(server);
  std::string storage_class;
  EXPECT_EQ(store->Archive("cold", &storage_class), ArchiveState::kArchived);
  EXPECT_EQ(storage_class, "GLACIER");
  EXPECT_EQ(store->Archive("thawing"), ArchiveState::kThawing);
  EXPECT_EQ(store->Archive("thawed"), ArchiveState::kReadable);
  EXPECT_EQ(store->Archive("cos-cold"), ArchiveState::kArchived);
  EXPECT_EQ(store->Archive("hot", &storage_class), ArchiveState::kReadable);
  EXPECT_EQ(storage_class, "");
  EXPECT_THROW(store->Archive("missing"), Error);

  EXPECT_EQ(store->RequestThaw("cold", ThawRequest{"Bulk", 4}), ArchiveState::kThawing);
  EXPECT_EQ(restores.load(), 1);
  for (const auto &r : server.requests()) {
    if (r.method != "POST") continue;
    EXPECT_NE(r.body.find("<Days>4</Days><GlacierJobParameters><Tier>Bulk</Tier>"),
              std::string::npos)
        << r.body;
    EXPECT_EQ(r.headers.at("content-md5"), ContentMd5Base64(r.body.data(), r.body.size()));
  }
  // A refusal carries the store's code and the action to allow.
  try {
    store->RequestThaw("other", ThawRequest{"Standard", 1});
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("could not thaw object"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("AccessDenied"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("s3:RestoreObject"), std::string::npos) << e.hint();
  }
}

TEST(S3FaultTest, ReadingAnArchivedObjectNamesTheThawArguments) {
  FakeS3Server server([&](const FakeRequest &) {
    return S3Error(403, "InvalidObjectState",
                   "The operation is not valid for the object's storage class");
  });
  auto store = StoreFor(server);
  try {
    store->Open("cold");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("InvalidObjectState"), std::string::npos);
    EXPECT_NE(e.hint().find("must be thawed"), std::string::npos) << e.hint();
    EXPECT_NE(e.hint().find("restore_tier"), std::string::npos) << e.hint();
    EXPECT_NE(e.hint().find("wait => false"), std::string::npos) << e.hint();
  }
}

}  // namespace
}  // namespace cdw::s3
