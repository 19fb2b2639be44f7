CREATE INDEX audit_events_task_created_idx ON audit_events (task_id, created_at DESC);
