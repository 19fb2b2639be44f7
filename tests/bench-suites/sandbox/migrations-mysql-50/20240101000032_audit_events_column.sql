-- migrations-50/20240101000032_audit_events_column.sql in MySQL's dialect.
ALTER TABLE audit_events ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE audit_events COMMENT = 'audit events of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
