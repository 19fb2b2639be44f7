ALTER TABLE sprint_tasks ADD COLUMN updated_at TIMESTAMPTZ;
COMMENT ON TABLE sprint_tasks IS 'sprint tasks of the workspace';
