-- migrations-50/20240101000014_milestones_column.sql in MySQL's dialect.
ALTER TABLE milestones ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE milestones COMMENT = 'milestones of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
