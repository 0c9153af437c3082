-- Wake the relay when events commit. A trigger (not an app-side NOTIFY) so
-- writers through RDS Proxy send nothing that could pin their connection;
-- NOTIFY is delivered at commit, never for a rolled-back write.
CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ladder_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER event_outbox_notify
    AFTER INSERT ON event_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();

-- Rows the relay numbered but has not yet confirmed in Redis (after a crash).
CREATE INDEX event_outbox_unconfirmed ON event_outbox (seq)
    WHERE seq IS NOT NULL AND published_at IS NULL;
