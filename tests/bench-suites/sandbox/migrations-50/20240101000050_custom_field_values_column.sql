ALTER TABLE custom_field_values ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE custom_field_values IS 'custom field values of the workspace';
