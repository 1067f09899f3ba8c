//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.

use crate::domain::EndpointSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One `v1,…` signature of `body` for message `msg_id` sent at `timestamp` (unix seconds).
pub fn sign(secret: &EndpointSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    #[allow(clippy::expect_used)] // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.key()).expect("any key length is valid");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header value: one signature per valid key, space-separated, so a
/// receiver still holding the old key during a rotation keeps verifying.
pub fn signature_header(
    secrets: &[EndpointSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector published with the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret() -> EndpointSecret {
        EndpointSecret::parse(SECRET).unwrap()
    }

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        assert_eq!(sign(&secret(), MSG_ID, TIMESTAMP, BODY), EXPECTED);
    }

    #[test]
    fn a_changed_body_id_or_timestamp_changes_the_signature() {
        assert_ne!(
            sign(&secret(), MSG_ID, TIMESTAMP, br#"{"test": 1}"#),
            EXPECTED
        );
        assert_ne!(sign(&secret(), "msg_other", TIMESTAMP, BODY), EXPECTED);
        assert_ne!(sign(&secret(), MSG_ID, TIMESTAMP + 1, BODY), EXPECTED);
    }

    #[test]
    fn every_valid_key_signs_during_a_rotation() {
        let other = EndpointSecret::generate();
        let header = signature_header(&[other.clone(), secret()], MSG_ID, TIMESTAMP, BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign(&other, MSG_ID, TIMESTAMP, BODY));
        assert_eq!(parts[1], EXPECTED);
    }
}
