-- migrations-50/20240101000020_webhooks_column.sql in MySQL's dialect.
ALTER TABLE webhooks ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE webhooks COMMENT = 'webhooks of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
