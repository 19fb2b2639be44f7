ALTER TABLE sprints ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE sprints IS 'sprints of the workspace';
