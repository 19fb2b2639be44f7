-- migrations-50/20240101000031_index_audit_events.sql in SQLite's dialect.
CREATE INDEX audit_events_task_created_idx ON audit_events (task_id, created_at DESC);
