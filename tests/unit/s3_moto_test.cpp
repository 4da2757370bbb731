// S3Store against a real S3 implementation: moto's server, started by the
// fixture with INITIAL_NO_AUTH_ACTION_COUNT so that, once the set-up calls
// (IAM users, access keys, buckets) are done, every request's SigV4
// signature is verified. Objects are checked independently with boto3
// (data/moto_setup.py). A missing moto_server fails the tests.
//
// moto is run through data/moto_server_raw_uri.py, which is moto_server with
// one fix: moto checks signatures against a percent-decoded URL, so it
// rejects correctly signed requests (boto3's too) whose query or key holds
// '/', '+', '%' or non-ASCII characters, e.g. every ListObjectsV2 with a
// prefix "dir/". The launcher makes the check use the raw request line.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/sha256.h"
#include "s3/s3_store.h"
#include "storage/store_factory.h"

namespace cdw::s3 {
namespace {

constexpr const char *kBucket = "cdw-test";
constexpr const char *kCosBucket = "cdwcos-1250000000";
constexpr int kSetupCalls = 8;  // moto_setup.py: 2 users x 3 IAM calls + 2 buckets

std::string Quote(const std::string &arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs data/moto_setup.py; returns its stdout, or sets *error.
std::string RunHelper(const std::vector<std::string> &args, std::string *error = nullptr) {
  std::string command = "python3 " + Quote(std::string(CDW_TEST_DATA_DIR) + "/moto_setup.py");
  for (const auto &arg : args) command += " " + Quote(arg);
  command += " 2>&1";
  FILE *pipe = popen(command.c_str(), "r");
  if (!pipe) {
    if (error) *error = "popen failed";
    return {};
  }
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  int status = pclose(pipe);
  if (status != 0) {
    std::string message = "moto_setup.py " + args[0] + " failed: " + out;
    if (error)
      *error = message;
    else
      ADD_FAILURE() << message;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool OnPath(const std::string &program) {
  const char *path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// True once moto answers GET /moto-api/ with 200.
bool MotoAnswers(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0) {
    const char request[] = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request, sizeof(request) - 1) == static_cast<ssize_t>(sizeof(request) - 1)) {
      char reply[64] = {0};
      ssize_t n = read(fd, reply, sizeof(reply) - 1);
      ok = n > 12 && std::string(reply, static_cast<size_t>(n)).find(" 200 ") != std::string::npos;
    }
  }
  close(fd);
  return ok;
}

std::string Pattern(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string data(size, '\0');
  for (auto &c : data) c = static_cast<char>(rng());
  return data;
}

std::string ReadAll(ByteSource *source) {
  std::string out;
  char buffer[100000];  // odd size: reads straddle the ranges
  for (size_t n; (n = source->Read(buffer, sizeof(buffer))) > 0;) out.append(buffer, n);
  return out;
}

class S3MotoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    error_ = new std::string();
    if (!OnPath("moto_server")) {
      *error_ = "moto_server is not on PATH; install moto[server] to run the S3 tests";
      return;
    }
    port_ = FreePort();
    log_path_ = "/tmp/cdw-s3-moto-" + std::to_string(getpid()) + ".log";
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
      }
      setenv("INITIAL_NO_AUTH_ACTION_COUNT", std::to_string(kSetupCalls).c_str(), 1);
      std::string port = std::to_string(port_);
      std::string launcher = std::string(CDW_TEST_DATA_DIR) + "/moto_server_raw_uri.py";
      execlp("python3", "python3", launcher.c_str(), "-H", "127.0.0.1", "-p", port.c_str(),
             static_cast<char *>(nullptr));
      _exit(127);
    }
    if (pid_ < 0) {
      *error_ = "fork failed";
      return;
    }
    setpgid(pid_, pid_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!MotoAnswers(port_)) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *error_ = "moto_server exited during start-up; see " + log_path_;
        return;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        *error_ = "moto_server did not answer within 60 s; see " + log_path_;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    endpoint_ = "http://127.0.0.1:" + std::to_string(port_);
    std::string out =
        RunHelper({"setup", endpoint_, std::to_string(kSetupCalls), kBucket, kCosBucket}, error_);
    if (!error_->empty()) return;
    std::istringstream lines(out);
    std::string who, id, secret;
    while (lines >> who >> id >> secret) {
      if (who == "writer") writer_ = {id, secret, ""};
      if (who == "reader") reader_ = {id, secret, ""};
    }
    if (writer_.empty() || reader_.empty()) *error_ = "unexpected set-up output: " + out;
  }

  static void TearDownTestSuite() {
    if (pid_ > 0) {
      kill(-pid_, SIGTERM);
      int status = 0;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          kill(-pid_, SIGKILL);
          waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      pid_ = -1;
    }
    if (error_->empty()) unlink(log_path_.c_str());  // kept when start-up failed
    delete error_;
    error_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(error_->empty()) << *error_; }

  std::unique_ptr<ObjectStore> Store(const std::string &location, StoreOptions options = {},
                                     const Credentials *credentials = nullptr) {
    if (location.rfind("s3://", 0) == 0 && !options.count("endpoint"))
      options["endpoint"] = endpoint_;
    return OpenObjectStore(location, options, credentials ? *credentials : writer_);
  }

  // Independent view through boto3.
  std::string Boto3Object(const std::string &bucket, const std::string &key) {
    return RunHelper(
        {"object", endpoint_, writer_.access_key_id, writer_.secret_access_key, bucket, key});
  }
  int Boto3Uploads(const std::string &bucket, const std::string &prefix) {
    return std::stoi(RunHelper(
        {"uploads", endpoint_, writer_.access_key_id, writer_.secret_access_key, bucket, prefix}));
  }
  static std::string SizeAndHash(const std::string &data) {
    return std::to_string(data.size()) + " " + Sha256::HexOf(data.data(), data.size());
  }
  void ExpectNoSecrets(const Error &e) {
    for (const std::string *text :
         {&writer_.secret_access_key, &writer_.access_key_id, &reader_.secret_access_key}) {
      EXPECT_EQ(std::string(e.what()).find(*text), std::string::npos);
      EXPECT_EQ(e.detail().find(*text), std::string::npos);
      EXPECT_EQ(e.hint().find(*text), std::string::npos);
    }
  }

  static std::string *error_;
  static pid_t pid_;
  static int port_;
  static std::string log_path_;
  static std::string endpoint_;
  static Credentials writer_;
  static Credentials reader_;
};

