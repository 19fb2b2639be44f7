ALTER TABLE time_entries ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE time_entries IS 'time entries of the workspace';
