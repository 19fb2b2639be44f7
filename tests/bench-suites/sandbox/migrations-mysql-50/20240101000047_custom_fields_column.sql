-- migrations-50/20240101000047_custom_fields_column.sql in MySQL's dialect.
ALTER TABLE custom_fields ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE custom_fields COMMENT = 'custom fields of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
