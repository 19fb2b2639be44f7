ALTER TABLE notifications ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE notifications IS 'notifications of the workspace';
