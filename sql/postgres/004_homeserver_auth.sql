-- auth = homeserver: cached /account/whoami answers by token SHA-256 hex
-- (user_id NULL: refused, with errcode and soft_logout).
CREATE TABLE homeserver_auth_cache (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT,
    is_guest    SMALLINT NOT NULL DEFAULT 0,
    errcode     TEXT,
    soft_logout SMALLINT NOT NULL DEFAULT 0,
    expires_ts  BIGINT NOT NULL
);

CREATE INDEX homeserver_auth_cache_expiry
    ON homeserver_auth_cache (expires_ts);
