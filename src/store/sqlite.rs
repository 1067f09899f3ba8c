//! The embedded store: one SQLite file, single writer.

use super::*;
use crate::domain::{AppId, AttemptId, EndpointId, EventTypeName, MessageId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// [`Store`] on a SQLite file.
pub struct SqliteStore {}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite://PATH` URL.
    ///
    /// # Errors
    /// If the file cannot be opened.
    pub async fn connect(_url: &str) -> StoreResult<Self> {
        todo!()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        todo!()
    }

    async fn api_token_hashes(&self) -> StoreResult<Vec<String>> {
        todo!()
    }

    async fn insert_api_token_hash(&self, hash: &str) -> StoreResult<()> {
        todo!()
    }

    async fn create_application(&self, fields: &ApplicationFields) -> StoreResult<Application> {
        todo!()
    }

    async fn get_application(&self, key: &str) -> StoreResult<Option<Application>> {
        todo!()
    }

    async fn list_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>> {
        todo!()
    }

    async fn update_application(
        &self,
        id: &AppId,
        fields: &ApplicationFields,
    ) -> StoreResult<Application> {
        todo!()
    }

    async fn delete_application(&self, id: &AppId) -> StoreResult<()> {
        todo!()
    }

    async fn create_endpoint(
        &self,
        app_id: &AppId,
        fields: &EndpointFields,
        secret: &crate::domain::EndpointSecret,
        headers: &BTreeMap<String, String>,
    ) -> StoreResult<Endpoint> {
        todo!()
    }

    async fn get_endpoint(&self, app_id: &AppId, key: &str) -> StoreResult<Option<Endpoint>> {
        todo!()
    }

    async fn list_endpoints(
        &self,
        app_id: &AppId,
        page: &PageRequest,
    ) -> StoreResult<Page<Endpoint>> {
        todo!()
    }

    async fn update_endpoint(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        fields: &EndpointFields,
    ) -> StoreResult<Endpoint> {
        todo!()
    }

    async fn delete_endpoint(&self, app_id: &AppId, id: &EndpointId) -> StoreResult<()> {
        todo!()
    }

    async fn set_endpoint_headers(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        headers: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        todo!()
    }

    async fn rotate_endpoint_secret(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        new: &crate::domain::EndpointSecret,
        grace: Duration,
    ) -> StoreResult<()> {
        todo!()
    }

    async fn endpoint_stats(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<EndpointStats> {
        todo!()
    }

    async fn create_event_type(
        &self,
        name: &EventTypeName,
        fields: &EventTypeFields,
    ) -> StoreResult<EventType> {
        todo!()
    }

    async fn get_event_type(&self, name: &EventTypeName) -> StoreResult<Option<EventType>> {
        todo!()
    }

    async fn list_event_types(
        &self,
        page: &PageRequest,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>> {
        todo!()
    }

    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: &EventTypeFields,
    ) -> StoreResult<EventType> {
        todo!()
    }

    async fn archive_event_type(&self, name: &EventTypeName) -> StoreResult<()> {
        todo!()
    }

    async fn create_message(&self, message: &NewMessage) -> StoreResult<usize> {
        todo!()
    }

    async fn create_message_for_endpoint(
        &self,
        message: &NewMessage,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()> {
        todo!()
    }

    async fn get_message(&self, app_id: &AppId, key: &str) -> StoreResult<Option<Message>> {
        todo!()
    }

    async fn list_messages(
        &self,
        app_id: &AppId,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        todo!()
    }

    async fn expunge_message_content(&self, app_id: &AppId, id: &MessageId) -> StoreResult<()> {
        todo!()
    }

    async fn list_attempts(
        &self,
        app_id: &AppId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        todo!()
    }

    async fn get_attempt(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        id: &AttemptId,
    ) -> StoreResult<Option<Attempt>> {
        todo!()
    }

    async fn expunge_attempt_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        id: &AttemptId,
    ) -> StoreResult<()> {
        todo!()
    }

    async fn list_attempted_destinations(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        page: &PageRequest,
    ) -> StoreResult<Page<(Endpoint, DeliveryState)>> {
        todo!()
    }

    async fn list_attempted_messages(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<(Message, DeliveryState)>> {
        todo!()
    }

    async fn resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()> {
        todo!()
    }

    async fn recover(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<u64> {
        todo!()
    }

    async fn claim(
        &self,
        worker_id: &str,
        limit: usize,
        lease: Duration,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        todo!()
    }

    async fn record_outcomes(&self, outcomes: &[Outcome]) -> StoreResult<()> {
        todo!()
    }

    async fn release(&self, worker_id: &str, delivery_ids: &[i64]) -> StoreResult<()> {
        todo!()
    }

    async fn wait_for_work(&self, timeout: Duration) {
        todo!()
    }

    async fn idempotency_begin(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> StoreResult<IdempotencyState> {
        todo!()
    }

    async fn idempotency_complete(&self, key: &str, response: &StoredResponse) -> StoreResult<()> {
        todo!()
    }

    async fn idempotency_abandon(&self, key: &str) -> StoreResult<()> {
        todo!()
    }
}
