-- Synapse's media admin API (admin.fcgi) and retention.

-- When the media was last served (download, thumbnail, federation), in ms.
-- Written at most once an hour per media, so serving stays read-only in
-- the common case; NULL until the first read. Retention, purge_media_cache
-- and media/delete?before_ts go by it (by created_ts while it is NULL).
ALTER TABLE media ADD COLUMN last_access_ts INTEGER;
-- Who quarantined it (a user id, or 'mediarepo-admin' for the operator's
-- command line); kept beside the quarantined flag, which stays the truth.
ALTER TABLE media ADD COLUMN quarantined_by TEXT;
-- Protected media (Synapse's safe_from_quarantine): user and room
-- quarantines skip it, retention never deletes it.
ALTER TABLE media ADD COLUMN safe_from_quarantine INTEGER NOT NULL DEFAULT 0;

UPDATE media SET quarantined_by = 'mediarepo-admin' WHERE quarantined = 1;

-- Retention and purges look media up by last access.
CREATE INDEX media_by_last_access ON media (coalesce(last_access_ts, created_ts));
