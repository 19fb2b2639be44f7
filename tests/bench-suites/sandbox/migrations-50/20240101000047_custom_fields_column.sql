ALTER TABLE custom_fields ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE custom_fields IS 'custom fields of the workspace';
