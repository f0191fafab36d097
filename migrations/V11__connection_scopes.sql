-- A connection's top-level `scopes` in its own column. Not in the public API
-- description; Ampersand's own clients (the amp CLI's Connection) read it, and
-- releases up to 0.4.0 kept it in `extra`.
--
-- The field moves out of extra into the column in place, in the current rows and in
-- every history version: the same value, under the same name in the source-object hash
-- (src/snapshot/encode.rs), so no hash changes and no version is written. A
-- `"scopes": null` sent explicitly is left out, as a null column is (export writes no
-- null scopes).
-- IF NOT EXISTS: tests that rebuild an older database re-run it (tests/api/upgrade.rs).
ALTER TABLE ampersand.connections ADD COLUMN IF NOT EXISTS scopes jsonb;
ALTER TABLE ampersand.connections_history ADD COLUMN IF NOT EXISTS scopes jsonb;
COMMENT ON COLUMN ampersand.connections.scopes IS 'OAuth scopes granted to the connection, as the API sends them at the top level of the connection (scopes; JSON, usually an array of strings). oauth_scopes has those of the token.';
COMMENT ON COLUMN ampersand.connections_history.scopes IS 'OAuth scopes granted to the connection, as the API sends them at the top level of the connection (scopes; JSON, usually an array of strings). oauth_scopes has those of the token.';

UPDATE ampersand.connections
SET scopes = nullif(extra -> 'scopes', 'null'), extra = extra - 'scopes'
WHERE extra ? 'scopes';
UPDATE ampersand.connections_history
SET scopes = nullif(extra -> 'scopes', 'null'), extra = extra - 'scopes'
WHERE extra ? 'scopes';
