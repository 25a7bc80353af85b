-- One-click calls (一键呼叫): the responders who answer them, the calls, and
-- the offers of each call to responders. A call is a case too (source
-- one_click_call); its steps are the case's events.

-- A responder is a person of one of the answering teams. Positions are
-- WGS-84; `located_at` is the device's time of the last one, `changed_at`
-- the server's time of any change, by which other nodes catch up.
CREATE TABLE responders (
    id              INTEGER PRIMARY KEY REFERENCES people (id),
    user_id         INTEGER UNIQUE REFERENCES users (id),
    team            TEXT NOT NULL,
    skills          TEXT NOT NULL,
    grid_code       TEXT NOT NULL,
    community_code  TEXT NOT NULL,
    street_code     TEXT NOT NULL,
    district_code   TEXT NOT NULL,
    on_duty         INTEGER NOT NULL,
    call_id         INTEGER,
    lat             REAL,
    lon             REAL,
    located_at      TEXT,
    changed_at      TEXT NOT NULL
);
CREATE INDEX responders_changed ON responders (changed_at);
CREATE INDEX responders_community ON responders (community_code);

CREATE TABLE calls (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL UNIQUE REFERENCES cases (id),
    kind        TEXT NOT NULL,
    device      TEXT,
    state       TEXT NOT NULL,
    owner       INTEGER REFERENCES responders (id),
    round       INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    give_up_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX calls_open ON calls (state) WHERE state <> 'done';

CREATE TABLE call_offers (
    call_id       INTEGER NOT NULL REFERENCES calls (id),
    responder_id  INTEGER NOT NULL REFERENCES responders (id),
    round         INTEGER NOT NULL,
    state         TEXT NOT NULL,
    distance_m    INTEGER NOT NULL,
    walk_s        INTEGER NOT NULL,
    offered_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    answered_at   TEXT,
    PRIMARY KEY (call_id, responder_id)
);
CREATE INDEX call_offers_out ON call_offers (responder_id) WHERE state = 'offered';
