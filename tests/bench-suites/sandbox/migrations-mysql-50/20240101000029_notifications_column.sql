-- migrations-50/20240101000029_notifications_column.sql in MySQL's dialect.
ALTER TABLE notifications ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE notifications COMMENT = 'notifications of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
