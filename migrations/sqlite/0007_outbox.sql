-- Embedded store, version 7: what the bot owes a user survives a kill.
--
-- outbox            one row per notice that follows a money change, keyed `<kind>:<subject>` so it is
--                   written once and sent once: `purchase:<charge>` (a Stars payment credited),
--                   `order:<generation>` (the debit), `refund:<generation>` (a failed or cancelled
--                   generation's refund), `payment_refund:<charge>` (a Stars payment refunded). Triggers write it in the same transaction as the ledger or
--                   payment change, whichever function made that change. The step that made it sends it
--                   at once under a lease; the sender job takes whatever is left (a kill, Telegram down).
--                   `outcome` is set when it is done: sent, unreachable (blocked, chat gone), gave_up.
-- video_uploads     uploads of a generation's video begun (counted before the upload leaves), so an
--                   upload whose answer was lost is repeated at most once: a video reaches a chat at
--                   most twice.
-- telegram_updates  payment updates (successful_payment, refunded_payment) as received, stored before
--                   the polling offset confirms them to Telegram (or before a webhook is answered);
--                   `handled_at` is set once their handler finished, so a kill in between replays them.

CREATE TABLE outbox (
    key            TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('purchase', 'order', 'refund', 'payment_refund')),
    user_id        INTEGER NOT NULL REFERENCES users (id),
    chat_id        INTEGER NOT NULL,
    generation_id  TEXT REFERENCES generations (id),
    charge_id      TEXT REFERENCES payments (telegram_payment_charge_id),
    created_at     TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_until    TEXT,
    done_at        TEXT,
    outcome        TEXT CHECK (outcome IN ('sent', 'unreachable', 'gave_up'))
);
CREATE INDEX outbox_pending ON outbox (created_at) WHERE done_at IS NULL;

CREATE TRIGGER outbox_purchase AFTER INSERT ON ledger WHEN new.kind = 'purchase'
BEGIN
    INSERT OR IGNORE INTO outbox (key, kind, user_id, chat_id, charge_id, created_at)
    VALUES ('purchase:' || new.payment_charge_id, 'purchase', new.user_id, new.user_id, new.payment_charge_id,
            new.created_at);
END;

CREATE TRIGGER outbox_order AFTER INSERT ON ledger WHEN new.kind = 'debit'
BEGIN
    INSERT OR IGNORE INTO outbox (key, kind, user_id, chat_id, generation_id, created_at)
    SELECT 'order:' || g.id, 'order', g.user_id, g.chat_id, g.id, g.created_at
    FROM generations g WHERE g.id = new.generation_id;
END;

CREATE TRIGGER outbox_refund AFTER INSERT ON ledger WHEN new.kind = 'refund'
BEGIN
    INSERT OR IGNORE INTO outbox (key, kind, user_id, chat_id, generation_id, created_at)
    SELECT 'refund:' || g.id, 'refund', g.user_id, g.chat_id, g.id, coalesce(g.finished_at, new.created_at)
    FROM generations g WHERE g.id = new.generation_id;
END;

CREATE TRIGGER outbox_payment_refund AFTER UPDATE OF refunded ON payments
WHEN new.refunded = 1 AND old.refunded = 0
BEGIN
    INSERT OR IGNORE INTO outbox (key, kind, user_id, chat_id, charge_id, created_at)
    VALUES ('payment_refund:' || new.telegram_payment_charge_id, 'payment_refund', new.user_id,
            new.user_id, new.telegram_payment_charge_id, new.refunded_at);
END;

CREATE TABLE video_uploads (
    generation_id  TEXT PRIMARY KEY REFERENCES generations (id),
    uploads        INTEGER NOT NULL CHECK (uploads >= 0),
    updated_at     TEXT NOT NULL
);

CREATE TABLE telegram_updates (
    update_id    INTEGER PRIMARY KEY,
    body         TEXT NOT NULL,              -- the Update as Telegram sent it (JSON)
    received_at  TEXT NOT NULL,
    handled_at   TEXT
);
CREATE INDEX telegram_updates_pending ON telegram_updates (update_id) WHERE handled_at IS NULL;
