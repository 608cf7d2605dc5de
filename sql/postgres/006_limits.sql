-- Limits shared by every process of every host.

-- Leaky buckets; level drains at the limit's rate since updated_ms.
CREATE TABLE rate_buckets (
    bucket_key  TEXT PRIMARY KEY,
    level       DOUBLE PRECISION NOT NULL,
    updated_ms  BIGINT NOT NULL
);

-- The circuit breaker of remote servers.
CREATE TABLE origin_health (
    server_name    TEXT PRIMARY KEY,
    failures       BIGINT NOT NULL,
    down_until_ts  BIGINT NOT NULL
);

CREATE INDEX media_by_user_created ON media (user_id, created_ts);
