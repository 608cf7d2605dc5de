-- Bytes an operator has quarantined: a new upload of them is refused
-- (403), whatever media id it would get. A hash stays here while any
-- quarantined media has it, or until it is unquarantined by hash.
CREATE TABLE quarantined_hashes (
    sha256     TEXT PRIMARY KEY,
    created_ts INTEGER NOT NULL
) WITHOUT ROWID;

-- A blob may be deleted only when no row names it; thumbnails are
-- looked up by hash for that, and media by user for listings and stats.
CREATE INDEX thumbnails_by_sha256 ON thumbnails (sha256);
CREATE INDEX media_by_user ON media (user_id);