std::string *S3MotoTest::error_ = nullptr;
pid_t S3MotoTest::pid_ = -1;
int S3MotoTest::port_ = 0;
std::string S3MotoTest::log_path_;
std::string S3MotoTest::endpoint_;
Credentials S3MotoTest::writer_;
Credentials S3MotoTest::reader_;

TEST_F(S3MotoTest, SmallObjectAppearsOnlyOnCommit) {
  auto store = Store("s3://cdw-test/small");
  const std::string key = "odd keys/\xc3\xbc+%41 a~b(1)!.csv";
  auto writer = store->Create(key);
  writer->Write("hello, ", 7);
  writer->Write("world\n", 6);
  writer->Finish();
  EXPECT_TRUE(store->List("").empty());
  EXPECT_EQ(Boto3Object(kBucket, "small/" + key), "missing");
  writer->Commit();
  auto listed = store->List("");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].key, key);
  EXPECT_EQ(listed[0].size, 13u);
  EXPECT_EQ(Boto3Object(kBucket, "small/" + key), SizeAndHash("hello, world\n"));
  EXPECT_EQ(ReadAll(store->Open(key).get()), "hello, world\n");
  EXPECT_EQ(store->Url(key), "s3://cdw-test/small/" + key);

  // Backups never overwrite.
  try {
    store->Create(key);
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos);
  }
  // Empty objects work too.
  auto empty = store->Create("empty.csv");
  empty->Finish();
  empty->Commit();
  EXPECT_EQ(ReadAll(store->Open("empty.csv").get()), "");
  EXPECT_EQ(Boto3Object(kBucket, "small/empty.csv"), SizeAndHash(""));

  store->Remove(key);
  store->Remove(key);  // a missing object is not an error
  EXPECT_EQ(Boto3Object(kBucket, "small/" + key), "missing");
  try {
    store->Open(key);
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_EQ(e.sqlstate(), sqlstate::kUndefinedFile);
    EXPECT_NE(std::string(e.what()).find("NoSuchKey"), std::string::npos);
  }
}

