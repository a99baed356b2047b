-- Wake-ups instead of polling: every node LISTENs on `easel_wake` and is told when a job
-- becomes queued, webhook deliveries are written or rescheduled, or an account, member
-- or API key changes, whoever wrote it. The payload starts with the schema, so Easel
-- databases that share a server (and the tests' schemas) ignore each other's.

CREATE FUNCTION easel_wake_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Identical notifications of one transaction are delivered once.
    PERFORM pg_notify('easel_wake', current_schema() || ' jobs ' || NEW.queue);
    RETURN NULL;
END
$$;

CREATE FUNCTION easel_wake_about() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('easel_wake', current_schema() || ' ' || TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_wake AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION easel_wake_jobs();

CREATE TRIGGER webhook_deliveries_wake AFTER INSERT OR UPDATE OF next_attempt_at ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION easel_wake_about('webhooks');

CREATE TRIGGER accounts_wake AFTER INSERT OR UPDATE OR DELETE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION easel_wake_about('changes');
CREATE TRIGGER members_wake AFTER INSERT OR UPDATE OR DELETE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION easel_wake_about('changes');
CREATE TRIGGER api_keys_wake AFTER INSERT OR UPDATE OF updated_at OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION easel_wake_about('changes');
