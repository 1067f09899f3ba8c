-- The retention sweep finds messages whose payload has expired without scanning them all.
CREATE INDEX messages_expiring ON messages (expires_at) WHERE payload IS NOT NULL;
