-- migrations-50/20240101000034_index_saved_filters.sql in MySQL's dialect.
CREATE INDEX saved_filters_project_created_idx ON saved_filters (project_id, created_at DESC);
