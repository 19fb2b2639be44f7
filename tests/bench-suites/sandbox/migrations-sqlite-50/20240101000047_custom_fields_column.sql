-- migrations-50/20240101000047_custom_fields_column.sql in SQLite's dialect.
ALTER TABLE custom_fields ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE custom_fields IS 'custom fields of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
