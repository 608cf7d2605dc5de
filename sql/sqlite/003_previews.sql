-- URL previews, one row per (url, hour of ts, language). The row is also
-- the lock that makes concurrent identical requests share one fetch:
-- state 'fetching' until the answer (or a failure) is stored.
CREATE TABLE preview_cache (
    cache_key  TEXT PRIMARY KEY,
    state      TEXT NOT NULL,           -- 'fetching', 'done' or 'failed'
    until_ts   INTEGER NOT NULL,        -- lock expiry or cache expiry
    status     INTEGER NOT NULL DEFAULT 0,
    errcode    TEXT,
    body       TEXT                     -- the preview JSON, or the error text
) WITHOUT ROWID;
