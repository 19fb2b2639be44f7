-- migrations-50/20240101000026_invitations_column.sql in MySQL's dialect.
ALTER TABLE invitations ADD COLUMN updated_at DATETIME(6) NULL;  -- TIMESTAMPTZ -> DATETIME(6)
ALTER TABLE invitations COMMENT = 'invitations of the workspace';  -- COMMENT ON TABLE -> ALTER TABLE ... COMMENT
