-- migrations-50/20240101000017_labels_history_column.sql in MySQL's dialect.
ALTER TABLE labels_history ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE labels_history COMMENT = 'labels history of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
