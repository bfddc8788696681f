use schemas::contacts::{CreateContact, SubscriptionStatus};
use schemas::unsubscribe::UnsubscribeClaims;
use schemas::{ContactId, OrgId};

use crate::{add_topic, store_with_org};

async fn subscribed_contact(
    store: &store::Store,
    org: OrgId,
    email: &str,
    topics: &[&str],
) -> ContactId {
    let request = CreateContact {
        email: Some(email.into()),
        topic_slugs: Some(topics.iter().map(|t| t.to_string()).collect()),
        ..Default::default()
    };
    store
        .create_contact(org, &request)
        .await
        .unwrap()
        .contact
        .id
}

async fn topic_statuses(
    store: &store::Store,
    org: OrgId,
    contact: ContactId,
) -> Vec<(String, SubscriptionStatus)> {
    let detail = store.get_contact(org, contact).await.unwrap().unwrap();
    let mut statuses: Vec<_> = detail
        .topics
        .iter()
        .map(|t| (t.topic_name.clone(), t.status))
        .collect();
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    statuses
}

#[tokio::test]
async fn keys_are_created_once_and_rotate() {
    let (store, _) = store_with_org().await;
    let first = store.unsubscribe_keys().await.unwrap();
    assert_eq!(first.current_version(), 1);
    assert_eq!(store.unsubscribe_keys().await.unwrap(), first);
    assert_eq!(store.rotate_unsubscribe_key().await.unwrap(), 2);
    let rotated = store.unsubscribe_keys().await.unwrap();
    assert_eq!(rotated.current_version(), 2);
}

#[tokio::test]
async fn topic_token_leaves_other_topics_alone() {
    let (store, org) = store_with_org().await;
    let news = add_topic(&store, org, "news", false).await;
    add_topic(&store, org, "digest", false).await;
    let contact = subscribed_contact(&store, org, "jane@example.com", &["news", "digest"]).await;
    let claims = UnsubscribeClaims {
        organization_id: org,
        contact_id: contact,
        topic_id: Some(news),
    };

    let outcome = store.unsubscribe(&claims).await.unwrap().unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.topic_name.as_deref(), Some("Topic news"));
    assert_eq!(
        topic_statuses(&store, org, contact).await,
        vec![
            ("Topic digest".into(), SubscriptionStatus::Subscribed),
            ("Topic news".into(), SubscriptionStatus::Unsubscribed)
        ]
    );
    let detail = store.get_contact(org, contact).await.unwrap().unwrap();
    assert_eq!(
        detail
            .contact
            .email_status
            .map(|s| s.as_str().to_owned())
            .as_deref(),
        Some("active")
    );

    let again = store.unsubscribe(&claims).await.unwrap().unwrap();
    assert!(!again.changed, "a second unsubscribe changes nothing");
}

#[tokio::test]
async fn global_token_unsubscribes_everything_once() {
    let (store, org) = store_with_org().await;
    add_topic(&store, org, "news", false).await;
    let contact = subscribed_contact(&store, org, "jane@example.com", &["news"]).await;
    let claims = UnsubscribeClaims {
        organization_id: org,
        contact_id: contact,
        topic_id: None,
    };

    let preview = store.unsubscribe_preview(&claims).await.unwrap().unwrap();
    assert!(preview.changed);
    assert_eq!(preview.email.as_deref(), Some("jane@example.com"));
    // The preview wrote nothing.
    assert_eq!(
        topic_statuses(&store, org, contact).await,
        vec![("Topic news".into(), SubscriptionStatus::Subscribed)]
    );

    assert!(store.unsubscribe(&claims).await.unwrap().unwrap().changed);
    let detail = store.get_contact(org, contact).await.unwrap().unwrap();
    assert_eq!(
        detail
            .contact
            .email_status
            .map(|s| s.as_str().to_owned())
            .as_deref(),
        Some("unsubscribed")
    );
    assert_eq!(
        topic_statuses(&store, org, contact).await,
        vec![("Topic news".into(), SubscriptionStatus::Unsubscribed)]
    );
    assert!(!store.unsubscribe(&claims).await.unwrap().unwrap().changed);
}

#[tokio::test]
async fn token_of_another_organisation_finds_nothing() {
    let (store, org) = store_with_org().await;
    let other = store.create_org("Globex", "free").await.unwrap().id;
    let contact = subscribed_contact(&store, org, "jane@example.com", &[]).await;
    let claims = UnsubscribeClaims {
        organization_id: other,
        contact_id: contact,
        topic_id: None,
    };
    assert_eq!(store.unsubscribe(&claims).await.unwrap(), None);
    let detail = store.get_contact(org, contact).await.unwrap().unwrap();
    assert_eq!(
        detail
            .contact
            .email_status
            .map(|s| s.as_str().to_owned())
            .as_deref(),
        Some("active")
    );
}
