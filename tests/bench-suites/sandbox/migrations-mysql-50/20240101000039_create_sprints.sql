-- migrations-50/20240101000039_create_sprints.sql in MySQL's dialect.
CREATE TABLE sprints (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- BIGSERIAL -> BIGINT AUTO_INCREMENT
    user_id BIGINT NOT NULL,
    name        TEXT NOT NULL DEFAULT (''),  -- default as an expression: MySQL allows no literal default on TEXT
    payload     JSON NOT NULL DEFAULT (JSON_OBJECT()),  -- JSONB -> JSON, default as an expression
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),  -- TIMESTAMPTZ -> DATETIME(6)
    CONSTRAINT sprints_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE  -- inline REFERENCES -> table-level FOREIGN KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
