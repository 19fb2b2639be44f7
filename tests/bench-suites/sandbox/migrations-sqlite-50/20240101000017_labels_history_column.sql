-- migrations-50/20240101000017_labels_history_column.sql in SQLite's dialect.
ALTER TABLE labels_history ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE labels_history IS 'labels history of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
