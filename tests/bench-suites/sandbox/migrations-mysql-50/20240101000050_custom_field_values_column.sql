-- migrations-50/20240101000050_custom_field_values_column.sql in MySQL's dialect.
ALTER TABLE custom_field_values ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE custom_field_values COMMENT = 'custom field values of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
