CREATE INDEX saved_filters_project_created_idx ON saved_filters (project_id, created_at DESC);
