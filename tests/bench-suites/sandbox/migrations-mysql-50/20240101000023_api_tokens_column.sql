-- migrations-50/20240101000023_api_tokens_column.sql in MySQL's dialect.
ALTER TABLE api_tokens ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE api_tokens COMMENT = 'api tokens of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
