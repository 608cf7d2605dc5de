-- Media metadata: one row per media id, local or (later) cached remote.
-- The bytes live in the blob store under their SHA-256; many rows may
-- share one blob.
CREATE TABLE media (
    server_name  TEXT NOT NULL,
    media_id     TEXT NOT NULL,
    sha256       TEXT,              -- NULL while an async upload is pending
    size         INTEGER NOT NULL DEFAULT 0,
    content_type TEXT,
    upload_name  TEXT,
    user_id      TEXT,
    created_ts   INTEGER NOT NULL,
    expires_ts   INTEGER,           -- pending ids: deadline of the upload
    quarantined  INTEGER NOT NULL DEFAULT 0,
    -- uploaded while enable_authenticated_media was on: served only on the
    -- authenticated endpoints (the spec's "freeze" of legacy media)
    authenticated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server_name, media_id)
) WITHOUT ROWID;

CREATE INDEX media_pending_by_user ON media (user_id, expires_ts)
    WHERE sha256 IS NULL;
CREATE INDEX media_by_sha256 ON media (sha256);

-- Thumbnails, one per media, box (width x height, method) and stillness.
-- The bytes go through the blob store like any media.
CREATE TABLE thumbnails (
    server_name   TEXT NOT NULL,
    media_id      TEXT NOT NULL,
    width         INTEGER NOT NULL,   -- the box asked for
    height        INTEGER NOT NULL,
    method        TEXT NOT NULL,      -- 'scale' or 'crop'
    animated      INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    actual_width  INTEGER NOT NULL,
    actual_height INTEGER NOT NULL,
    dynamic       INTEGER NOT NULL,   -- made on demand, counts to the cap
    created_ts    INTEGER NOT NULL,
    PRIMARY KEY (server_name, media_id, width, height, method, animated)
) WITHOUT ROWID;

-- Local access tokens, stored as SHA-256 hex: a copy of the database does
-- not give anyone a usable token.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    is_guest   INTEGER NOT NULL DEFAULT 0,
    created_ts INTEGER NOT NULL
) WITHOUT ROWID;
