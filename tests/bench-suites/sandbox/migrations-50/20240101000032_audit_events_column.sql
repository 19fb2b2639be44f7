ALTER TABLE audit_events ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE audit_events IS 'audit events of the workspace';
