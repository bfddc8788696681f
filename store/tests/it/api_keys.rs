use chrono::{Duration, Utc};
use store::test_support::fresh_store;
use store::{hash_api_key, KeyType, StoreError};

use crate::store_with_org;

#[tokio::test]
async fn key_has_documented_format() {
    let (store, org) = store_with_org().await;
    let live = store
        .create_api_key(org, "ci", KeyType::Live, None)
        .await
        .unwrap();
    let rk = store
        .create_api_key(org, "ro", KeyType::Restricted, None)
        .await
        .unwrap();

    assert!(live.plaintext.starts_with("wraps_live_"));
    assert_eq!(live.plaintext.len(), 43);
    assert_eq!(live.record.prefix, format!("{}...", &live.plaintext[..19]));
    assert!(rk.plaintext.starts_with("wraps_rk_"));
    assert_eq!(rk.plaintext.len(), 41);
    assert_eq!(live.record.organization_id, org);
}

#[tokio::test]
async fn key_plaintext_is_not_stored() {
    let (store, org) = store_with_org().await;
    let key = store
        .create_api_key(org, "ci", KeyType::Test, None)
        .await
        .unwrap();
    let stored: String = sqlx::query_scalar::<sqlx::Any, String>("SELECT key_hash FROM api_keys")
        .fetch_one(&store::test_support::pool(&store))
        .await
        .unwrap();

    assert_eq!(stored, hash_api_key(&key.plaintext));
    assert_ne!(stored, key.plaintext);
}

#[tokio::test]
async fn authenticate_returns_context_and_records_use() {
    let (store, org) = store_with_org().await;
    store.set_org_plan(org, "pro").await.unwrap();
    let key = store
        .create_api_key(org, "ci", KeyType::Live, None)
        .await
        .unwrap();
    assert_eq!(
        store.list_api_keys(org).await.unwrap()[0].last_used_at,
        None
    );

    let auth = store.authenticate(&key.plaintext).await.unwrap().unwrap();

    assert_eq!(auth.api_key_id, key.record.id);
    assert_eq!(auth.organization_id, org);
    assert_eq!(auth.plan, "pro");
    assert_eq!(auth.user_id, None);
    let used = store.list_api_keys(org).await.unwrap()[0].last_used_at;
    assert!(used.is_some_and(|at| (Utc::now() - at).num_seconds().abs() < 60));
}

#[tokio::test]
async fn authenticate_rejects_unknown_token() {
    let (store, org) = store_with_org().await;
    let key = store
        .create_api_key(org, "ci", KeyType::Live, None)
        .await
        .unwrap();
    let mut other = key.plaintext.clone();
    other.push('x');

    assert!(store.authenticate(&other).await.unwrap().is_none());
    assert!(store.authenticate("").await.unwrap().is_none());
}

#[tokio::test]
async fn revoked_key_is_rejected() {
    let (store, org) = store_with_org().await;
    let key = store
        .create_api_key(org, "ci", KeyType::Live, None)
        .await
        .unwrap();

    assert_eq!(
        store.revoke_api_key(key.record.id).await.unwrap(),
        Some(org)
    );
    assert!(store.authenticate(&key.plaintext).await.unwrap().is_none());
    let first = store.list_api_keys(org).await.unwrap()[0].revoked_at;
    assert!(first.is_some());

    assert_eq!(
        store.revoke_api_key(key.record.id).await.unwrap(),
        Some(org)
    );
    assert_eq!(store.list_api_keys(org).await.unwrap()[0].revoked_at, first);
    assert_eq!(
        store
            .revoke_api_key(schemas::ApiKeyId::new())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn expired_key_is_rejected() {
    let (store, org) = store_with_org().await;
    let expired = store
        .create_api_key(
            org,
            "old",
            KeyType::Live,
            Some(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    let valid = store
        .create_api_key(
            org,
            "new",
            KeyType::Live,
            Some(Utc::now() + Duration::hours(1)),
        )
        .await
        .unwrap();

    assert!(store
        .authenticate(&expired.plaintext)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .authenticate(&valid.plaintext)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn key_for_unknown_org_is_not_found() {
    let store = fresh_store().await;
    let err = store
        .create_api_key(schemas::OrgId::new(), "ci", KeyType::Live, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound("Organization not found")),
        "{err:?}"
    );
}
