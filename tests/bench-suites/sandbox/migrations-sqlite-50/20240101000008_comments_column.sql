-- migrations-50/20240101000008_comments_column.sql in SQLite's dialect.
ALTER TABLE comments ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE comments IS 'comments of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
