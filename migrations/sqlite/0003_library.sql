-- Embedded store, version 3: a user may delete a generation from /library. The row stays (the ledger
-- refers to it); `hidden_at` keeps it out of the library, and its video is removed from the media store.
ALTER TABLE generations ADD COLUMN hidden_at TEXT;
CREATE INDEX generations_created ON generations (created_at);
CREATE INDEX payments_user ON payments (user_id, created_at DESC);
