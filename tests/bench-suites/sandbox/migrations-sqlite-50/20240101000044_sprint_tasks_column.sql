-- migrations-50/20240101000044_sprint_tasks_column.sql in SQLite's dialect.
ALTER TABLE sprint_tasks ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE sprint_tasks IS 'sprint tasks of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
