CREATE INDEX sprint_tasks_task_created_idx ON sprint_tasks (task_id, created_at DESC);
