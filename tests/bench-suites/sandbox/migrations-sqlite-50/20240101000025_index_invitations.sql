-- migrations-50/20240101000025_index_invitations.sql in SQLite's dialect.
CREATE INDEX invitations_organization_created_idx ON invitations (organization_id, created_at DESC);
