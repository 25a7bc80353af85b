-- The organisation tree and everything that hangs off a grid, as in the
-- SQLite schema of the same number. Rows placed in a grid carry the codes of
-- all four levels, so "everything within unit X" is one indexed equality on
-- the column of X's level.
--
-- Dates and timestamps are the same text as on SQLite (ISO dates, RFC 3339
-- UTC with six fractional digits), so both backends read and write them
-- alike. Columns that are sorted or compared by range use the "C" collation:
-- byte order, as SQLite compares, whatever the database's own locale.

CREATE TABLE org_units (
    id          BIGSERIAL PRIMARY KEY,
    code        TEXT COLLATE "C" NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('district', 'street', 'community', 'grid')),
    parent_code TEXT COLLATE "C",
    name        TEXT NOT NULL,
    valid_from  TEXT COLLATE "C" NOT NULL,
    valid_to    TEXT COLLATE "C",
    boundary    TEXT,
    min_lon     DOUBLE PRECISION,
    min_lat     DOUBLE PRECISION,
    max_lon     DOUBLE PRECISION,
    max_lat     DOUBLE PRECISION,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
-- One current version per code; old versions stay as history.
CREATE UNIQUE INDEX org_units_current_code ON org_units (code) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX org_units_code_from ON org_units (code, valid_from);
CREATE INDEX org_units_parent ON org_units (parent_code);

