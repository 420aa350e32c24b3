-- Embedded store, version 6: a create request is recorded before it is sent. `submit_request_id` is our
-- client request id (Runware's taskUUID), `submit_started_at` when it was recorded; a queued generation
-- with one may have a paid task upstream, so it is looked up or refunded, never submitted again.
ALTER TABLE generations ADD COLUMN submit_request_id TEXT;
ALTER TABLE generations ADD COLUMN submit_started_at TEXT;
-- The route (`provider:model id`) whose provider accepted the task and then failed on its own side; the
-- generation went to the model's next route once, under the same debit.
ALTER TABLE generations ADD COLUMN failover_from TEXT;
