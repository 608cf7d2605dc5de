-- Bytes an operator has quarantined: a new upload of them is refused.
CREATE TABLE quarantined_hashes (
    sha256     TEXT PRIMARY KEY,
    created_ts BIGINT NOT NULL
);

CREATE INDEX thumbnails_by_sha256 ON thumbnails (sha256);
CREATE INDEX media_by_user ON media (user_id);
