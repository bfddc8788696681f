use schemas::connections::CreateConnection;
use schemas::OrgId;
use serde_json::json;
use store::{RegisterOptions, StoreError};

use crate::store_with_org;

fn request(account_id: &str) -> CreateConnection {
    CreateConnection {
        account_id: Some(account_id.into()),
        region: Some("us-east-1".into()),
        name: None,
        features: Some(
            json!({"email": {"configurationSet": "wraps"}})
                .as_object()
                .unwrap()
                .clone(),
        ),
    }
}

fn options(limit: Option<u32>) -> RegisterOptions {
    RegisterOptions {
        account_limit: limit,
        role_name: "wraps-console-access-role".into(),
        api_base_url: "https://api.example.test/".into(),
        created_by: Some("user-1".into()),
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test]
async fn register_creates_connection() {
    let (store, org) = store_with_org().await;

    let (registered, created) = store
        .register_connection(org, &request("123456789012"), &options(None))
        .await
        .unwrap();

    assert!(created);
    assert!(registered.success);
    assert!(registered.external_id.starts_with("wraps_"));
    assert_eq!(registered.external_id.len(), 38);
    assert!(is_lower_hex(&registered.external_id[6..]));
    assert_eq!(registered.webhook_secret.len(), 64);
    assert!(is_lower_hex(&registered.webhook_secret));
    assert_eq!(
        registered.role_arn,
        "arn:aws:iam::123456789012:role/wraps-console-access-role"
    );
    assert_eq!(
        registered.webhook_endpoint,
        "https://api.example.test/webhooks/ses/123456789012"
    );

    let listed = store.list_connections(org).await.unwrap();
    assert_eq!(listed.len(), 1);
    let connection = &listed[0];
    assert_eq!(connection.id, registered.connection_id);
    assert_eq!(connection.name, "AWS 123456789012");
    assert_eq!(connection.region, "us-east-1");
    assert!(connection.is_verified);
    assert!(connection.email_enabled);
    assert!(!connection.sms_enabled);
    assert!(connection.last_verified_at.is_some());
    assert!(connection.webhook_connected);
}

#[tokio::test]
async fn register_again_updates_and_rotates_secret() {
    let (store, org) = store_with_org().await;
    let (first, _) = store
        .register_connection(org, &request("123456789012"), &options(None))
        .await
        .unwrap();
    let mut again = request("123456789012");
    again.region = Some("eu-west-1".into());
    again.name = Some("Production".into());
    again.features = Some(json!({"sms": true}).as_object().unwrap().clone());

    let (second, created) = store
        .register_connection(org, &again, &options(Some(1)))
        .await
        .unwrap();

    assert!(!created);
    assert_eq!(second.connection_id, first.connection_id);
    assert_eq!(second.external_id, first.external_id);
    assert_ne!(second.webhook_secret, first.webhook_secret);
    let listed = store.list_connections(org).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].region, "eu-west-1");
    assert_eq!(listed[0].name, "Production");
    assert!(listed[0].sms_enabled);
    assert!(!listed[0].email_enabled);
}

#[tokio::test]
async fn limit_blocks_new_accounts_only() {
    let (store, org) = store_with_org().await;
    store
        .register_connection(org, &request("111111111111"), &options(Some(1)))
        .await
        .unwrap();

    let err = store
        .register_connection(org, &request("222222222222"), &options(Some(1)))
        .await
        .unwrap_err();

    match err {
        StoreError::LimitReached(message) => assert_eq!(
            message,
            "AWS account limit reached (1). Upgrade your plan to add more accounts."
        ),
        other => panic!("expected LimitReached, got {other:?}"),
    }
    assert_eq!(store.list_connections(org).await.unwrap().len(), 1);
    let (_, created) = store
        .register_connection(org, &request("111111111111"), &options(Some(1)))
        .await
        .unwrap();
    assert!(!created);
}

#[tokio::test]
async fn concurrent_registrations_respect_limit() {
    let store = store::test_support::fresh_store().await;

    for round in 0..5 {
        let org = store
            .create_org(&format!("Org {round}"), "free")
            .await
            .unwrap()
            .id;
        let tasks: Vec<_> = ["111111111111", "222222222222", "333333333333"]
            .into_iter()
            .map(|account| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .register_connection(org, &request(account), &options(Some(1)))
                        .await
                })
            })
            .collect();

        let mut created = 0;
        let mut limited = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok((_, true)) => created += 1,
                Err(StoreError::LimitReached(_)) => limited += 1,
                other => panic!("unexpected result: {other:?}"),
            }
        }
        assert_eq!((created, limited), (1, 2), "round {round}");
        assert_eq!(store.list_connections(org).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn same_account_in_two_orgs() {
    let (store, org) = store_with_org().await;
    let other = store.create_org("Globex", "free").await.unwrap().id;

    let (a, _) = store
        .register_connection(org, &request("123456789012"), &options(Some(1)))
        .await
        .unwrap();
    let (b, created) = store
        .register_connection(other, &request("123456789012"), &options(Some(1)))
        .await
        .unwrap();

    assert!(created);
    assert_ne!(a.connection_id, b.connection_id);
    assert_ne!(a.external_id, b.external_id);
}

#[tokio::test]
async fn disconnect_clears_webhook_only() {
    let (store, org) = store_with_org().await;
    let (registered, _) = store
        .register_connection(org, &request("123456789012"), &options(None))
        .await
        .unwrap();

    assert!(store
        .disconnect_webhook(org, registered.connection_id)
        .await
        .unwrap());

    let listed = store.list_connections(org).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].webhook_connected);
    assert!(!store
        .disconnect_webhook(org, schemas::ConnectionId::new())
        .await
        .unwrap());
}

#[tokio::test]
async fn register_for_unknown_org_is_not_found() {
    let (store, _) = store_with_org().await;
    let err = store
        .register_connection(OrgId::new(), &request("123456789012"), &options(None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}
