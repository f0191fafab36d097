-- The server's version and this session's encryption, for `ampsync check`.
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       coalesce(s.ssl, false) AS ssl,
       s.version AS tls_version,
       s.cipher
FROM (SELECT pg_backend_pid() AS pid) AS me
LEFT JOIN pg_stat_ssl AS s USING (pid)
