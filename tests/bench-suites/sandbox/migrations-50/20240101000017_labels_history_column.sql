ALTER TABLE labels_history ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE labels_history IS 'labels history of the workspace';
