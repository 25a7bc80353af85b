-- The live feed of case changes: every event gets a global id, increasing in
-- the order events are committed, so a client that missed some asks for
-- those after the last id it saw; and the state the case was in after it.
-- SQLite cannot add an auto-numbered column to a table with rows: the store
-- gives each new event the next id inside its write transaction, and the
-- events already stored are numbered here in the order they were written.
-- The same column order as on PostgreSQL: state, then id.
ALTER TABLE case_events ADD COLUMN state TEXT;
ALTER TABLE case_events ADD COLUMN id INTEGER;

DROP TRIGGER case_events_no_update;
UPDATE case_events SET id = rowid;
-- Earlier events' states are not known without replaying; the latest is the case's.
UPDATE case_events SET state = (SELECT c.state FROM cases c WHERE c.id = case_events.case_id)
 WHERE seq = (SELECT c.events FROM cases c WHERE c.id = case_events.case_id);
CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case events are append-only');
END;

CREATE UNIQUE INDEX case_events_id ON case_events (id);
