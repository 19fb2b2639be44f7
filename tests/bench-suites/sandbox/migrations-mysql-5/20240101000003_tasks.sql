-- migrations-5/20240101000003_tasks.sql in MySQL's dialect (no enum types: an inline ENUM column).
CREATE TABLE tasks (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- BIGSERIAL -> BIGINT AUTO_INCREMENT
    project_id  BIGINT NOT NULL,
    assignee_id BIGINT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL DEFAULT (''),  -- default as an expression: MySQL allows no literal default on TEXT
    status      ENUM('todo', 'doing', 'done') NOT NULL DEFAULT 'todo',  -- was CREATE TYPE task_status AS ENUM
    due_at      DATETIME(6) NULL,  -- TIMESTAMPTZ -> DATETIME(6)
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),  -- TIMESTAMPTZ -> DATETIME(6)
    CONSTRAINT tasks_project_id_fkey FOREIGN KEY (project_id)
        REFERENCES projects (id) ON DELETE CASCADE,  -- inline REFERENCES -> table-level FOREIGN KEY
    CONSTRAINT tasks_assignee_id_fkey FOREIGN KEY (assignee_id)
        REFERENCES users (id) ON DELETE SET NULL  -- inline REFERENCES -> table-level FOREIGN KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX tasks_project_status_idx ON tasks (project_id, status);
CREATE INDEX tasks_assignee_idx ON tasks (assignee_id);
