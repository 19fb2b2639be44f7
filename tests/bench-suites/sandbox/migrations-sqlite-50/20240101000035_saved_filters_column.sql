-- migrations-50/20240101000035_saved_filters_column.sql in SQLite's dialect.
ALTER TABLE saved_filters ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE saved_filters IS 'saved filters of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
