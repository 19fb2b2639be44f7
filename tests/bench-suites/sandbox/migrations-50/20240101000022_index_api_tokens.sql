CREATE INDEX api_tokens_project_created_idx ON api_tokens (project_id, created_at DESC);
