-- Keys clients send with a write so a retried request does not write twice.
-- `fingerprint` is the request as the server understood it; a key reused for
-- a different request is refused.
CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    kind        TEXT NOT NULL,
    result_code TEXT NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL
        DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
);
