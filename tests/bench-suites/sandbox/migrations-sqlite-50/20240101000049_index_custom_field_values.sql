-- migrations-50/20240101000049_index_custom_field_values.sql in SQLite's dialect.
CREATE INDEX custom_field_values_organization_created_idx ON custom_field_values (organization_id, created_at DESC);
