-- migrations-50/20240101000050_custom_field_values_column.sql in SQLite's dialect.
ALTER TABLE custom_field_values ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE custom_field_values IS 'custom field values of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
