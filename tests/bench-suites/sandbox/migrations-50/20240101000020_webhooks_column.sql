ALTER TABLE webhooks ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE webhooks IS 'webhooks of the workspace';
