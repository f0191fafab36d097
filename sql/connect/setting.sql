-- Sets session setting $1 to $2 for the rest of the session, unless the server does not
-- know the setting (client_connection_check_interval is PostgreSQL 14+) or someone chose
-- a value for it already: PGOPTIONS or the URL's `options` (source `client`), a role or
-- database default (`user`, `database`, `database user`), the server's configuration.
-- Only a setting still at its built-in default (source `default`) is set. Returns
-- whether it was.
SELECT coalesce(bool_or(set_config(name, $2, false) IS NOT NULL), false)
FROM pg_settings
WHERE name = $1 AND source = 'default'
