-- The organisation tree and everything that hangs off a grid.
-- Rows placed in a grid carry the codes of all four levels, so "everything
-- within unit X" is one indexed equality on the column of X's level.

CREATE TABLE org_units (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('district', 'street', 'community', 'grid')),
    parent_code TEXT,
    name        TEXT NOT NULL,
    valid_from  TEXT NOT NULL,
    valid_to    TEXT,
    boundary    TEXT,
    min_lon     REAL,
    min_lat     REAL,
    max_lon     REAL,
    max_lat     REAL,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
-- One current version per code; old versions stay as history.
CREATE UNIQUE INDEX org_units_current_code ON org_units (code) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX org_units_code_from ON org_units (code, valid_from);
CREATE INDEX org_units_parent ON org_units (parent_code);

CREATE TABLE compounds (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    address        TEXT NOT NULL,
    lat            REAL NOT NULL,
    lon            REAL NOT NULL,
    district_code  TEXT NOT NULL,
    street_code    TEXT NOT NULL,
    community_code TEXT NOT NULL,
    grid_code      TEXT NOT NULL
);
CREATE INDEX compounds_street ON compounds (street_code);
CREATE INDEX compounds_community ON compounds (community_code);
CREATE INDEX compounds_grid ON compounds (grid_code);

CREATE TABLE buildings (
    id             INTEGER PRIMARY KEY,
    compound_code  TEXT NOT NULL REFERENCES compounds (code),
    number         INTEGER NOT NULL,
    floors         INTEGER NOT NULL,
    lat            REAL NOT NULL,
    lon            REAL NOT NULL,
    district_code  TEXT NOT NULL,
    street_code    TEXT NOT NULL,
    community_code TEXT NOT NULL,
    grid_code      TEXT NOT NULL,
    UNIQUE (compound_code, number)
);
CREATE INDEX buildings_street ON buildings (street_code);
CREATE INDEX buildings_community ON buildings (community_code);
CREATE INDEX buildings_grid ON buildings (grid_code);

CREATE TABLE households (
    id             INTEGER PRIMARY KEY,
    building_id    INTEGER NOT NULL REFERENCES buildings (id),
    entrance       INTEGER NOT NULL,
    room           INTEGER NOT NULL,
    district_code  TEXT NOT NULL,
    street_code    TEXT NOT NULL,
    community_code TEXT NOT NULL,
    grid_code      TEXT NOT NULL,
    UNIQUE (building_id, entrance, room)
);
CREATE INDEX households_street ON households (street_code);
CREATE INDEX households_community ON households (community_code);
CREATE INDEX households_grid ON households (grid_code);

-- Identity and phone numbers are never stored in plain text: `*_enc` holds
-- AES-256-GCM ciphertext (its key id inside, so keys can rotate) and
-- `*_index` a keyed HMAC-SHA256 of the number, to find it by exact match.
CREATE TABLE residents (
    id                INTEGER PRIMARY KEY,
    household_id      INTEGER NOT NULL REFERENCES households (id),
    name              TEXT NOT NULL,
    gender            TEXT NOT NULL,
    birth_date        TEXT NOT NULL,
    id_number_enc     BLOB NOT NULL,
    id_number_index   TEXT NOT NULL,
    phone_enc         BLOB,
    phone_index       TEXT,
    head_of_household INTEGER NOT NULL,
    care_groups       TEXT NOT NULL,
    district_code     TEXT NOT NULL,
    street_code       TEXT NOT NULL,
    community_code    TEXT NOT NULL,
    grid_code         TEXT NOT NULL
);
CREATE INDEX residents_street ON residents (street_code);
CREATE INDEX residents_community ON residents (community_code);
CREATE INDEX residents_grid ON residents (grid_code);
CREATE INDEX residents_household ON residents (household_id);
CREATE INDEX residents_id_number_index ON residents (id_number_index);
CREATE INDEX residents_phone_index ON residents (phone_index);

CREATE TABLE facilities (
    code           TEXT PRIMARY KEY,
    category       TEXT NOT NULL,
    name           TEXT NOT NULL,
    address        TEXT NOT NULL,
    lat            REAL NOT NULL,
    lon            REAL NOT NULL,
    district_code  TEXT NOT NULL,
    street_code    TEXT NOT NULL,
    community_code TEXT NOT NULL,
    grid_code      TEXT NOT NULL
);
CREATE INDEX facilities_street ON facilities (street_code, category);
CREATE INDEX facilities_community ON facilities (community_code, category);
CREATE INDEX facilities_grid ON facilities (grid_code);

CREATE TABLE cameras (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL,
    installed_on   TEXT NOT NULL,
    lat            REAL NOT NULL,
    lon            REAL NOT NULL,
    district_code  TEXT NOT NULL,
    street_code    TEXT NOT NULL,
    community_code TEXT NOT NULL,
    grid_code      TEXT NOT NULL
);
CREATE INDEX cameras_street ON cameras (street_code, status);
CREATE INDEX cameras_community ON cameras (community_code, status);
CREATE INDEX cameras_grid ON cameras (grid_code);

CREATE TABLE party_branches (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    district_code  TEXT NOT NULL,
    street_code    TEXT NOT NULL,
    community_code TEXT NOT NULL
);
CREATE INDEX party_branches_community ON party_branches (community_code);

-- Each grid belongs to exactly one grid Party branch.
CREATE TABLE party_branch_grids (
    grid_code      TEXT PRIMARY KEY,
    branch_code    TEXT NOT NULL REFERENCES party_branches (code),
    district_code  TEXT NOT NULL,
    street_code    TEXT NOT NULL,
    community_code TEXT NOT NULL
);
CREATE INDEX party_branch_grids_street ON party_branch_grids (street_code);
CREATE INDEX party_branch_grids_community ON party_branch_grids (community_code);
CREATE INDEX party_branch_grids_branch ON party_branch_grids (branch_code);

CREATE TABLE party_groups (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    branch_code    TEXT NOT NULL REFERENCES party_branches (code),
    district_code  TEXT NOT NULL,
    street_code    TEXT NOT NULL,
    community_code TEXT NOT NULL,
    grid_code      TEXT NOT NULL
);
CREATE INDEX party_groups_branch ON party_groups (branch_code);
CREATE INDEX party_groups_community ON party_groups (community_code);
CREATE INDEX party_groups_grid ON party_groups (grid_code);

CREATE TABLE people (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL,
    gender              TEXT NOT NULL,
    phone_enc           BLOB,
    phone_index         TEXT,
    home_community_code TEXT
);
CREATE INDEX people_phone_index ON people (phone_index);

-- A role's unit may be any level; the level columns below it are NULL.
CREATE TABLE person_roles (
    person_id      INTEGER NOT NULL REFERENCES people (id),
    kind           TEXT NOT NULL,
    unit_code      TEXT NOT NULL,
    since          TEXT NOT NULL,
    district_code  TEXT NOT NULL,
    street_code    TEXT,
    community_code TEXT,
    grid_code      TEXT,
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
    id  INTEGER PRIMARY KEY,
    lon REAL NOT NULL,
    lat REAL NOT NULL
);

CREATE TABLE street_edges (
    id       INTEGER PRIMARY KEY,
    from_id  INTEGER NOT NULL REFERENCES street_nodes (id),
    to_id    INTEGER NOT NULL REFERENCES street_nodes (id),
    length_m REAL NOT NULL CHECK (length_m >= 0),
    name     TEXT NOT NULL
);
CREATE INDEX street_edges_from ON street_edges (from_id);
CREATE INDEX street_edges_to ON street_edges (to_id);