CREATE TABLE compounds (
    code           TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT NOT NULL,
    address        TEXT NOT NULL,
    lat            DOUBLE PRECISION NOT NULL,
    lon            DOUBLE PRECISION NOT NULL,
    district_code  TEXT COLLATE "C" NOT NULL,
    street_code    TEXT COLLATE "C" NOT NULL,
    community_code TEXT COLLATE "C" NOT NULL,
    grid_code      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX compounds_street ON compounds (street_code);
CREATE INDEX compounds_community ON compounds (community_code);
CREATE INDEX compounds_grid ON compounds (grid_code);

CREATE TABLE buildings (
    id             BIGINT PRIMARY KEY,
    compound_code  TEXT COLLATE "C" NOT NULL REFERENCES compounds (code),
    number         BIGINT NOT NULL,
    floors         BIGINT NOT NULL,
    lat            DOUBLE PRECISION NOT NULL,
    lon            DOUBLE PRECISION NOT NULL,
    district_code  TEXT COLLATE "C" NOT NULL,
    street_code    TEXT COLLATE "C" NOT NULL,
    community_code TEXT COLLATE "C" NOT NULL,
    grid_code      TEXT COLLATE "C" NOT NULL,
    UNIQUE (compound_code, number)
);
CREATE INDEX buildings_street ON buildings (street_code);
CREATE INDEX buildings_community ON buildings (community_code);
CREATE INDEX buildings_grid ON buildings (grid_code);

CREATE TABLE households (
    id             BIGINT PRIMARY KEY,
    building_id    BIGINT NOT NULL REFERENCES buildings (id),
    entrance       BIGINT NOT NULL,
    room           BIGINT NOT NULL,
    district_code  TEXT COLLATE "C" NOT NULL,
    street_code    TEXT COLLATE "C" NOT NULL,
    community_code TEXT COLLATE "C" NOT NULL,
    grid_code      TEXT COLLATE "C" NOT NULL,
    UNIQUE (building_id, entrance, room)
);
CREATE INDEX households_street ON households (street_code);
CREATE INDEX households_community ON households (community_code);
CREATE INDEX households_grid ON households (grid_code);

-- Identity and phone numbers are never stored in plain text: `*_enc` holds
-- AES-256-GCM ciphertext (its key id inside, so keys can rotate) and
-- `*_index` a keyed HMAC-SHA256 of the number, to find it by exact match.
CREATE TABLE residents (
    id                BIGINT PRIMARY KEY,
    household_id      BIGINT NOT NULL REFERENCES households (id),
    name              TEXT NOT NULL,
    gender            TEXT NOT NULL,
    birth_date        TEXT NOT NULL,
    id_number_enc     BYTEA NOT NULL,
    id_number_index   TEXT NOT NULL,
    phone_enc         BYTEA,
    phone_index       TEXT,
    head_of_household BOOLEAN NOT NULL,
    care_groups       TEXT NOT NULL,
    district_code     TEXT COLLATE "C" NOT NULL,
    street_code       TEXT COLLATE "C" NOT NULL,
    community_code    TEXT COLLATE "C" NOT NULL,
    grid_code         TEXT COLLATE "C" NOT NULL
);
CREATE INDEX residents_street ON residents (street_code);
CREATE INDEX residents_community ON residents (community_code);
CREATE INDEX residents_grid ON residents (grid_code);
CREATE INDEX residents_household ON residents (household_id);
CREATE INDEX residents_id_number_index ON residents (id_number_index);
CREATE INDEX residents_phone_index ON residents (phone_index);

-- `id` numbers the codes of facilities registered here (`FAC00000003`).
CREATE TABLE facilities (
    id             BIGSERIAL NOT NULL UNIQUE,
    code           TEXT COLLATE "C" PRIMARY KEY,
    category       TEXT NOT NULL,
    name           TEXT NOT NULL,
    address        TEXT NOT NULL,
    lat            DOUBLE PRECISION NOT NULL,
    lon            DOUBLE PRECISION NOT NULL,
    district_code  TEXT COLLATE "C" NOT NULL,
    street_code    TEXT COLLATE "C" NOT NULL,
    community_code TEXT COLLATE "C" NOT NULL,
    grid_code      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX facilities_street ON facilities (street_code, category);
CREATE INDEX facilities_community ON facilities (community_code, category);
CREATE INDEX facilities_grid ON facilities (grid_code);

CREATE TABLE cameras (
    code           TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL,
    installed_on   TEXT NOT NULL,
    lat            DOUBLE PRECISION NOT NULL,
    lon            DOUBLE PRECISION NOT NULL,
    district_code  TEXT COLLATE "C" NOT NULL,
    street_code    TEXT COLLATE "C" NOT NULL,
    community_code TEXT COLLATE "C" NOT NULL,
    grid_code      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX cameras_street ON cameras (street_code, status);
CREATE INDEX cameras_community ON cameras (community_code, status);
CREATE INDEX cameras_grid ON cameras (grid_code);

CREATE TABLE party_branches (
    code           TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT NOT NULL,
    district_code  TEXT COLLATE "C" NOT NULL,
    street_code    TEXT COLLATE "C" NOT NULL,
    community_code TEXT COLLATE "C" NOT NULL
);
CREATE INDEX party_branches_community ON party_branches (community_code);

-- Each grid belongs to exactly one grid Party branch.
CREATE TABLE party_branch_grids (
    grid_code      TEXT COLLATE "C" PRIMARY KEY,
    branch_code    TEXT COLLATE "C" NOT NULL REFERENCES party_branches (code),
    district_code  TEXT COLLATE "C" NOT NULL,
    street_code    TEXT COLLATE "C" NOT NULL,
    community_code TEXT COLLATE "C" NOT NULL
);
CREATE INDEX party_branch_grids_street ON party_branch_grids (street_code);
CREATE INDEX party_branch_grids_community ON party_branch_grids (community_code);
CREATE INDEX party_branch_grids_branch ON party_branch_grids (branch_code);

CREATE TABLE party_groups (
    code           TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT NOT NULL,
    branch_code    TEXT COLLATE "C" NOT NULL REFERENCES party_branches (code),
    district_code  TEXT COLLATE "C" NOT NULL,
    street_code    TEXT COLLATE "C" NOT NULL,
    community_code TEXT COLLATE "C" NOT NULL,
    grid_code      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX party_groups_branch ON party_groups (branch_code);
CREATE INDEX party_groups_community ON party_groups (community_code);
CREATE INDEX party_groups_grid ON party_groups (grid_code);

CREATE TABLE people (
    id                  BIGINT PRIMARY KEY,
    name                TEXT NOT NULL,
    gender              TEXT NOT NULL,
    phone_enc           BYTEA,
    phone_index         TEXT,
    home_community_code TEXT COLLATE "C"
);
CREATE INDEX people_phone_index ON people (phone_index);

-- A role's unit may be any level; the level columns below it are NULL.
CREATE TABLE person_roles (
    person_id      BIGINT NOT NULL REFERENCES people (id),
    kind           TEXT COLLATE "C" NOT NULL,
    unit_code      TEXT COLLATE "C" NOT NULL,
    since          TEXT NOT NULL,
    district_code  TEXT COLLATE "C" NOT NULL,
    street_code    TEXT COLLATE "C",
    community_code TEXT COLLATE "C",
    grid_code      TEXT COLLATE "C",
    PRIMARY KEY (person_id, kind, unit_code)
);
CREATE INDEX person_roles_kind_street ON person_roles (kind, street_code);
CREATE INDEX person_roles_kind_community ON person_roles (kind, community_code);
CREATE INDEX person_roles_grid ON person_roles (grid_code);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The walkable street network: nodes in WGS-84, undirected edges between them.
CREATE TABLE street_nodes (
    id  BIGINT PRIMARY KEY,
    lon DOUBLE PRECISION NOT NULL,
    lat DOUBLE PRECISION NOT NULL
);

CREATE TABLE street_edges (
    id       BIGSERIAL PRIMARY KEY,
    from_id  BIGINT NOT NULL REFERENCES street_nodes (id),
    to_id    BIGINT NOT NULL REFERENCES street_nodes (id),
    length_m DOUBLE PRECISION NOT NULL CHECK (length_m >= 0),
    name     TEXT NOT NULL
);
CREATE INDEX street_edges_from ON street_edges (from_id);
CREATE INDEX street_edges_to ON street_edges (to_id);
