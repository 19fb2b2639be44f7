-- migrations-50/20240101000029_notifications_column.sql in SQLite's dialect.
ALTER TABLE notifications ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE notifications IS 'notifications of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
