-- Other servers' signing keys, cached until min(valid_until_ts, fetch+7d).
CREATE TABLE server_keys (
    server_name TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    public_key  TEXT NOT NULL,          -- unpadded base64
    expires_ts  INTEGER NOT NULL,
    PRIMARY KEY (server_name, key_id)
) WITHOUT ROWID;

-- When each server's keys were last fetched: an unknown key id triggers
-- at most one fetch per interval, so forged key ids cannot make us spam.
CREATE TABLE server_key_fetches (
    server_name TEXT PRIMARY KEY,
    last_fetch_ts INTEGER NOT NULL
) WITHOUT ROWID;

-- .well-known/matrix/server answers (delegated is NULL when there was
-- none or it failed).
CREATE TABLE well_known_cache (
    server_name TEXT PRIMARY KEY,
    delegated   TEXT,
    expires_ts  INTEGER NOT NULL
) WITHOUT ROWID;

-- One fetch per remote media at a time: the first request takes the row,
-- the others wait for the media row. A failure stays for a while so a
-- missing remote file is not asked for again and again.
CREATE TABLE remote_fetches (
    server_name TEXT NOT NULL,
    media_id    TEXT NOT NULL,
    state       TEXT NOT NULL,          -- 'fetching' or 'failed'
    until_ts    INTEGER NOT NULL,       -- lock expiry, or failure expiry
    status      INTEGER NOT NULL DEFAULT 0,
    errcode     TEXT,
    error       TEXT,
    PRIMARY KEY (server_name, media_id)
) WITHOUT ROWID;
