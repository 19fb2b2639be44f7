-- migrations-50/20240101000046_index_custom_fields.sql in MySQL's dialect.
CREATE INDEX custom_fields_project_created_idx ON custom_fields (project_id, created_at DESC);
