-- migrations-50/20240101000038_time_entries_column.sql in SQLite's dialect.
ALTER TABLE time_entries ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE time_entries IS 'time entries of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
