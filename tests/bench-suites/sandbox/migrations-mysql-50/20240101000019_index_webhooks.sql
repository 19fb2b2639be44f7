-- migrations-50/20240101000019_index_webhooks.sql in MySQL's dialect.
CREATE INDEX webhooks_task_created_idx ON webhooks (task_id, created_at DESC);
