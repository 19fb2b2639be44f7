CREATE INDEX sprints_user_created_idx ON sprints (user_id, created_at DESC);
