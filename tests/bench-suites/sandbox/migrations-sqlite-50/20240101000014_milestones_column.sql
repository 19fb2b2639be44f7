-- migrations-50/20240101000014_milestones_column.sql in SQLite's dialect.
ALTER TABLE milestones ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE milestones IS 'milestones of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
