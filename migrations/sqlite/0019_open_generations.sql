-- Open (queued or running) generations per account and mode, kept by triggers in the
-- transaction that opens or ends one: the concurrent-jobs check of a batch of creations
-- reads one row per account instead of counting its backlog.
CREATE TABLE open_generations (
    account_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    open INTEGER NOT NULL,
    PRIMARY KEY (account_id, mode)
) WITHOUT ROWID;

INSERT INTO open_generations (account_id, mode, open)
    SELECT account_id, mode, COUNT(*) FROM generations
    WHERE status IN ('queued', 'running') GROUP BY account_id, mode;

CREATE TRIGGER generations_opened AFTER INSERT ON generations
    WHEN NEW.status IN ('queued', 'running')
BEGIN
    INSERT INTO open_generations (account_id, mode, open) VALUES (NEW.account_id, NEW.mode, 1)
        ON CONFLICT (account_id, mode) DO UPDATE SET open = open + 1;
END;

CREATE TRIGGER generations_open_changed AFTER UPDATE OF status ON generations
    WHEN (OLD.status IN ('queued', 'running')) <> (NEW.status IN ('queued', 'running'))
BEGIN
    INSERT INTO open_generations (account_id, mode, open)
        VALUES (NEW.account_id, NEW.mode,
                CASE WHEN NEW.status IN ('queued', 'running') THEN 1 ELSE -1 END)
        ON CONFLICT (account_id, mode) DO UPDATE SET open = open + excluded.open;
END;

CREATE TRIGGER generations_open_removed AFTER DELETE ON generations
    WHEN OLD.status IN ('queued', 'running')
BEGIN
    UPDATE open_generations SET open = open - 1
        WHERE account_id = OLD.account_id AND mode = OLD.mode;
END;
