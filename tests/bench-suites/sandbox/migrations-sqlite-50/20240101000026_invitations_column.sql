-- migrations-50/20240101000026_invitations_column.sql in SQLite's dialect.
ALTER TABLE invitations ADD COLUMN updated_at TEXT;  -- TIMESTAMPTZ -> TEXT
-- COMMENT ON TABLE invitations IS 'invitations of the workspace';  (SQLite has no table comments: kept only as this SQL comment)
