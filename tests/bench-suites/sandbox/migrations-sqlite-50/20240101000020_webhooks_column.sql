-- migrations-50/20240101000020_webhooks_column.sql in SQLite's dialect.
ALTER TABLE webhooks ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE webhooks IS 'webhooks of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
