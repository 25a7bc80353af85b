-- One-click calls (一键呼叫): the responders who answer them, the calls, and
-- the offers of each call to responders. A call is a case too (source
-- one_click_call); its steps are the case's events.

-- A responder is a person of one of the answering teams. Positions are
-- WGS-84; `located_at` is the device's time of the last one, `changed_at`
-- the server's time of any change, by which other nodes catch up.
CREATE TABLE responders (
    id              BIGINT PRIMARY KEY REFERENCES people (id),
    user_id         BIGINT UNIQUE REFERENCES users (id),
    team            TEXT NOT NULL,
    skills          TEXT NOT NULL,
    grid_code       TEXT COLLATE "C" NOT NULL,
    community_code  TEXT COLLATE "C" NOT NULL,
    street_code     TEXT COLLATE "C" NOT NULL,
    district_code   TEXT COLLATE "C" NOT NULL,
    on_duty         BOOLEAN NOT NULL,
    call_id         BIGINT,
    lat             DOUBLE PRECISION,
    lon             DOUBLE PRECISION,
    located_at      TEXT COLLATE "C",
    changed_at      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX responders_changed ON responders (changed_at);
CREATE INDEX responders_community ON responders (community_code);

CREATE TABLE calls (
    id          BIGSERIAL PRIMARY KEY,
    case_id     BIGINT NOT NULL UNIQUE REFERENCES cases (id),
    kind        TEXT NOT NULL,
    device      TEXT,
    state       TEXT NOT NULL,
    owner       BIGINT REFERENCES responders (id),
    round       BIGINT NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    give_up_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX calls_open ON calls (state) WHERE state <> 'done';

CREATE TABLE call_offers (
    call_id       BIGINT NOT NULL REFERENCES calls (id),
    responder_id  BIGINT NOT NULL REFERENCES responders (id),
    round         BIGINT NOT NULL,
    state         TEXT NOT NULL,
    distance_m    BIGINT NOT NULL,
    walk_s        BIGINT NOT NULL,
    offered_at    TEXT COLLATE "C" NOT NULL,
    expires_at    TEXT COLLATE "C" NOT NULL,
    answered_at   TEXT COLLATE "C",
    PRIMARY KEY (call_id, responder_id)
);
CREATE INDEX call_offers_out ON call_offers (responder_id) WHERE state = 'offered';