TEST_F(S3MotoTest, LargeObjectGoesMultipartAndIsByteExact) {
  auto store = Store("s3://cdw-test/big", {{"part_size", "5MB"}});
  const std::string data = Pattern(12 * kMiB + 12345, 7);
  auto writer = store->Create("t/part-00001.csv");
  std::mt19937 rng(1);
  for (size_t offset = 0; offset < data.size();) {
    size_t n = std::min<size_t>(data.size() - offset, 1 + rng() % 300000);
    writer->Write(data.data() + offset, n);
    offset += n;
  }
  writer->Finish();
  // All parts are uploaded, the object is not there yet.
  EXPECT_EQ(Boto3Object(kBucket, "big/t/part-00001.csv"), "missing");
  EXPECT_EQ(Boto3Uploads(kBucket, "big/"), 1);
  writer->Commit();
  EXPECT_EQ(Boto3Uploads(kBucket, "big/"), 0);
  EXPECT_EQ(Boto3Object(kBucket, "big/t/part-00001.csv"), SizeAndHash(data));
  std::string back = ReadAll(store->Open("t/part-00001.csv").get());
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data);
  auto listed = store->List("t/");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].size, data.size());
}

// Background commits (ObjectWriter::CommitInBackground): several single
// PUTs in flight at once, each visible once its Wait() returned; parts
// (ObjectKind::kPart) skip the existence check; a multipart object commits
// at once; a cancelled commit reports so on Wait().
TEST_F(S3MotoTest, BackgroundCommitsOverlapAndAreVisibleAfterWait) {
  auto store = Store("s3://cdw-test/background", {{"uploads_in_flight", "3"}});
  std::vector<std::unique_ptr<PendingCommit>> pending;
  for (int i = 0; i < 5; i++) {
    auto writer = store->CreateStored("t/part-" + std::to_string(i) + ".csv", ObjectKind::kPart);
    std::string body = "row " + std::to_string(i) + "\n";
    writer->Write(body.data(), body.size());
    writer->Finish();
    pending.push_back(writer->CommitInBackground());
    EXPECT_EQ(pending.back()->InFlightLimit(), 3);
  }
  for (int i = 0; i < 5; i++) {
    pending[i]->Wait();
    EXPECT_TRUE(pending[i]->Done());
    std::string body = "row " + std::to_string(i) + "\n";
    EXPECT_EQ(Boto3Object(kBucket, "background/t/part-" + std::to_string(i) + ".csv"),
              SizeAndHash(body));
  }
  // A multipart object completes in the background too, and outlives its
  // writer: visible once Wait() returned, with no upload left.
  auto big = Store("s3://cdw-test/background", {{"part_size", "5MB"}});
  const std::string data = Pattern(11 * kMiB, 3);
  auto writer = big->CreateStored("t/part-big.csv", ObjectKind::kPart);
  writer->Write(data.data(), data.size());
  writer->Finish();
  auto done = writer->CommitInBackground();
  EXPECT_EQ(done->InFlightLimit(), s3::kDefaultUploadsInFlight);
  writer.reset();
  done->Wait();
  EXPECT_TRUE(done->Done());
  EXPECT_EQ(done->BufferedBytes(), 0u);
  EXPECT_EQ(Boto3Object(kBucket, "background/t/part-big.csv"), SizeAndHash(data));
  EXPECT_EQ(Boto3Uploads(kBucket, "background/"), 0);
  // A multipart commit cancelled before it ended returns at once; its
  // upload's abort is deferred (retried at exit), leaving none behind.
  auto dropped = big->CreateStored("t/part-dropped.csv", ObjectKind::kPart);
  dropped->Write(data.data(), data.size());
  dropped->Finish();
  auto dropped_commit = dropped->CommitInBackground();
  dropped.reset();
  dropped_commit->Cancel();
  EXPECT_TRUE(dropped_commit->Done());
  EXPECT_THROW(dropped_commit->Wait(), Error);
  EXPECT_EQ(RetryDeferredAborts(std::chrono::seconds(10)), 0u);
  big->Remove("t/part-dropped.csv");  // in case its completion had landed
  EXPECT_EQ(Boto3Uploads(kBucket, "background/"), 0);
  // Cancelled before it was waited for: Wait() says so, never "done".
  auto cancelled = store->CreateStored("t/part-cancelled.csv", ObjectKind::kPart);
  cancelled->Write("x\n", 2);
  cancelled->Finish();
  auto commit = cancelled->CommitInBackground();
  commit->Cancel();
  EXPECT_TRUE(commit->Done());
  EXPECT_THROW(commit->Wait(), Error);
  store->Remove("t/part-cancelled.csv");
}

