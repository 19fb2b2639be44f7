ALTER TABLE milestones ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE milestones IS 'milestones of the workspace';
