-- Registered call devices: wall buttons, speakers, and residents' registered
-- addresses (`home`, what a resident's phone calls from when it has no
-- position). A device is placed once, at registration: its point (WGS-84,
-- the household's building when a household is named) and the codes of the
-- grid holding it. A retired device keeps its row (calls name it) and may
-- be registered again.
CREATE TABLE call_devices (
    code            TEXT COLLATE "C" PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         BIGINT REFERENCES users (id),
    household_id    BIGINT REFERENCES households (id),
    address         TEXT NOT NULL,
    lat             DOUBLE PRECISION NOT NULL,
    lon             DOUBLE PRECISION NOT NULL,
    grid_code       TEXT COLLATE "C" NOT NULL,
    community_code  TEXT COLLATE "C" NOT NULL,
    street_code     TEXT COLLATE "C" NOT NULL,
    district_code   TEXT COLLATE "C" NOT NULL,
    registered_at   TEXT COLLATE "C" NOT NULL,
    retired_at      TEXT COLLATE "C"
);
CREATE INDEX call_devices_user ON call_devices (user_id) WHERE retired_at IS NULL;
CREATE INDEX call_devices_community ON call_devices (community_code);

-- How a call was placed: at the caller's live position, at a registered
-- device's point, or at the caller's registered address; and that address.
ALTER TABLE calls ADD COLUMN located_by TEXT NOT NULL DEFAULT 'position';
ALTER TABLE calls ADD COLUMN address TEXT;
