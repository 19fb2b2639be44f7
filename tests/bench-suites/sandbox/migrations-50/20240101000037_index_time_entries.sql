CREATE INDEX time_entries_organization_created_idx ON time_entries (organization_id, created_at DESC);
