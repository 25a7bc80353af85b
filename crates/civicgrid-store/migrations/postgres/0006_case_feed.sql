-- The live feed of case changes: every event gets a global id, increasing in
-- the order events are committed (the store draws it while holding the audit
-- chain's lock, which every case write holds to its commit), so a client
-- that missed some asks for those after the last id it saw; and the state
-- the case was in after it. The events already stored are numbered here.
ALTER TABLE case_events ADD COLUMN state TEXT;
ALTER TABLE case_events DISABLE TRIGGER case_events_no_update;
-- Earlier events' states are not known without replaying; the latest is the case's.
UPDATE case_events e SET state = c.state FROM cases c WHERE c.id = e.case_id AND e.seq = c.events;
ALTER TABLE case_events ENABLE TRIGGER case_events_no_update;
ALTER TABLE case_events ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX case_events_id ON case_events (id);
