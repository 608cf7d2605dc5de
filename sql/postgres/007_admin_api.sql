-- Synapse's media admin API (admin.fcgi) and retention: the columns of
-- sql/sqlite/007_admin_api.sql, with the same meanings and values.

-- When the media was last served, in ms; written at most once an hour per
-- media. NULL until the first read: retention, purge_media_cache and
-- media/delete?before_ts then go by created_ts.
ALTER TABLE media ADD COLUMN last_access_ts BIGINT;
-- Who quarantined it (a user id, or 'mediarepo-admin' for the command
-- line); the quarantined flag stays the truth.
ALTER TABLE media ADD COLUMN quarantined_by TEXT;
-- Protected media (Synapse's safe_from_quarantine): user and room
-- quarantines skip it, retention never deletes it.
ALTER TABLE media ADD COLUMN safe_from_quarantine SMALLINT NOT NULL DEFAULT 0;

UPDATE media SET quarantined_by = 'mediarepo-admin' WHERE quarantined = 1;

-- Retention and purges look media up by last access.
CREATE INDEX media_by_last_access
    ON media ((coalesce(last_access_ts, created_ts)));
