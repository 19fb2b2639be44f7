-- migrations-5/20240101000001_orgs_users.sql in MySQL's dialect.
-- Tables are utf8mb4_bin so that text comparison and uniqueness are case-sensitive, as in PostgreSQL.
CREATE TABLE organizations (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- BIGSERIAL -> BIGINT AUTO_INCREMENT
    name        VARCHAR(255) NOT NULL,  -- TEXT -> VARCHAR(255)
    slug        VARCHAR(255) NOT NULL,  -- TEXT -> VARCHAR(255): TEXT can't be a key without a prefix
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)  -- TIMESTAMPTZ -> DATETIME(6), no time zone
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX organizations_slug_key ON organizations (slug);

CREATE TABLE users (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- BIGSERIAL -> BIGINT AUTO_INCREMENT
    organization_id BIGINT NOT NULL,
    email           VARCHAR(255) NOT NULL,  -- TEXT -> VARCHAR(255)
    email_lower     VARCHAR(255) GENERATED ALWAYS AS (LOWER(email)) STORED,  -- added: MariaDB has no functional indexes
    display_name    TEXT NOT NULL,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),  -- TIMESTAMPTZ -> DATETIME(6)
    CONSTRAINT users_organization_id_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE  -- inline REFERENCES is ignored by MySQL: table-level FOREIGN KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE UNIQUE INDEX users_email_key ON users (email_lower);  -- was ON users (lower(email)): the stored generated column instead
CREATE INDEX users_organization_id_idx ON users (organization_id);
