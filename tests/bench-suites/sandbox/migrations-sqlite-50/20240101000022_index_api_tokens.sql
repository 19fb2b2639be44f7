-- migrations-50/20240101000022_index_api_tokens.sql in SQLite's dialect.
CREATE INDEX api_tokens_project_created_idx ON api_tokens (project_id, created_at DESC);
