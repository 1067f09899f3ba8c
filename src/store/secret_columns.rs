//! How endpoint secrets sit in their columns, the same in both stores (so data can move
//! between them): `endpoints.secret` holds the current key and `endpoints.retired_secrets` a
//! JSON array `[{"secret": …, "expires_at": unix ms}]` of the keys in their rotation grace
//! period, each key in the [`Sealer`]'s stored form (`whsec_…`, or `enc:v1:…` bound to the
//! endpoint's id).

use super::sealing::{Sealer, is_sealed};
use super::{StoreError, StoreResult};
use crate::domain::EndpointSecret;
use serde::{Deserialize, Serialize};

/// One entry of `endpoints.retired_secrets`.
#[derive(Serialize, Deserialize)]
struct StoredRetired {
    /// The key in its stored form.
    secret: String,
    /// Unix milliseconds after which it no longer signs.
    expires_at: i64,
}

fn parse_retired(json: &str) -> StoreResult<Vec<StoredRetired>> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("column retired_secrets: {e}")))
}

fn encode_retired(retired: &[StoredRetired]) -> StoreResult<String> {
    serde_json::to_string(retired)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode retired secrets: {e}")))
}

/// The retired keys of `endpoint_id` in a `retired_secrets` value that still sign at
/// `now_ms`, with the unix milliseconds at which each stops.
///
/// # Errors
/// `Corrupt` if the JSON or a key cannot be read (see [`Sealer::open_secret`]).
pub(crate) fn open_retired(
    sealer: &Sealer,
    endpoint_id: &str,
    json: &str,
    now_ms: i64,
) -> StoreResult<Vec<(EndpointSecret, i64)>> {
    parse_retired(json)?
        .into_iter()
        .filter(|r| r.expires_at > now_ms)
        .map(|r| Ok((sealer.open_secret(endpoint_id, &r.secret)?, r.expires_at)))
        .collect()
}

/// The `secret` and `retired_secrets` values after rotating `endpoint_id` to `new`: the
/// current key joins the retired ones until `now_ms + grace_ms` (a zero grace retires it at
/// once) and retired keys past their grace are dropped. Every kept key is sealed afresh.
///
/// # Errors
/// `Corrupt` if the stored values cannot be read.
pub(crate) fn rotated(
    sealer: &Sealer,
    endpoint_id: &str,
    (current, retired): (&str, &str),
    new: &EndpointSecret,
    now_ms: i64,
    grace_ms: i64,
) -> StoreResult<(String, String)> {
    let mut keep = open_retired(sealer, endpoint_id, retired, now_ms)?;
    let expires_at = now_ms.saturating_add(grace_ms);
    if expires_at > now_ms {
        keep.push((sealer.open_secret(endpoint_id, current)?, expires_at));
    }
    let retired = keep
        .iter()
        .map(|(secret, expires_at)| {
            Ok(StoredRetired {
                secret: sealer.seal_secret(endpoint_id, secret)?,
                expires_at: *expires_at,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((
        sealer.seal_secret(endpoint_id, new)?,
        encode_retired(&retired)?,
    ))
}

/// The `secret` and `retired_secrets` values of `endpoint_id` with every plaintext key
/// sealed, or `None` when none was plaintext. Sealed keys are kept as they are.
///
/// # Errors
/// `Corrupt` if a plaintext key or the JSON cannot be read.
pub(crate) fn sealed_in_place(
    sealer: &Sealer,
    endpoint_id: &str,
    (current, retired): (&str, &str),
) -> StoreResult<Option<(String, String)>> {
    let mut changed = false;
    let mut seal = |stored: String| -> StoreResult<String> {
        if is_sealed(&stored) {
            return Ok(stored);
        }
        changed = true;
        sealer.seal_secret(endpoint_id, &sealer.open_secret(endpoint_id, &stored)?)
    };
    let current = seal(current.to_owned())?;
    let retired = parse_retired(retired)?
        .into_iter()
        .map(|r| {
            Ok(StoredRetired {
                secret: seal(r.secret)?,
                expires_at: r.expires_at,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    if !changed {
        return Ok(None);
    }
    Ok(Some((current, encode_retired(&retired)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EP: &str = "ep_2a6Yb0dG8oJ0qT2m3sXo1uZk9cV";

    fn keyed() -> Sealer {
        Sealer::new(Some("correct horse battery staple"))
    }

    #[test]
    fn rotation_seals_the_old_key_into_the_retired_list() {
        let sealer = keyed();
        let (first, second) = (EndpointSecret::generate(), EndpointSecret::generate());
        let current = sealer.seal_secret(EP, &first).unwrap();
        let (now, grace) = (1_000_000, 60_000);
        let (current, retired) =
            rotated(&sealer, EP, (&current, "[]"), &second, now, grace).unwrap();
        assert!(is_sealed(&current));
        assert!(!retired.contains("whsec_"), "{retired}");
        assert_eq!(sealer.open_secret(EP, &current).unwrap(), second);
        let live = open_retired(&sealer, EP, &retired, now).unwrap();
        assert_eq!(live, [(first, now + grace)]);
        assert!(
            open_retired(&sealer, EP, &retired, now + grace)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn sealing_in_place_touches_only_plaintext() {
        let sealer = keyed();
        let (a, b) = (EndpointSecret::generate(), EndpointSecret::generate());
        let retired = format!(r#"[{{"secret": "{}", "expires_at": 5}}]"#, b.expose());
        let (current, retired) = sealed_in_place(&sealer, EP, (&a.expose(), &retired))
            .unwrap()
            .expect("plaintext was sealed");
        assert!(
            is_sealed(&current) && !retired.contains("whsec_"),
            "{retired}"
        );
        assert_eq!(sealer.open_secret(EP, &current).unwrap(), a);
        assert_eq!(open_retired(&sealer, EP, &retired, 0).unwrap(), [(b, 5)]);
        assert!(
            sealed_in_place(&sealer, EP, (&current, &retired))
                .unwrap()
                .is_none(),
            "sealed values are left alone"
        );
    }
}
