//! Claimed deliveries that cannot be read back (a secret that no longer opens, a corrupt
//! column) are left out of the claim instead of failing it: one bad row must not stop the
//! fleet from delivering everything else.

use super::{ClaimedDelivery, StoreError, StoreResult};

/// The deliveries that decoded. Each corrupt one is logged with its id and left leased, so
/// it comes back when its lease expires (and is logged again) without spending an attempt;
/// any other error fails the claim as before.
pub(crate) fn skip_unreadable(
    decoded: impl IntoIterator<Item = (i64, StoreResult<ClaimedDelivery>)>,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let mut readable = Vec::new();
    for (delivery_id, result) in decoded {
        match result {
            Ok(delivery) => readable.push(delivery),
            Err(StoreError::Corrupt(why)) => tracing::error!(
                delivery_id,
                error = %why,
                "claimed delivery cannot be read; left leased and skipped"
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(readable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_rows_are_skipped_and_other_errors_fail_the_claim() {
        let corrupt = || Err(StoreError::Corrupt("secret does not decrypt".into()));
        let kept = skip_unreadable([(1, corrupt()), (2, corrupt())]).expect("skipped");
        assert!(kept.is_empty());
        let failed = skip_unreadable([(1, corrupt()), (2, Err(StoreError::NotFound))]);
        assert!(matches!(failed, Err(StoreError::NotFound)), "{failed:?}");
    }
}
