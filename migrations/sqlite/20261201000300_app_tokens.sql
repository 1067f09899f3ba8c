-- Application-scoped API tokens (minted by `POST /api/v1/auth/app-portal-access/{app_id}`).
-- Only the hash of a token is kept; deleting the application deletes its tokens.
CREATE TABLE app_tokens (
    hash       TEXT PRIMARY KEY NOT NULL, -- hex SHA-256 of the token; the token is never stored
    app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
-- Minting forgets the application's expired tokens; the cascade on delete needs it too.
CREATE INDEX app_tokens_app ON app_tokens (app_id, expires_at);
