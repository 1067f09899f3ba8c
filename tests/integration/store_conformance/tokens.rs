//! Application-scoped tokens: found by hash, revoked, pruned once expired, and gone with
//! their application.

use super::*;
use chrono::SubsecRound;
use hookline::store::{AppToken, StoreError};

store_tests!(
    an_app_token_is_found_by_its_hash_until_revoked,
    an_app_token_needs_an_existing_application,
    minting_forgets_the_applications_expired_tokens_only,
    deleting_an_application_deletes_its_tokens,
);

/// A token for `app` that expires `lifetime` from now (negative: already expired).
fn token(app: &AppId, hash: &str, lifetime: chrono::Duration) -> AppToken {
    let now = Utc::now().trunc_subsecs(3);
    AppToken {
        hash: hash.to_owned(),
        app_id: app.clone(),
        created_at: now,
        expires_at: now + lifetime,
    }
}

async fn lookup(store: &DynStore, hash: &str) -> Option<AppToken> {
    store.get_app_token(hash).await.expect("get_app_token")
}

pub async fn an_app_token_is_found_by_its_hash_until_revoked(store: DynStore) {
    let app = new_app(&store, None).await;
    let t = token(&app.id, &"a1".repeat(32), chrono::Duration::days(7));
    store.insert_app_token(&t).await.expect("insert");
    assert_eq!(lookup(&store, &t.hash).await, Some(t.clone()));
    assert_eq!(lookup(&store, &"b2".repeat(32)).await, None);

    let err = store
        .insert_app_token(&t)
        .await
        .expect_err("same hash twice");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    store.delete_app_token(&t.hash).await.expect("revoke");
    assert_eq!(lookup(&store, &t.hash).await, None);
    store
        .delete_app_token(&t.hash)
        .await
        .expect("revoking twice is not an error");
}

pub async fn an_app_token_needs_an_existing_application(store: DynStore) {
    let nobody = AppId::generate();
    let t = token(&nobody, &"c3".repeat(32), chrono::Duration::days(1));
    let err = store
        .insert_app_token(&t)
        .await
        .expect_err("no such application");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(lookup(&store, &t.hash).await, None);
}

pub async fn minting_forgets_the_applications_expired_tokens_only(store: DynStore) {
    let app = new_app(&store, None).await;
    let other = new_app(&store, None).await;
    let expired = token(&app.id, &"d4".repeat(32), chrono::Duration::seconds(-1));
    let others_expired = token(&other.id, &"e5".repeat(32), chrono::Duration::seconds(-1));
    let live = token(&app.id, &"f6".repeat(32), chrono::Duration::hours(1));
    for t in [&expired, &others_expired, &live] {
        store.insert_app_token(t).await.expect("insert");
    }
    assert_eq!(
        lookup(&store, &others_expired.hash).await,
        Some(others_expired.clone()),
        "expired tokens are kept (and refused by the API) until their application mints"
    );
    assert_eq!(
        lookup(&store, &expired.hash).await,
        None,
        "pruned by the later mint"
    );
    assert_eq!(lookup(&store, &live.hash).await, Some(live.clone()));
    assert!(
        lookup(&store, &others_expired.hash)
            .await
            .is_some_and(|t| t.is_expired_at(Utc::now()))
    );
}

pub async fn deleting_an_application_deletes_its_tokens(store: DynStore) {
    let app = new_app(&store, None).await;
    let other = new_app(&store, None).await;
    let mine = token(&app.id, &"0a".repeat(32), chrono::Duration::days(1));
    let theirs = token(&other.id, &"0b".repeat(32), chrono::Duration::days(1));
    store.insert_app_token(&mine).await.expect("insert");
    store.insert_app_token(&theirs).await.expect("insert");
    store.delete_application(&app.id).await.expect("delete");
    assert_eq!(lookup(&store, &mine.hash).await, None);
    assert_eq!(lookup(&store, &theirs.hash).await, Some(theirs));
}
