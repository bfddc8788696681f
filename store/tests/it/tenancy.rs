//! Organisation B must never see or change organisation A's rows, whatever
//! identifier it uses.

use schemas::connections::CreateConnection;
use schemas::contacts::{ContactFilter, CreateContact, PatchContact, ReplaceTopics};
use schemas::topics::PatchTopic;
use store::{IdempotencyBegin, KeyType, RegisterOptions, StoreError};

use crate::{add_topic, store_with_org, with_email};

#[tokio::test]
async fn contacts_are_invisible_to_other_orgs() {
    let (store, a) = store_with_org().await;
    let b = store.create_org("Globex", "free").await.unwrap().id;
    let req = CreateContact {
        external_id: Some("crm-1".into()),
        email: Some("ada@x.io".into()),
        ..Default::default()
    };
    let id = store.create_contact(a, &req).await.unwrap().contact.id;

    for ident in [id.to_string(), "ada@x.io".to_owned(), "crm-1".to_owned()] {
        assert_eq!(
            store.resolve_contact(b, &ident).await.unwrap(),
            None,
            "{ident}"
        );
    }
    assert!(store.get_contact(b, id).await.unwrap().is_none());
    let filter = ContactFilter {
        page: 1,
        page_size: 50,
        ..Default::default()
    };
    assert_eq!(store.list_contacts(b, &filter).await.unwrap().1, 0);

    let patch = PatchContact {
        first_name: Some(Some("Mallory".into())),
        ..Default::default()
    };
    assert!(matches!(
        store.patch_contact(b, id, &patch).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .replace_contact_topics(b, id, &ReplaceTopics::default())
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.delete_contact(b, id).await.unwrap());
    assert_eq!(
        store
            .bulk_delete_contacts(b, &[id.to_string()])
            .await
            .unwrap(),
        0
    );

    let contact = store.get_contact(a, id).await.unwrap().unwrap().contact;
    assert_eq!(contact.first_name, None);
}

#[tokio::test]
async fn identities_are_unique_per_org_only() {
    let (store, a) = store_with_org().await;
    let b = store.create_org("Globex", "free").await.unwrap().id;
    let req = CreateContact {
        external_id: Some("crm-1".into()),
        email: Some("ada@x.io".into()),
        phone: Some("+15550100".into()),
        ..Default::default()
    };

    store.create_contact(a, &req).await.unwrap();
    store.create_contact(b, &req).await.unwrap();

    let patch = PatchContact {
        external_id: Some(Some("crm-1".into())),
        ..Default::default()
    };
    let other = store
        .create_contact(b, &with_email("bob@x.io"))
        .await
        .unwrap()
        .contact
        .id;
    assert!(matches!(
        store.patch_contact(b, other, &patch).await,
        Err(StoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn topics_are_invisible_to_other_orgs() {
    let (store, a) = store_with_org().await;
    let b = store.create_org("Globex", "free").await.unwrap().id;
    let topic = add_topic(&store, a, "news", false).await;

    assert!(store.get_topic(b, topic).await.unwrap().is_none());
    assert!(store.get_topic_by_slug(b, "news").await.unwrap().is_none());
    assert!(store.list_topics(b).await.unwrap().is_empty());
    let patch = PatchTopic {
        name: Some("Hijacked".into()),
        ..Default::default()
    };
    assert!(store.patch_topic(b, topic, &patch).await.unwrap().is_none());
    assert!(!store.delete_topic(b, topic).await.unwrap());
    assert_eq!(
        store.get_topic(a, topic).await.unwrap().unwrap().name,
        "Topic news"
    );

    // B may reuse the slug, and cannot subscribe its contacts to A's topic.
    add_topic(&store, b, "news", false).await;
    let req = CreateContact {
        email: Some("bob@x.io".into()),
        topic_ids: Some(vec![topic.to_string()]),
        ..Default::default()
    };
    let contact = store.create_contact(b, &req).await.unwrap().contact.id;
    assert!(store
        .get_contact(b, contact)
        .await
        .unwrap()
        .unwrap()
        .topics
        .is_empty());
    assert!(!store.confirm_subscription(b, contact, topic).await.unwrap());
    assert!(matches!(
        store
            .import_contacts(
                b,
                &[store::ImportRow {
                    email: "c@x.io".into(),
                    ..Default::default()
                }],
                Some(topic)
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn connections_are_invisible_to_other_orgs() {
    let (store, a) = store_with_org().await;
    let b = store.create_org("Globex", "free").await.unwrap().id;
    let req = CreateConnection {
        account_id: Some("123456789012".into()),
        region: Some("us-east-1".into()),
        ..Default::default()
    };
    let options = RegisterOptions {
        account_limit: None,
        role_name: "wraps-console-access-role".into(),
        api_base_url: "https://api.example.test".into(),
        created_by: None,
    };
    let (registered, _) = store.register_connection(a, &req, &options).await.unwrap();

    assert!(store.list_connections(b).await.unwrap().is_empty());
    assert!(!store
        .disconnect_webhook(b, registered.connection_id)
        .await
        .unwrap());
    assert!(store.list_connections(a).await.unwrap()[0].webhook_connected);
}

#[tokio::test]
async fn api_keys_and_idempotency_keys_are_per_org() {
    let (store, a) = store_with_org().await;
    let b = store.create_org("Globex", "free").await.unwrap().id;
    let key = store
        .create_api_key(a, "ci", KeyType::Live, None)
        .await
        .unwrap();

    assert!(store.list_api_keys(b).await.unwrap().is_empty());
    assert_eq!(
        store
            .authenticate(&key.plaintext)
            .await
            .unwrap()
            .unwrap()
            .organization_id,
        a
    );

    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(
        store.begin_idempotent(a, "k", "h", day).await.unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store.begin_idempotent(b, "k", "other", day).await.unwrap(),
        IdempotencyBegin::Started
    );
    store.abandon_idempotent(b, "k").await.unwrap();
    assert_eq!(
        store.begin_idempotent(a, "k", "h", day).await.unwrap(),
        IdempotencyBegin::InFlight
    );
}
