-- migrations-5/20240101000004_tags.sql in MySQL's dialect.
CREATE TABLE tags (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- BIGSERIAL -> BIGINT AUTO_INCREMENT
    organization_id BIGINT NOT NULL,
    label           VARCHAR(255) NOT NULL,  -- TEXT -> VARCHAR(255): part of a unique key
    CONSTRAINT tags_organization_id_label_key UNIQUE (organization_id, label),
    CONSTRAINT tags_organization_id_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE  -- inline REFERENCES -> table-level FOREIGN KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE task_tags (
    task_id BIGINT NOT NULL,
    tag_id  BIGINT NOT NULL,
    PRIMARY KEY (task_id, tag_id),
    CONSTRAINT task_tags_task_id_fkey FOREIGN KEY (task_id)
        REFERENCES tasks (id) ON DELETE CASCADE,  -- inline REFERENCES -> table-level FOREIGN KEY
    CONSTRAINT task_tags_tag_id_fkey FOREIGN KEY (tag_id)
        REFERENCES tags (id) ON DELETE CASCADE  -- inline REFERENCES -> table-level FOREIGN KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX task_tags_tag_idx ON task_tags (tag_id);
