-- migrations-50/20240101000008_comments_column.sql in MySQL's dialect.
ALTER TABLE comments ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE comments COMMENT = 'comments of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
