-- Embedded store, version 9: moderation before any charge.
--
-- users.banned       an admin's /block: the user's orders are refused before any charge (their balance and
--                    running generations are left alone). Not `blocked`, which means the user blocked the
--                    bot (deliveries cannot reach them).
-- moderation_events  the audit trail admins read with /audit: every refused prompt (which list or the API,
--                    the category, what matched, at most 200 characters of the prompt) and every /block and
--                    /unblock (with the admin and the reason). Append-only; newest first by id.

ALTER TABLE users ADD COLUMN banned INTEGER NOT NULL DEFAULT 0 CHECK (banned IN (0, 1));
ALTER TABLE users ADD COLUMN banned_reason TEXT;
ALTER TABLE users ADD COLUMN banned_at TEXT;

CREATE TABLE moderation_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('list', 'api', 'admin')),
    category    TEXT NOT NULL,
    reason      TEXT,
    excerpt     TEXT CHECK (length(excerpt) <= 200),
    admin_id    INTEGER
);
CREATE INDEX moderation_events_user ON moderation_events (user_id, id);

CREATE TRIGGER moderation_events_no_update BEFORE UPDATE ON moderation_events
BEGIN
    SELECT RAISE(ABORT, 'moderation_events is append-only');
END;

CREATE TRIGGER moderation_events_no_delete BEFORE DELETE ON moderation_events
BEGIN
    SELECT RAISE(ABORT, 'moderation_events is append-only');
END;
