-- migrations-50/20240101000041_sprints_column.sql in SQLite's dialect.
ALTER TABLE sprints ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE sprints IS 'sprints of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