TEST_F(S3MotoTest, ListsMoreThanOneThousandObjects) {
  ASSERT_EQ(RunHelper({"put-many", endpoint_, writer_.access_key_id, writer_.secret_access_key,
                       kBucket, "many/k", "1005"}),
            "1005");
  auto store = Store("s3://cdw-test/many");
  auto listed = store->List("");
  ASSERT_EQ(listed.size(), 1005u);
  for (size_t i = 0; i < listed.size(); i++) {
    char expected[32];
    snprintf(expected, sizeof(expected), "k%05zu", i);
    ASSERT_EQ(listed[i].key, expected);
  }
  EXPECT_EQ(store->List("k010").size(), 5u);  // k01000..k01004
}

TEST_F(S3MotoTest, WrongSecretSaysSignatureDoesNotMatch) {
  Credentials wrong = writer_;
  wrong.secret_access_key[3] = wrong.secret_access_key[3] == 'x' ? 'y' : 'x';
  auto store = Store("s3://cdw-test/p", {}, &wrong);
  try {
    store->List("");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("SignatureDoesNotMatch"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("secret_key"), std::string::npos) << e.hint();
    EXPECT_EQ(e.sqlstate(), sqlstate::kInsufficientPrivilege);
    ExpectNoSecrets(e);
    for (const std::string *text : {&wrong.secret_access_key}) {
      EXPECT_EQ(std::string(e.what()).find(*text), std::string::npos);
      EXPECT_EQ(e.detail().find(*text), std::string::npos);
    }
  }
  // The same on the write path (the existence check comes first).
  EXPECT_THROW(store->Create("x.csv"), Error);
}

TEST_F(S3MotoTest, MissingBucketSaysNoSuchBucket) {
  auto store = Store("s3://cdw-no-such-bucket/p");
  try {
    store->List("");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("NoSuchBucket"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("cdw-no-such-bucket"), std::string::npos) << e.hint();
    ExpectNoSecrets(e);
  }
  EXPECT_THROW(store->Create("x.csv"), Error);
}

TEST_F(S3MotoTest, AccessDeniedNamesTheMissingPermission) {
  auto store = Store("s3://cdw-test/denied", {}, &reader_);
  auto writer = store->Create("x.csv");  // reading is allowed
  writer->Write("x", 1);
  writer->Finish();
  try {
    writer->Commit();
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("AccessDenied"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("s3:PutObject"), std::string::npos) << e.hint();
    EXPECT_EQ(e.sqlstate(), sqlstate::kInsufficientPrivilege);
    ExpectNoSecrets(e);
  }
  EXPECT_EQ(Boto3Object(kBucket, "denied/x.csv"), "missing");
}

TEST_F(S3MotoTest, AbortLeavesNoObjectAndNoUpload) {
  auto store = Store("s3://cdw-test/aborted", {{"part_size", "5MB"}});
  const std::string data = Pattern(11 * kMiB, 3);
  {
    auto writer = store->Create("a.csv");
    writer->Write(data.data(), data.size());  // two parts started
    EXPECT_EQ(Boto3Uploads(kBucket, "aborted/"), 1);
    writer->Abort();
    writer->Abort();  // idempotent
  }
  {
    auto writer = store->Create("b.csv");
    writer->Write(data.data(), data.size());
    writer->Finish();
    // destroyed without Commit (an error or a cancel unwound the statement)
  }
  EXPECT_EQ(Boto3Uploads(kBucket, "aborted/"), 0);
  EXPECT_TRUE(static_cast<S3Store *>(store.get())->ListMultipartUploads().empty());
  EXPECT_EQ(Boto3Object(kBucket, "aborted/a.csv"), "missing");
  EXPECT_EQ(Boto3Object(kBucket, "aborted/b.csv"), "missing");
  EXPECT_TRUE(store->List("").empty());
}

