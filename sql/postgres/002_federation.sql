-- Other servers' signing keys, cached until min(valid_until_ts, fetch+7d).
CREATE TABLE server_keys (
    server_name TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    public_key  TEXT NOT NULL,          -- unpadded base64
    expires_ts  BIGINT NOT NULL,
    PRIMARY KEY (server_name, key_id)
);

-- When each server's keys were last fetched (one fetch per interval).
CREATE TABLE server_key_fetches (
    server_name   TEXT PRIMARY KEY,
    last_fetch_ts BIGINT NOT NULL
);

-- .well-known/matrix/server answers (delegated NULL: none, or failed).
CREATE TABLE well_known_cache (
    server_name TEXT PRIMARY KEY,
    delegated   TEXT,
    expires_ts  BIGINT NOT NULL
);

-- Leases of every kind in one table (SQLite has remote_fetches and
-- preview_cache): kind is the lease kind's name ('remote_media',
-- 'preview', ...), so a new kind needs no migration. A row is 'fetching'
-- until until_ts (the lease), then 'done' (body) or 'failed' (status,
-- errcode, body = the message) until the outcome goes stale.
CREATE TABLE leases (
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    state     TEXT NOT NULL,
    until_ts  BIGINT NOT NULL,
    status    INTEGER NOT NULL DEFAULT 0,
    errcode   TEXT,
    body      TEXT,
    PRIMARY KEY (kind, key)
);
