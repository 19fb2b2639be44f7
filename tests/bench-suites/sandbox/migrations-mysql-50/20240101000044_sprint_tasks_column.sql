-- migrations-50/20240101000044_sprint_tasks_column.sql in MySQL's dialect.
ALTER TABLE sprint_tasks ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE sprint_tasks COMMENT = 'sprint tasks of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
