CREATE INDEX comments_task_created_idx ON comments (task_id, created_at DESC);
