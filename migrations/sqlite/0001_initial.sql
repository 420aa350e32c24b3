-- Embedded store, version 1: users with a cached balance, an append-only ledger, Stars payments and
-- generations. Timestamps are UTC ISO-8601 text with microseconds, so text order is time order.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,              -- Telegram user id
    username    TEXT,
    language    TEXT,
    balance     INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    blocked     INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX users_username ON users (lower(username));

CREATE TABLE payments (
    charge_id           TEXT PRIMARY KEY,         -- telegram_payment_charge_id
    user_id             INTEGER NOT NULL REFERENCES users (id),
    stars               INTEGER NOT NULL CHECK (stars > 0),
    credits             INTEGER NOT NULL CHECK (credits >= 0),
    payload             TEXT NOT NULL,
    provider_charge_id  TEXT,
    refunded            INTEGER NOT NULL DEFAULT 0 CHECK (refunded IN (0, 1)),
    created_at          TEXT NOT NULL,
    refunded_at         TEXT
);

CREATE TABLE generations (
    id                TEXT PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users (id),
    chat_id           INTEGER NOT NULL,
    model             TEXT NOT NULL,
    mode              TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    request           TEXT NOT NULL,              -- the VideoRequest as JSON
    cost              INTEGER NOT NULL CHECK (cost > 0),
    status            TEXT NOT NULL CHECK (status IN
                          ('queued', 'running', 'succeeded', 'delivered', 'failed', 'cancelled')),
    request_key       TEXT UNIQUE,                -- makes a double-tapped "pay" create one generation
    route_provider    TEXT,
    route_model_id    TEXT,
    provider_task_id  TEXT,
    progress          INTEGER CHECK (progress BETWEEN 0 AND 100),
    result_path       TEXT,
    file_id           TEXT,
    error_code        TEXT,
    error_message     TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    deadline_at       TEXT NOT NULL,              -- hard timeout: past it an active generation fails
    next_poll_at      TEXT,
    lease_owner       TEXT,
    lease_until       TEXT,
    finished_at       TEXT,
    delivered_at      TEXT
);
CREATE INDEX generations_library ON generations (user_id, created_at DESC, id DESC);
CREATE INDEX generations_due ON generations (next_poll_at) WHERE status IN ('queued', 'running');
CREATE INDEX generations_provider_task ON generations (route_provider, provider_task_id);

CREATE TABLE ledger (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES users (id),
    delta              INTEGER NOT NULL CHECK (delta <> 0),
    kind               TEXT NOT NULL CHECK (kind IN ('purchase', 'debit', 'refund', 'admin', 'payment_refund')),
    idempotency_key    TEXT NOT NULL UNIQUE,
    generation_id      TEXT REFERENCES generations (id),
    payment_charge_id  TEXT REFERENCES payments (charge_id),
    admin_id           INTEGER,
    reason             TEXT,
    balance_after      INTEGER NOT NULL CHECK (balance_after >= 0),
    created_at         TEXT NOT NULL
);
CREATE INDEX ledger_user ON ledger (user_id, id DESC);
CREATE INDEX ledger_generation ON ledger (generation_id) WHERE generation_id IS NOT NULL;
CREATE INDEX ledger_payment ON ledger (payment_charge_id) WHERE payment_charge_id IS NOT NULL;

-- The ledger is append-only: history is corrected by new entries, never by edits.
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only');
END;
