#include "extension/fdw/pinned_settings.h"

#include <cstdio>

extern "C" {
#include "postgres.h"
#include "storage/proc.h"
#include "utils/guc.h"
}

namespace cdw::fdw {

namespace {
struct PinnedSetting {
  const char *name;
  const char *value;
};

// What changes the text form of built-in types. lc_monetary matters for the
// money type; extra_float_digits makes floats exact.
constexpr PinnedSetting kPinned[] = {
    {"datestyle", "ISO, YMD"},   {"intervalstyle", "postgres"}, {"timezone", "UTC"},
    {"extra_float_digits", "3"}, {"bytea_output", "hex"},       {"lc_monetary", "C"},
};
}  // namespace

int PinSettings() {
  int nest_level = NewGUCNestLevel();
  for (const auto &setting : kPinned)
    (void)set_config_option(setting.name, setting.value, PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_SAVE, true, 0, false);
  return nest_level;
}

void UnpinSettings(int nest_level) {
  AtEOXact_GUC(true, nest_level);
}

namespace {
// The (local id of the) transaction whose settings a worker pinned.
LocalTransactionId g_pinned_local_transaction = InvalidLocalTransactionId;
}  // namespace

void PinSettingsForTransaction() {
  for (const auto &setting : kPinned)
    (void)set_config_option(setting.name, setting.value, PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_LOCAL, true, 0, false);
  g_pinned_local_transaction = MyProc->lxid;
}

bool SettingsPinnedByCaller() {
  // Valid only within the transaction that pinned them: GUC_ACTION_LOCAL
  // values end with it.
  return g_pinned_local_transaction != InvalidLocalTransactionId &&
         g_pinned_local_transaction == MyProc->lxid;
}

const char *PinnedSettingsText() {
  static char text[512];
  if (!text[0]) {
    size_t used = 0;
    for (const auto &setting : kPinned)
      used += snprintf(text + used, sizeof text - used, "%s=%s\n", setting.name, setting.value);
  }
  return text;
}

}  // namespace cdw::fdw
