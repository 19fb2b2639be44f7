CREATE INDEX labels_history_user_created_idx ON labels_history (user_id, created_at DESC);
