-- migrations-50/20240101000028_index_notifications.sql in SQLite's dialect.
CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at DESC);
