-- Users and what they may do where, their sessions and API tokens, and the
-- audit log. Timestamps are RFC 3339 UTC text with six fractional digits,
-- compared in byte order, so text order is time order.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    -- An argon2id PHC string; the password itself is never stored.
    password_hash TEXT NOT NULL,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until  TEXT COLLATE "C",
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT COLLATE "C" NOT NULL
);

-- A role over a unit and everything below it.
CREATE TABLE user_grants (
    user_id    BIGINT NOT NULL REFERENCES users (id),
    role       TEXT COLLATE "C" NOT NULL,
    scope_code TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, role, scope_code)
);
CREATE INDEX user_grants_scope ON user_grants (scope_code);

-- The cookie holds a random id; only its SHA-256 is kept, so a copy of the
-- database does not let anyone take over a session.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT COLLATE "C" NOT NULL,
    expires_at   TEXT COLLATE "C",
    last_used_at TEXT COLLATE "C",
    revoked_at   TEXT COLLATE "C"
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Append-only and hash-chained: each entry's hash covers the previous hash
-- and its own fields (the format is documented in src/audit_chain.rs).
-- `detail` is the canonical JSON text that was hashed, not JSONB, which
-- would not keep it byte for byte.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TEXT COLLATE "C" NOT NULL,
    actor     TEXT COLLATE "C" NOT NULL,
    actor_id  BIGINT,
    ip        TEXT,
    action    TEXT COLLATE "C" NOT NULL,
    target    TEXT COLLATE "C" NOT NULL,
    detail    TEXT NOT NULL,
    reason    TEXT,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- The database itself refuses to change or remove an entry; the hash chain
-- catches whoever goes around this.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
