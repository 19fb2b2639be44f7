-- migrations-50/20240101000018_create_webhooks.sql in SQLite's dialect.
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    payload     TEXT NOT NULL DEFAULT '{}',  -- JSONB -> TEXT holding JSON
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP  -- TIMESTAMPTZ -> TEXT
);
