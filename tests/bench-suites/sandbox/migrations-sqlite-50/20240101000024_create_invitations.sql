-- migrations-50/20240101000024_create_invitations.sql in SQLite's dialect.
CREATE TABLE invitations (
    id          INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    payload     TEXT NOT NULL DEFAULT '{}',  -- JSONB -> TEXT holding JSON
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP  -- TIMESTAMPTZ -> TEXT
);
