ALTER TABLE api_tokens ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE api_tokens IS 'api tokens of the workspace';
