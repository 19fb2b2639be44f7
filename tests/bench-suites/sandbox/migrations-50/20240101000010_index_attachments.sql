CREATE INDEX attachments_project_created_idx ON attachments (project_id, created_at DESC);
