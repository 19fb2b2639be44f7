-- migrations-50/20240101000011_attachments_column.sql in SQLite's dialect.
ALTER TABLE attachments ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE attachments IS 'attachments of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
