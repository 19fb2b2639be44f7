-- migrations-50/20240101000013_index_milestones.sql in MySQL's dialect.
CREATE INDEX milestones_organization_created_idx ON milestones (organization_id, created_at DESC);
