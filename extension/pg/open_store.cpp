extern "C" {
#include "postgres.h"
}

#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "storage/encrypted_store.h"
#include "storage/store_factory.h"
#include "storage/throttled_store.h"

namespace cdw::pg {

namespace {
const char *OrEmpty(const char *s) {
  return s ? s : "";
}

RateBucket *g_run_bucket = nullptr;
// A store opened outside a run (cdw_backup_verify, a restore, the FDW used
// directly) with option max_rate: one bucket per process, restarted when
// the rate changes. Stores outlive no process, so a static is enough.
RateBucket g_local_bucket;
}  // namespace

void SetProcessRateBucket(RateBucket *bucket) {
  g_run_bucket = bucket;
}

std::unique_ptr<ObjectStore> ApplyRateLimit(std::unique_ptr<ObjectStore> store,
                                            const StoreOptions &options) {
  RateBucket *bucket = g_run_bucket;
  if (!bucket) {
    uint64_t rate = StoreMaxRate(options);
    if (rate == 0) return store;
    if (g_local_bucket.rate.load() != static_cast<int64_t>(rate))
      InitRateBucket(&g_local_bucket, rate);
    bucket = &g_local_bucket;
  }
  if (bucket->rate.load() <= 0) return store;
  return ThrottleStore(std::move(store), bucket, InterruptsPending);
}

void WarnTlsVerifyOff(const char *what) {
  ereport(WARNING,
          (errcode(ERRCODE_WARNING), errmsg("TLS certificate verification is off for %s", what),
           errdetail("Option tls_verify is false: the storage server's identity is not checked, "
                     "so anyone on the network path can impersonate it and read or change "
                     "backups."),
           errhint("Set the option ca_file (or ca_path) to the CA that signed the server's "
                   "certificate and remove tls_verify.")));
}

void WarnTlsVerifyOffOnce(const std::string &location, const StoreOptions &options) {
  static std::string warned;  // the last location warned about in this process
  if (location == warned || !LocationSkipsTlsVerification(location, options)) return;
  std::string what = "\"" + location + "\"";
  PgCall([&] { WarnTlsVerifyOff(what.c_str()); });
  warned = location;
}

std::unique_ptr<ObjectStore> OpenTargetStore(const char *location, const char *option_lines,
                                             const char *secret_id, const char *secret_key,
                                             const char *session_token,
                                             const char *sse_customer_key,
                                             const char *encryption_keys) {
  Credentials credentials{OrEmpty(secret_id), OrEmpty(secret_key), OrEmpty(session_token),
                          OrEmpty(sse_customer_key)};
  StoreOptions options = ParseStoreOptionLines(OrEmpty(option_lines));
  auto store = OpenObjectStore(location, options, credentials);
  store->SetInterruptCheck(InterruptsPending);
  WarnTlsVerifyOffOnce(location, options);
  // The limit paces the stored bytes: encryption wraps the throttled store.
  return WithEncryption(ApplyRateLimit(std::move(store), options), options,
                        OrEmpty(encryption_keys));
}

}  // namespace cdw::pg