// A multipart commit whose thread cannot start (no thread left to the
// process): CommitInBackground() throws, and the writer it took the part
// slots from aborts its upload instead of crashing on slots it no longer
// has. Run in a child whose user may have no more threads (RLIMIT_NPROC,
// which root ignores: the child becomes nobody first).
TEST_F(S3MotoTest, MultipartCommitThatCannotStartItsThreadAbortsTheUpload) {
  auto store = Store("s3://cdw-test/nothread", {{"part_size", "5MB"}});
  const std::string data = Pattern(11 * kMiB, 5);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto writer = store->CreateStored("t/part-big.csv", ObjectKind::kPart);
    writer->Write(data.data(), data.size());
    writer->Finish();  // three parts uploading, on threads started as root
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    struct rlimit one = {1, 1};
    if (setrlimit(RLIMIT_NPROC, &one) != 0) _exit(4);
    int code = 5;
    try {
      (void)writer->CommitInBackground();
    } catch (const std::system_error &) {
      code = 0;
    } catch (...) {
      code = 6;
    }
    writer.reset();  // aborts the upload
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(Boto3Uploads(kBucket, "nothread/"), 0);
  EXPECT_EQ(Boto3Object(kBucket, "nothread/t/part-big.csv"), "missing");
}

TEST_F(S3MotoTest, CosVirtualHostedRequestsThroughConnectTo) {
  // Real COS-form requests (Host: cdwcos-1250000000.cos.ap-guangzhou.myqcloud.com,
  // signed for ap-guangzhou) sent to moto on 127.0.0.1 with connect_to.
  const std::string connect_to = "127.0.0.1:" + std::to_string(port_);
  auto store = Store("cos://cdwcos-1250000000.cos.ap-guangzhou.myqcloud.com/pg",
                     {{"https", "false"}, {"connect_to", connect_to}, {"part_size", "5MB"}});
  const std::string data = Pattern(6 * kMiB + 1, 11);
  auto writer = store->Create("db/t/part-1.csv");
  writer->Write(data.data(), data.size());
  writer->Finish();
  writer->Commit();
  EXPECT_EQ(Boto3Object(kCosBucket, "pg/db/t/part-1.csv"), SizeAndHash(data));
  EXPECT_TRUE(ReadAll(store->Open("db/t/part-1.csv").get()) == data);

  // The older form addresses the same bucket the same way.
  auto older = Store("cos://cos.ap-guangzhou.myqcloud.com/cdwcos-1250000000/pg",
                     {{"https", "false"}, {"connect_to", connect_to}});
  auto listed = older->List("db/");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].key, "db/t/part-1.csv");

  // A non-default port through the endpoint option.
  auto ported = Store(
      "cos://cdwcos-1250000000.cos.ap-guangzhou.myqcloud.com/pg",
      {{"endpoint", "http://cos.ap-guangzhou.myqcloud.com:8080"}, {"connect_to", connect_to}});
  auto small = ported->Create("small.csv");
  small->Write("abc", 3);
  small->Finish();
  small->Commit();
  EXPECT_EQ(Boto3Object(kCosBucket, "pg/small.csv"), SizeAndHash("abc"));
  EXPECT_EQ(older->List("").size(), 2u);

  // Signatures of COS-form requests are checked too.
  Credentials wrong = writer_;
  wrong.secret_access_key += "x";
  auto denied = Store("cos://cdwcos-1250000000.cos.ap-guangzhou.myqcloud.com/pg",
                      {{"https", "false"}, {"connect_to", connect_to}}, &wrong);
  try {
    denied->List("");
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("SignatureDoesNotMatch"), std::string::npos);
    EXPECT_NE(
        std::string(e.what()).find("cos://cdwcos-1250000000.cos.ap-guangzhou.myqcloud.com/pg/"),
        std::string::npos);
  }
}

}  // namespace
}  // namespace cdw::s3
