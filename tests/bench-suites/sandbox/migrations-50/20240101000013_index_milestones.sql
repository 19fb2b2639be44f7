CREATE INDEX milestones_organization_created_idx ON milestones (organization_id, created_at DESC);
