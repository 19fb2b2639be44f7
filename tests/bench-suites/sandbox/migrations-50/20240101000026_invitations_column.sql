ALTER TABLE invitations ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE invitations IS 'invitations of the workspace';
