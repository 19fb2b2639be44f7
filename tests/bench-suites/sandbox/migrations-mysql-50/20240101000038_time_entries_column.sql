-- migrations-50/20240101000038_time_entries_column.sql in MySQL's dialect.
ALTER TABLE time_entries ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE time_entries COMMENT = 'time entries of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
