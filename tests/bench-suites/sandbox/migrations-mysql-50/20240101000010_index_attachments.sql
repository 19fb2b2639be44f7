-- migrations-50/20240101000010_index_attachments.sql in MySQL's dialect.
CREATE INDEX attachments_project_created_idx ON attachments (project_id, created_at DESC);
