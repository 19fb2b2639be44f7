ALTER TABLE saved_filters ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE saved_filters IS 'saved filters of the workspace';
