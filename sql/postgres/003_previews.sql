-- URL previews: SQLite's preview_cache is the 'preview' kind of the
-- leases table (002); nothing to add. Kept so both dialects count the
-- same migrations.
SELECT 1;
