-- migrations-50/20240101000036_create_time_entries.sql in SQLite's dialect.
CREATE TABLE time_entries (
    id          INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    payload     TEXT NOT NULL DEFAULT '{}',  -- JSONB -> TEXT holding JSON
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP  -- TIMESTAMPTZ -> TEXT
);
