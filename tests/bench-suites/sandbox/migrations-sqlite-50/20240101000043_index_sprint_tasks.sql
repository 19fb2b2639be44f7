-- migrations-50/20240101000043_index_sprint_tasks.sql in SQLite's dialect.
CREATE INDEX sprint_tasks_task_created_idx ON sprint_tasks (task_id, created_at DESC);
