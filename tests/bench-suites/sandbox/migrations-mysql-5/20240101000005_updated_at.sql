-- migrations-5/20240101000005_updated_at.sql in MySQL's dialect: no trigger functions, so the
-- plpgsql set_updated_at() is not created and the trigger has the assignment as its one-statement body.
ALTER TABLE tasks ADD COLUMN updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6);  -- TIMESTAMPTZ -> DATETIME(6)

CREATE TRIGGER tasks_set_updated_at
    BEFORE UPDATE ON tasks
    FOR EACH ROW SET NEW.updated_at = NOW(6);  -- was EXECUTE FUNCTION set_updated_at()

CREATE INDEX tasks_updated_at_idx ON tasks (updated_at DESC);
