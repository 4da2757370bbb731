// Text output and input of values must not depend on the session: a backup
// written with DateStyle 'SQL, DMY' must read back the same under 'ISO'.
// While converting a batch of rows we pin every setting that changes the
// text form of a built-in type, in a GUC nest level that is popped afterwards
// (or by transaction abort), like postgres_fdw's set_transmission_modes().
// Include after postgres.h.
#pragma once

namespace cdw::fdw {

// Returns the nest level to pass to UnpinSettings. PostgreSQL code: may ERROR.
int PinSettings();
void UnpinSettings(int nest_level);

// For backup and restore workers: sets the pinned values with
// GUC_ACTION_LOCAL for the rest of the current transaction and tells the
// FDW that it need not switch them per batch. Cleared at transaction end.
void PinSettingsForTransaction();
bool SettingsPinnedByCaller();

// "name=value" of every pinned setting, a line each (static storage): what
// the text form of a value depends on beyond its bytes (tuple_fingerprint.h).
const char *PinnedSettingsText();

}  // namespace cdw::fdw
