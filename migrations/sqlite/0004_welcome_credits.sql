-- Embedded store, version 4: trial credits (WELCOME_CREDITS) are a ledger kind of their own, keyed
-- `welcome:<user_id>`. SQLite cannot change a CHECK constraint in place, so the ledger is rebuilt with
-- the same columns, indexes and append-only triggers (DROP TABLE fires no triggers).
CREATE TABLE ledger_v4 (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES users (id),
    delta              INTEGER NOT NULL CHECK (delta <> 0),
    kind               TEXT NOT NULL
                       CHECK (kind IN ('purchase', 'debit', 'refund', 'admin', 'payment_refund', 'welcome')),
    idempotency_key    TEXT NOT NULL UNIQUE,
    generation_id      TEXT REFERENCES generations (id),
    payment_charge_id  TEXT REFERENCES payments (charge_id),
    admin_id           INTEGER,
    reason             TEXT,
    balance_after      INTEGER NOT NULL CHECK (balance_after >= 0),
    created_at         TEXT NOT NULL
);
INSERT INTO ledger_v4 SELECT * FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_v4 RENAME TO ledger;
CREATE INDEX ledger_user ON ledger (user_id, id DESC);
CREATE INDEX ledger_generation ON ledger (generation_id) WHERE generation_id IS NOT NULL;
CREATE INDEX ledger_payment ON ledger (payment_charge_id) WHERE payment_charge_id IS NOT NULL;
CREATE INDEX ledger_kind_created ON ledger (kind, created_at);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only');
END;
