-- Cases: the append-only event log of each case is the truth; the `cases`
-- row is a summary of it, rewritten in the same transaction as each event,
-- so lists and the escalation clock need no replay.

CREATE TABLE cases (
    id              BIGSERIAL PRIMARY KEY,
    number          TEXT COLLATE "C" NOT NULL UNIQUE,
    source          TEXT NOT NULL,
    category        TEXT NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    lat             DOUBLE PRECISION NOT NULL,
    lon             DOUBLE PRECISION NOT NULL,
    district_code   TEXT COLLATE "C" NOT NULL,
    street_code     TEXT COLLATE "C" NOT NULL,
    community_code  TEXT COLLATE "C" NOT NULL,
    grid_code       TEXT COLLATE "C" NOT NULL,
    reporter_id     BIGINT REFERENCES users (id),
    state           TEXT NOT NULL,
    handler_unit    TEXT,
    step_deadline   TEXT COLLATE "C",
    escalate_at     TEXT COLLATE "C",
    escalation      TEXT,
    supervision     BOOLEAN NOT NULL DEFAULT FALSE,
    duplicate_of    BIGINT REFERENCES cases (id),
    merged_into     BIGINT REFERENCES cases (id),
    events          BIGINT NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    updated_at      TEXT COLLATE "C" NOT NULL,
    closed_at       TEXT COLLATE "C"
);
CREATE INDEX cases_grid ON cases (grid_code, state);
CREATE INDEX cases_community ON cases (community_code, state);
CREATE INDEX cases_street ON cases (street_code, state);
CREATE INDEX cases_escalate_at ON cases (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE INDEX cases_category_created ON cases (category, created_at);
CREATE INDEX cases_reporter ON cases (reporter_id);

CREATE TABLE case_events (
    case_id   BIGINT NOT NULL REFERENCES cases (id),
    seq       BIGINT NOT NULL,
    at        TEXT COLLATE "C" NOT NULL,
    actor_id  BIGINT,
    actor     TEXT NOT NULL,
    role      TEXT NOT NULL,
    unit      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    data      TEXT NOT NULL,
    note      TEXT NOT NULL,
    photos    TEXT NOT NULL,
    lat       DOUBLE PRECISION,
    lon       DOUBLE PRECISION,
    PRIMARY KEY (case_id, seq)
);

CREATE FUNCTION case_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case events are append-only';
END;
$$;
CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_refuse_change();
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_refuse_change();
CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events
    FOR EACH STATEMENT EXECUTE FUNCTION case_events_refuse_change();

-- One escalation per case and escalation time, whichever node's clock gets there first.
CREATE TABLE case_escalations (
    case_id  BIGINT NOT NULL REFERENCES cases (id),
    deadline TEXT COLLATE "C" NOT NULL,
    level    TEXT NOT NULL,
    at       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (case_id, deadline)
);

CREATE TABLE case_idempotency (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    case_id     BIGINT NOT NULL REFERENCES cases (id)
);

-- Uploaded photos (the files live in the attachment directory under their
-- SHA-256) and the cases whose events show them.
CREATE TABLE attachments (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    size        BIGINT NOT NULL,
    width       BIGINT NOT NULL,
    height      BIGINT NOT NULL,
    uploaded_by BIGINT REFERENCES users (id),
    uploaded_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE case_attachments (
    case_id       BIGINT NOT NULL REFERENCES cases (id),
    attachment_id TEXT NOT NULL REFERENCES attachments (id),
    PRIMARY KEY (case_id, attachment_id)
);
CREATE INDEX case_attachments_attachment ON case_attachments (attachment_id);
