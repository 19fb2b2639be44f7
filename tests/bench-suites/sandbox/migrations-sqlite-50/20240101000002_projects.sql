-- migrations-5/20240101000002_projects.sql in SQLite's dialect.
CREATE TABLE projects (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    archived        BOOLEAN NOT NULL DEFAULT false,
    created_at      TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (organization_id, name)
);
CREATE INDEX projects_active_idx ON projects (organization_id) WHERE NOT archived;
