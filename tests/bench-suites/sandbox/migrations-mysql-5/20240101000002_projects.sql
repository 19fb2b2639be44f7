-- migrations-5/20240101000002_projects.sql in MySQL's dialect.
CREATE TABLE projects (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- BIGSERIAL -> BIGINT AUTO_INCREMENT
    organization_id BIGINT NOT NULL,
    name            VARCHAR(255) NOT NULL,  -- TEXT -> VARCHAR(255): part of a unique key
    archived        BOOLEAN NOT NULL DEFAULT false,  -- BOOLEAN is TINYINT(1)
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),  -- TIMESTAMPTZ -> DATETIME(6)
    CONSTRAINT projects_organization_id_name_key UNIQUE (organization_id, name),
    CONSTRAINT projects_organization_id_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE  -- inline REFERENCES -> table-level FOREIGN KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX projects_active_idx ON projects (organization_id);  -- was WHERE NOT archived: no partial indexes, a plain index
