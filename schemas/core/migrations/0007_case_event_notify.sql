-- Every case event (the evaluator's transitions and staff actions alike) is announced on
-- NOTIFY sourcewatch_cases, so dashboards (the staff SSE stream) see it as it commits.
CREATE FUNCTION sourcewatch_notify_case_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sourcewatch_cases', json_build_object(
        'event_id', NEW.id, 'case_id', NEW.case_id, 'action', NEW.action,
        'severity', NEW.severity, 'actor', NEW.actor, 'at', NEW.at)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER case_events_notify AFTER INSERT ON case_events
    FOR EACH ROW EXECUTE FUNCTION sourcewatch_notify_case_event();
