-- migrations-50/20240101000032_audit_events_column.sql in SQLite's dialect.
ALTER TABLE audit_events ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE audit_events IS 'audit events of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
