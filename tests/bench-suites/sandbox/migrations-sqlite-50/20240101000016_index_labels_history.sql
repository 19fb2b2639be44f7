-- migrations-50/20240101000016_index_labels_history.sql in SQLite's dialect.
CREATE INDEX labels_history_user_created_idx ON labels_history (user_id, created_at DESC);
