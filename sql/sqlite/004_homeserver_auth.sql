-- auth = homeserver: answers of the homeserver's /account/whoami, cached
-- so that a token is not sent to the homeserver on every request. Keyed by
-- the token's SHA-256 hex; the raw token is never stored. A row with a
-- user_id is a valid token (kept homeserver_auth_cache_ttl), one without
-- is a refused token (kept homeserver_auth_negative_ttl) with the 401's
-- errcode and soft_logout flag. Failures to reach the homeserver are never
-- cached.
CREATE TABLE homeserver_auth_cache (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT,                   -- NULL: refused
    is_guest    INTEGER NOT NULL DEFAULT 0,
    errcode     TEXT,                   -- refused: the homeserver's errcode
    soft_logout INTEGER NOT NULL DEFAULT 0,
    expires_ts  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX homeserver_auth_cache_expiry
    ON homeserver_auth_cache (expires_ts);
