-- Embedded store, version 2: what the poller needs to finish a generation after a restart.
--   provider_result    the provider's own reference to the finished video (a Gemini file URI, a URL),
--                      needed by extend/remix on the same provider
--   result_meta        JSON {width, height, duration, size} of the stored video, for sendVideo
--   status_message_id  the chat message that shows progress, edited in place
--   media_expired_at   when retention removed the stored file (Telegram's file_id may still resend it)
ALTER TABLE generations ADD COLUMN provider_result TEXT;
ALTER TABLE generations ADD COLUMN result_meta TEXT;
ALTER TABLE generations ADD COLUMN status_message_id INTEGER;
ALTER TABLE generations ADD COLUMN media_expired_at TEXT;
CREATE INDEX generations_pending_delivery ON generations (next_poll_at)
    WHERE status IN ('succeeded', 'failed', 'cancelled') AND next_poll_at IS NOT NULL;
CREATE INDEX generations_media_retention ON generations (finished_at)
    WHERE result_path IS NOT NULL AND media_expired_at IS NULL;
