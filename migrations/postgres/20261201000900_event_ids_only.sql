-- An `eventId` is unique per application, and most messages have none. A NULL key never
-- conflicts, yet the unique index held an entry for every message; now it holds only the
-- messages that have an `eventId`, one index entry fewer per message written.
ALTER TABLE messages DROP CONSTRAINT messages_app_id_event_id_key;
CREATE UNIQUE INDEX messages_app_id_event_id_key ON messages (app_id, event_id)
    WHERE event_id IS NOT NULL;
