-- Endpoint secrets at rest. With HOOKLINE_MAIN_SECRET set, `endpoints.secret` and each
-- `secret` in `endpoints.retired_secrets` hold `enc:v1:<base64(nonce || ciphertext)>`
-- (XChaCha20-Poly1305, associated data the endpoint id) instead of `whsec_…`.
--
-- This one row holds a known value sealed with the same key, written when encryption is
-- turned on: a start with another key, or with none, fails instead of misreading secrets.
-- No row means the secrets are plaintext.
CREATE TABLE secret_key_check (
    id         smallint PRIMARY KEY CHECK (id = 1),
    key_check  text NOT NULL,        -- enc:v1:…
    created_at timestamptz NOT NULL  -- when encryption was turned on
);
