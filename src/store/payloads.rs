//! Message payloads read once per claim, whatever the fan-out.

use super::StoreResult;
use bytes::Bytes;
use std::collections::HashMap;

/// The payloads of the messages of a claim's deliveries by message id, read once per
/// message however many of its deliveries the claim took; its deliveries share the bytes.
pub(crate) struct ClaimPayloads(HashMap<String, Option<Bytes>>);

impl ClaimPayloads {
    /// The distinct message ids among `msg_ids` (the claim's deliveries'), to read.
    pub(crate) fn wanted<'a>(
        msg_ids: impl Iterator<Item = StoreResult<&'a str>>,
    ) -> StoreResult<Vec<&'a str>> {
        let mut ids = msg_ids.collect::<StoreResult<Vec<_>>>()?;
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// The payloads read, as (message id, payload) rows.
    pub(crate) fn new(found: Vec<(String, Option<String>)>) -> Self {
        Self(
            found
                .into_iter()
                .map(|(id, payload)| (id, payload.map(Bytes::from)))
                .collect(),
        )
    }

    /// The payload of `msg_id` (`Some(None)`: expunged), or `None` if the message is gone
    /// (deleted with its application meanwhile).
    pub(crate) fn get(&self, msg_id: &str) -> Option<Option<Bytes>> {
        self.0.get(msg_id).cloned()
    }
}
