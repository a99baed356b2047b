-- Wake-ups instead of polling: every node LISTENs on `easel_wake` and is told when a job
-- becomes queued or a running one is asked to stop, webhook deliveries are written, or an
-- account, member or API key changes, whoever wrote it. The payload is
-- `<schema> <node> <what> [<queue or job>]`: Easel databases that share a server (and the
-- tests' schemas) ignore each other's, and a node ignores its own (it woke itself
-- already); `easel.node` is set on each of a node's connections, `-` elsewhere
-- (`easel admin`, psql).

-- TG_ARGV[0] says what changed; row triggers on jobs add the queue (`jobs`) or the job
-- (`cancel`). Identical notifications of one transaction are delivered once.
CREATE FUNCTION easel_wake() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    detail TEXT := '';
BEGIN
    -- Separate statements: a field of NEW is only looked up on the table that has it.
    IF TG_ARGV[0] = 'jobs' THEN
        detail := ' ' || NEW.queue;
    ELSIF TG_ARGV[0] = 'cancel' THEN
        detail := ' ' || NEW.id;
    END IF;
    PERFORM pg_notify('easel_wake', current_schema() || ' '
        || coalesce(nullif(current_setting('easel.node', true), ''), '-') || ' ' || TG_ARGV[0]
        || detail);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_wake AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION easel_wake('jobs');

-- A cancel asked of a running job: the node running it stops it at once, not at its next
-- heartbeat.
CREATE TRIGGER jobs_cancel_wake AFTER UPDATE OF cancel_requested_at ON jobs
    FOR EACH ROW WHEN (NEW.status = 'running' AND NEW.cancel_requested_at IS NOT NULL
        AND OLD.cancel_requested_at IS NULL)
    EXECUTE FUNCTION easel_wake('cancel');

-- New deliveries only: every attempt reschedules its delivery, and the node that made it
-- waits for that time itself (a retry asked for by hand is found by the next poll).
CREATE TRIGGER webhook_deliveries_wake AFTER INSERT ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION easel_wake('webhooks');

CREATE TRIGGER accounts_wake AFTER INSERT OR UPDATE OR DELETE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION easel_wake('changes');
CREATE TRIGGER members_wake AFTER INSERT OR UPDATE OR DELETE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION easel_wake('changes');
CREATE TRIGGER api_keys_wake AFTER INSERT OR UPDATE OF updated_at OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION easel_wake('changes');
