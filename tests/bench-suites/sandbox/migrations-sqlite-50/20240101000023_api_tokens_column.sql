-- migrations-50/20240101000023_api_tokens_column.sql in SQLite's dialect.
ALTER TABLE api_tokens ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE api_tokens IS 'api tokens of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
