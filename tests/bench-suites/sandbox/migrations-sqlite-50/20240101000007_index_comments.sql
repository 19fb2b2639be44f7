-- migrations-50/20240101000007_index_comments.sql in SQLite's dialect.
CREATE INDEX comments_task_created_idx ON comments (task_id, created_at DESC);
