-- migrations-50/20240101000048_create_custom_field_values.sql in SQLite's dialect.
CREATE TABLE custom_field_values (
    id          INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    payload     TEXT NOT NULL DEFAULT '{}',  -- JSONB -> TEXT holding JSON
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP  -- TIMESTAMPTZ -> TEXT
);
