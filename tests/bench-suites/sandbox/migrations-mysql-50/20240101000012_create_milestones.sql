-- migrations-50/20240101000012_create_milestones.sql in MySQL's dialect.
CREATE TABLE milestones (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- BIGSERIAL -> BIGINT AUTO_INCREMENT
    organization_id BIGINT NOT NULL,
    name        TEXT NOT NULL DEFAULT (''),  -- default as an expression: MySQL allows no literal default on TEXT
    payload     JSON NOT NULL DEFAULT (JSON_OBJECT()),  -- JSONB -> JSON, default as an expression
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),  -- TIMESTAMPTZ -> DATETIME(6)
    CONSTRAINT milestones_organization_id_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE  -- inline REFERENCES -> table-level FOREIGN KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
