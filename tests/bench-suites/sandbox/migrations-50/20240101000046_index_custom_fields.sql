CREATE INDEX custom_fields_project_created_idx ON custom_fields (project_id, created_at DESC);
