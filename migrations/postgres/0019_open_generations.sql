-- Open (queued or running) generations per account and mode, kept by triggers in the
-- transaction that opens or ends one: the concurrent-jobs check of a batch of creations
-- reads one row per account instead of counting its backlog.
--
-- Lock order: whoever ends a generation locks its counter row (here) before its balance
-- row (the settlement, last); a batch of creations therefore locks the counter rows of its
-- accounts before their balance rows (`PG_CREATION_READS`), or the two could deadlock.
CREATE TABLE open_generations (
    account_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    open BIGINT NOT NULL,
    PRIMARY KEY (account_id, mode)
);

INSERT INTO open_generations (account_id, mode, open)
    SELECT account_id, mode, COUNT(*) FROM generations
    WHERE status IN ('queued', 'running') GROUP BY account_id, mode;

-- Creations are inserted a batch at a time: one upsert per account and mode per batch.
CREATE FUNCTION easel_generations_opened() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO open_generations (account_id, mode, open)
        SELECT account_id, mode, COUNT(*) FROM opened
        WHERE status IN ('queued', 'running') GROUP BY account_id, mode ORDER BY account_id, mode
        ON CONFLICT (account_id, mode) DO UPDATE SET open = open_generations.open + EXCLUDED.open;
    RETURN NULL;
END
$$;

CREATE TRIGGER generations_opened AFTER INSERT ON generations
    REFERENCING NEW TABLE AS opened
    FOR EACH STATEMENT EXECUTE FUNCTION easel_generations_opened();

-- Generations end one at a time; the WHEN clause keeps every other update free of it.
CREATE FUNCTION easel_generation_open_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE open_generations SET open = open - 1
            WHERE account_id = OLD.account_id AND mode = OLD.mode;
    ELSE
        INSERT INTO open_generations (account_id, mode, open)
            VALUES (NEW.account_id, NEW.mode,
                    CASE WHEN NEW.status IN ('queued', 'running') THEN 1 ELSE -1 END)
            ON CONFLICT (account_id, mode) DO UPDATE
            SET open = open_generations.open + EXCLUDED.open;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER generations_open_changed AFTER UPDATE OF status ON generations
    FOR EACH ROW
    WHEN ((OLD.status IN ('queued', 'running')) <> (NEW.status IN ('queued', 'running')))
    EXECUTE FUNCTION easel_generation_open_changed();

CREATE TRIGGER generations_open_removed AFTER DELETE ON generations
    FOR EACH ROW WHEN (OLD.status IN ('queued', 'running'))
    EXECUTE FUNCTION easel_generation_open_changed();
