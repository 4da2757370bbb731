extern "C" {
#include "postgres.h"
}

#include "extension/pg/cpp_boundary.h"
#include "extension/pg/open_store.h"
#include "storage/store_factory.h"

namespace cdw::pg {

namespace {
const char *OrEmpty(const char *s) {
  return s ? s : "";
}
}  // namespace

std::unique_ptr<ObjectStore> OpenTargetStore(const char *location, const char *option_lines,
                                             const char *secret_id, const char *secret_key,
                                             const char *session_token) {
  Credentials credentials{OrEmpty(secret_id), OrEmpty(secret_key), OrEmpty(session_token)};
  auto store = OpenObjectStore(location, ParseStoreOptionLines(OrEmpty(option_lines)), credentials);
  store->SetInterruptCheck(InterruptsPending);
  return store;
}

}  // namespace cdw::pg
