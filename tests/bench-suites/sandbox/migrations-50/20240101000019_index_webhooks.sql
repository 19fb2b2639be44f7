CREATE INDEX webhooks_task_created_idx ON webhooks (task_id, created_at DESC);
