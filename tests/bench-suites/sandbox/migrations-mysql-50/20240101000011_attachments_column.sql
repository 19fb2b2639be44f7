-- migrations-50/20240101000011_attachments_column.sql in MySQL's dialect.
ALTER TABLE attachments ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE attachments COMMENT = 'attachments of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
