-- migrations-50/20240101000040_index_sprints.sql in MySQL's dialect.
CREATE INDEX sprints_user_created_idx ON sprints (user_id, created_at DESC);
