ALTER TABLE comments ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE comments IS 'comments of the workspace';
