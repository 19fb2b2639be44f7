-- migrations-50/20240101000041_sprints_column.sql in MySQL's dialect.
ALTER TABLE sprints ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE sprints COMMENT = 'sprints of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
