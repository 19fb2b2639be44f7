-- migrations-50/20240101000037_index_time_entries.sql in MySQL's dialect.
CREATE INDEX time_entries_organization_created_idx ON time_entries (organization_id, created_at DESC);
