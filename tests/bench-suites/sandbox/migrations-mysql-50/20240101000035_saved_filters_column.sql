-- migrations-50/20240101000035_saved_filters_column.sql in MySQL's dialect.
ALTER TABLE saved_filters ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE saved_filters COMMENT = 'saved filters of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
