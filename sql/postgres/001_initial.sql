-- PostgreSQL schema, the same tables and meanings as sql/sqlite/ (one
-- file per SQLite file, same numbers). Times are milliseconds since the
-- epoch (BIGINT); flags are SMALLINT 0/1 as in SQLite, so both backends
-- read and write the same values.

-- Media metadata: one row per media id, local or cached remote. The bytes
-- live in the blob store under their SHA-256; many rows may share one.
CREATE TABLE media (
    server_name  TEXT NOT NULL,
    media_id     TEXT NOT NULL,
    sha256       TEXT,              -- NULL while an async upload is pending
    size         BIGINT NOT NULL DEFAULT 0,
    content_type TEXT,
    upload_name  TEXT,
    user_id      TEXT,
    created_ts   BIGINT NOT NULL,
    expires_ts   BIGINT,            -- pending ids: deadline of the upload
    quarantined  SMALLINT NOT NULL DEFAULT 0,
    -- uploaded while enable_authenticated_media was on
    authenticated SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (server_name, media_id)
);

CREATE INDEX media_pending_by_user ON media (user_id, expires_ts)
    WHERE sha256 IS NULL;
CREATE INDEX media_by_sha256 ON media (sha256);

-- Thumbnails, one per media, box (width x height, method) and stillness.
CREATE TABLE thumbnails (
    server_name   TEXT NOT NULL,
    media_id      TEXT NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    method        TEXT NOT NULL,      -- 'scale' or 'crop'
    animated      SMALLINT NOT NULL,
    sha256        TEXT NOT NULL,
    size          BIGINT NOT NULL,
    content_type  TEXT NOT NULL,
    actual_width  BIGINT NOT NULL,
    actual_height BIGINT NOT NULL,
    dynamic       SMALLINT NOT NULL,  -- made on demand, counts to the cap
    created_ts    BIGINT NOT NULL,
    PRIMARY KEY (server_name, media_id, width, height, method, animated)
);

-- Local access tokens, stored as SHA-256 hex.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    is_guest   SMALLINT NOT NULL DEFAULT 0,
    created_ts BIGINT NOT NULL
);
