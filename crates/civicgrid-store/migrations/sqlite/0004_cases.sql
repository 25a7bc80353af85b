-- Cases: the append-only event log of each case is the truth; the `cases`
-- row is a summary of it, rewritten in the same transaction as each event,
-- so lists and the escalation clock need no replay.

CREATE TABLE cases (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL,
    category        TEXT NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    lat             REAL NOT NULL,
    lon             REAL NOT NULL,
    district_code   TEXT NOT NULL,
    street_code     TEXT NOT NULL,
    community_code  TEXT NOT NULL,
    grid_code       TEXT NOT NULL,
    reporter_id     INTEGER REFERENCES users (id),
    state           TEXT NOT NULL,
    handler_unit    TEXT,
    step_deadline   TEXT,
    escalate_at     TEXT,
    escalation      TEXT,
    supervision     INTEGER NOT NULL DEFAULT 0,
    duplicate_of    INTEGER REFERENCES cases (id),
    merged_into     INTEGER REFERENCES cases (id),
    events          INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    closed_at       TEXT
);
CREATE INDEX cases_grid ON cases (grid_code, state);
CREATE INDEX cases_community ON cases (community_code, state);
CREATE INDEX cases_street ON cases (street_code, state);
CREATE INDEX cases_escalate_at ON cases (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE INDEX cases_category_created ON cases (category, created_at);
CREATE INDEX cases_reporter ON cases (reporter_id);

CREATE TABLE case_events (
    case_id   INTEGER NOT NULL REFERENCES cases (id),
    seq       INTEGER NOT NULL,
    at        TEXT NOT NULL,
    actor_id  INTEGER,
    actor     TEXT NOT NULL,
    role      TEXT NOT NULL,
    unit      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    data      TEXT NOT NULL,
    note      TEXT NOT NULL,
    photos    TEXT NOT NULL,
    lat       REAL,
    lon       REAL,
    PRIMARY KEY (case_id, seq)
);

CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case events are append-only');
END;
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case events are append-only');
END;

-- One escalation per case and escalation time, whichever node's clock gets there first.
CREATE TABLE case_escalations (
    case_id  INTEGER NOT NULL REFERENCES cases (id),
    deadline TEXT NOT NULL,
    level    TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (case_id, deadline)
);

CREATE TABLE case_idempotency (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    case_id     INTEGER NOT NULL REFERENCES cases (id)
);

-- Uploaded photos (the files live in the attachment directory under their
-- SHA-256) and the cases whose events show them.
CREATE TABLE attachments (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    uploaded_by INTEGER REFERENCES users (id),
    uploaded_at TEXT NOT NULL
);

CREATE TABLE case_attachments (
    case_id       INTEGER NOT NULL REFERENCES cases (id),
    attachment_id TEXT NOT NULL REFERENCES attachments (id),
    PRIMARY KEY (case_id, attachment_id)
);
CREATE INDEX case_attachments_attachment ON case_attachments (attachment_id);
