-- Limits shared by every process (and, with PostgreSQL, every host).

-- Leaky buckets: rc_media_create per user, remote media bytes per
-- requester. level drains at the limit's rate since updated_ms.
CREATE TABLE rate_buckets (
    bucket_key  TEXT PRIMARY KEY,
    level       REAL NOT NULL,
    updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;

-- The circuit breaker of remote servers: one that timed out or refused
-- is not asked again until down_until_ts.
CREATE TABLE origin_health (
    server_name    TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    down_until_ts  INTEGER NOT NULL
) WITHOUT ROWID;

-- media_upload_limits sums a user's recent uploads.
CREATE INDEX media_by_user_created ON media (user_id, created_ts);
