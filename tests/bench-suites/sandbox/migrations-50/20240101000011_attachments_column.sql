ALTER TABLE attachments ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE attachments IS 'attachments of the workspace';
