-- The target's manifest key: created or accepted by cdw_backup_add_target,
-- exported only to its owner or a superuser, never shown anywhere else.
\getenv abs_srcdir PG_ABS_SRCDIR
\set target_dir 'file://' :abs_srcdir '/backups/target_key'
CREATE EXTENSION cdw_backup;
SELECT cdw_backup_add_target('fresh', :'target_dir');
-- 32 random bytes, as 64 hex digits; a second target gets its own.
SELECT cdw_backup_target_key('fresh') ~ '^[0-9a-f]{64}$' AS is_hex_key;
SELECT cdw_backup_add_target('other', :'target_dir');
SELECT cdw_backup_target_key('fresh') <> cdw_backup_target_key('other') AS keys_differ;
-- A key given is kept as given (either case of hex).
SELECT cdw_backup_add_target('given', :'target_dir',
  manifest_key => '00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff');
SELECT cdw_backup_target_key('given');
-- A bad key is refused without being repeated.
SELECT cdw_backup_add_target('bad', :'target_dir', manifest_key => 'secret-not-hex');
SELECT cdw_backup_add_target('bad', :'target_dir', manifest_key => repeat('ab', 31));
SELECT cdw_backup_add_target('bad', :'target_dir', manifest_key => repeat('zz', 32));
SELECT cdw_backup_target_key(NULL);
SELECT cdw_backup_target_key('nonexistent');
-- Not in the targets view; other roles get neither the key nor the table.
SELECT * FROM cdw_backup.targets WHERE false;
CREATE ROLE cdw_key_user;
GRANT cdw_backup_operator TO cdw_key_user;
SET ROLE cdw_key_user;
SELECT cdw_backup_target_key('fresh');
SELECT manifest_key FROM cdw_backup.target_store;
RESET ROLE;
CREATE ROLE cdw_key_nobody;
SET ROLE cdw_key_nobody;
SELECT cdw_backup_target_key('fresh');
RESET ROLE;
DROP ROLE cdw_key_user;
DROP ROLE cdw_key_nobody;
DROP EXTENSION cdw_backup;
