-- Embedded store, version 8: aiogram's FSM state (the wizard in progress, Stars orders waiting for their
-- payment) lives in the database instead of the process, so a restart loses neither (bot/fsm.py). One row
-- per storage key (bot, chat, user, destiny); `data` is a JSON object. A key with no state and empty data
-- has no row.
CREATE TABLE fsm_states (
    key        TEXT PRIMARY KEY,
    state      TEXT,
    data       TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
);
