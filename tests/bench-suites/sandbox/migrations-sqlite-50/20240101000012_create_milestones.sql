-- migrations-50/20240101000012_create_milestones.sql in SQLite's dialect.
CREATE TABLE milestones (
    id          INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    payload     TEXT NOT NULL DEFAULT '{}',  -- JSONB -> TEXT holding JSON
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP  -- TIMESTAMPTZ -> TEXT
);
