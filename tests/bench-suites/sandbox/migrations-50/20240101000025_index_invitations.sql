CREATE INDEX invitations_organization_created_idx ON invitations (organization_id, created_at DESC);
