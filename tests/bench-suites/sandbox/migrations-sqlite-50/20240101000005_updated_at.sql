-- migrations-5/20240101000005_updated_at.sql in SQLite's dialect: a column added with a
-- constant default (SQLite's rule), set on insert and update by triggers.
ALTER TABLE tasks ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';

CREATE TRIGGER tasks_set_updated_at_on_insert
    AFTER INSERT ON tasks
    FOR EACH ROW
BEGIN
    UPDATE tasks SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TRIGGER tasks_set_updated_at
    AFTER UPDATE ON tasks
    FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE tasks SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE INDEX tasks_updated_at_idx ON tasks (updated_at DESC);
