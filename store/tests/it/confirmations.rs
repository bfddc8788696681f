//! Double opt-in: the confirmation claim, its pending periods, the route
//! and sender of confirmation emails, and the topic audience.

use std::collections::HashSet;

use schemas::batches::AudienceType;
use schemas::connections::CreateConnection;
use schemas::contacts::{CreateContact, PatchContact, ReplaceTopics, SubscriptionStatus};
use schemas::{ConnectionId, ContactId, OrgId, TopicId};
use sqlx::Any;
use store::test_support::pool;
use store::{NewBatch, RegisterOptions, Store};

use crate::{add_contact, add_topic, store_with_org};

/// Creates a contact with a pending subscription to a double opt-in topic.
async fn pending_subscriber(store: &Store, org: OrgId) -> (ContactId, TopicId) {
    let topic = add_topic(store, org, "digest", true).await;
    let request = CreateContact {
        email: Some("jane@example.com".into()),
        topic_ids: Some(vec![topic.to_string()]),
        ..Default::default()
    };
    let written = store.create_contact(org, &request).await.unwrap();
    assert_eq!(written.pending_topics, vec![topic]);
    (written.contact.id, topic)
}

fn add_topic_patch(topic: TopicId) -> PatchContact {
    PatchContact {
        topic_ids: Some(vec![topic.to_string()]),
        ..Default::default()
    }
}

async fn status(
    store: &Store,
    org: OrgId,
    contact: ContactId,
    topic: TopicId,
) -> SubscriptionStatus {
    store
        .confirmation_state(org, contact, topic)
        .await
        .unwrap()
        .unwrap()
        .status
        .unwrap()
}

/// Moves the claim of the subscription back by `hours`, as if its email
/// had been sent that long ago.
async fn age_claim(store: &Store, contact: ContactId, topic: TopicId, hours: i64) {
    sqlx::query::<Any>(
        "UPDATE contact_topics SET confirmation_sent_at = confirmation_sent_at - $1 \
         WHERE contact_id = $2 AND topic_id = $3",
    )
    .bind(hours * 3_600_000)
    .bind(contact.to_string())
    .bind(topic.to_string())
    .execute(&pool(store))
    .await
    .unwrap();
}

async fn connect(store: &Store, org: OrgId, account: &str, email: bool) -> ConnectionId {
    let features = if email {
        serde_json::json!({ "email": true })
    } else {
        serde_json::json!({})
    };
    let request = CreateConnection {
        account_id: Some(account.into()),
        region: Some("us-east-1".into()),
        name: None,
        features: features.as_object().cloned(),
    };
    let options = RegisterOptions {
        account_limit: None,
        role_name: "role".into(),
        api_base_url: "https://api.example.test".into(),
        created_by: None,
    };
    let (registered, _) = store
        .register_connection(org, &request, &options)
        .await
        .unwrap();
    registered.connection_id
}

fn email_batch(connection: ConnectionId, from: Option<&str>) -> NewBatch {
    NewBatch {
        connection_id: Some(connection),
        name: "news".into(),
        channel: "email".into(),
        audience_type: Some(AudienceType::All),
        subject: Some("Hello".into()),
        html_content: Some("<p>Hi</p>".into()),
        from_email: from.map(str::to_owned),
        from_name: from.map(|_| "Acme News".to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn claim_is_won_once() {
    let (store, org) = store_with_org().await;
    let (contact, topic) = pending_subscriber(&store, org).await;

    let first = store.claim_confirmation(org, contact, topic).await.unwrap();
    let second = store.claim_confirmation(org, contact, topic).await.unwrap();

    assert!(first.is_some());
    assert_eq!(second, None);
    let state = store
        .confirmation_state(org, contact, topic)
        .await
        .unwrap()
        .unwrap();
    assert!(state.confirmation_sent_at.is_some());
    assert_eq!(state.status, Some(SubscriptionStatus::Pending));
}

#[tokio::test]
async fn concurrent_claims_have_one_winner() {
    let (store, org) = store_with_org().await;
    let (contact, topic) = pending_subscriber(&store, org).await;

    let mut claims = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        claims.spawn(async move { store.claim_confirmation(org, contact, topic).await });
    }

    let mut won = 0;
    while let Some(claim) = claims.join_next().await {
        if claim.unwrap().unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn released_claim_can_be_claimed_again() {
    let (store, org) = store_with_org().await;
    let (contact, topic) = pending_subscriber(&store, org).await;
    let claim = store
        .claim_confirmation(org, contact, topic)
        .await
        .unwrap()
        .unwrap();

    assert!(store
        .release_confirmation(org, contact, topic, claim)
        .await
        .unwrap());

    assert!(store
        .confirmation_state(org, contact, topic)
        .await
        .unwrap()
        .unwrap()
        .confirmation_sent_at
        .is_none());
    assert!(store
        .claim_confirmation(org, contact, topic)
        .await
        .unwrap()
        .is_some());
    assert!(
        !store
            .release_confirmation(org, contact, topic, claim)
            .await
            .unwrap(),
        "an old claim must not release the new one"
    );
}

#[tokio::test]
async fn only_pending_subscriptions_are_claimed() {
    let (store, org) = store_with_org().await;
    let news = add_topic(&store, org, "news", false).await;
    let (contact, digest) = pending_subscriber(&store, org).await;
    store
        .patch_contact(org, contact, &add_topic_patch(news))
        .await
        .unwrap();
    assert!(store
        .confirm_subscription(org, contact, digest)
        .await
        .unwrap());

    for topic in [news, digest, TopicId::new()] {
        assert_eq!(
            store.claim_confirmation(org, contact, topic).await.unwrap(),
            None,
            "topic {topic}"
        );
    }
    let foreign = store.create_org("Globex", "free").await.unwrap().id;
    assert_eq!(
        store
            .claim_confirmation(foreign, contact, digest)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn repeated_request_keeps_a_valid_claim() {
    let (store, org) = store_with_org().await;
    let (contact, topic) = pending_subscriber(&store, org).await;
    store.claim_confirmation(org, contact, topic).await.unwrap();

    let patched = store
        .patch_contact(org, contact, &add_topic_patch(topic))
        .await
        .unwrap();
    let replace = ReplaceTopics {
        topic_ids: Some(vec![topic.to_string()]),
        topic_slugs: None,
    };
    let replaced = store
        .replace_contact_topics(org, contact, &replace)
        .await
        .unwrap();

    assert_eq!(patched.pending_topics, vec![topic]);
    assert_eq!(replaced.pending_topics, vec![topic]);
    assert_eq!(
        store.claim_confirmation(org, contact, topic).await.unwrap(),
        None,
        "the emailed link is still valid, so no second email"
    );
}

#[tokio::test]
async fn expired_claim_restarts_on_patch() {
    let (store, org) = store_with_org().await;
    let (contact, topic) = pending_subscriber(&store, org).await;
    store.claim_confirmation(org, contact, topic).await.unwrap();
    age_claim(&store, contact, topic, 49).await;

    store
        .patch_contact(org, contact, &add_topic_patch(topic))
        .await
        .unwrap();

    assert!(store
        .claim_confirmation(org, contact, topic)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn expired_claim_restarts_on_replace() {
    let (store, org) = store_with_org().await;
    let (contact, topic) = pending_subscriber(&store, org).await;
    store.claim_confirmation(org, contact, topic).await.unwrap();
    age_claim(&store, contact, topic, 49).await;
    let replace = ReplaceTopics {
        topic_ids: Some(vec![topic.to_string()]),
        topic_slugs: None,
    };

    store
        .replace_contact_topics(org, contact, &replace)
        .await
        .unwrap();

    assert!(store
        .claim_confirmation(org, contact, topic)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn resubscribe_after_unsubscribe_restarts_the_period() {
    let (store, org) = store_with_org().await;
    let (contact, topic) = pending_subscriber(&store, org).await;
    store.claim_confirmation(org, contact, topic).await.unwrap();
    assert!(store.unsubscribe_topic(org, contact, topic).await.unwrap());

    let patched = store
        .patch_contact(org, contact, &add_topic_patch(topic))
        .await
        .unwrap();

    assert_eq!(patched.pending_topics, vec![topic]);
    assert_eq!(
        status(&store, org, contact, topic).await,
        SubscriptionStatus::Pending
    );
    assert!(store
        .claim_confirmation(org, contact, topic)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn state_reports_contact_and_subscription() {
    let (store, org) = store_with_org().await;
    let (contact, topic) = pending_subscriber(&store, org).await;
    let bounced = store
        .create_contact(
            org,
            &CreateContact {
                email: Some("gone@example.com".into()),
                email_status: Some(schemas::contacts::EmailStatus::Bounced),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .contact
        .id;

    let state = store
        .confirmation_state(org, contact, topic)
        .await
        .unwrap()
        .unwrap();
    let bounced_state = store
        .confirmation_state(org, bounced, topic)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(state.email.as_deref(), Some("jane@example.com"));
    assert!(state.sendable);
    assert_eq!(state.topic_name.as_deref(), Some("Topic digest"));
    assert_eq!(state.confirmation_sent_at, None);
    assert!(!bounced_state.sendable);
    assert_eq!(bounced_state.status, None);
    let other = store.create_org("Globex", "free").await.unwrap().id;
    assert_eq!(
        store
            .confirmation_state(other, contact, topic)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn route_prefers_the_connection_with_a_sender() {
    let (store, org) = store_with_org().await;
    assert_eq!(store.confirmation_route(org).await.unwrap(), None);
    let first = connect(&store, org, "111111111111", false).await;
    let second = connect(&store, org, "222222222222", true).await;

    let by_feature = store.confirmation_route(org).await.unwrap().unwrap();
    store
        .create_batch(org, &email_batch(first, Some(" news@acme.example ")))
        .await
        .unwrap();
    store
        .create_batch(org, &email_batch(second, None))
        .await
        .unwrap();
    let by_sender = store.confirmation_route(org).await.unwrap().unwrap();

    assert_eq!(by_feature.connection_id, second);
    assert_eq!(by_feature.account_id, "222222222222");
    assert_eq!(by_sender.connection_id, first);
    let sender = store
        .confirmation_sender(org, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sender.from_email, "news@acme.example");
    assert_eq!(sender.from_name.as_deref(), Some("Acme News"));
    assert_eq!(store.confirmation_sender(org, second).await.unwrap(), None);
}

#[tokio::test]
async fn pending_subscribers_are_not_in_the_topic_audience() {
    let (store, org) = store_with_org().await;
    let connection = connect(&store, org, "123456789012", true).await;
    let (pending, topic) = pending_subscriber(&store, org).await;
    let confirmed = add_contact(&store, org, "confirmed@example.com").await;
    store
        .patch_contact(org, confirmed, &add_topic_patch(topic))
        .await
        .unwrap();
    assert!(store
        .confirm_subscription(org, confirmed, topic)
        .await
        .unwrap());
    assert_eq!(
        status(&store, org, pending, topic).await,
        SubscriptionStatus::Pending
    );

    let counted = store
        .count_audience(org, AudienceType::Topic, Some(topic), None)
        .await
        .unwrap();
    let batch = store
        .create_batch(
            org,
            &NewBatch {
                audience_type: Some(AudienceType::Topic),
                topic_id: Some(topic),
                ..email_batch(connection, Some("news@acme.example"))
            },
        )
        .await
        .unwrap();
    let fan_out = store.fan_out_batch(&batch, 50).await.unwrap();
    let (rows, _) = store
        .list_batch_recipients(org, batch.id, None, 100, 0)
        .await
        .unwrap();

    assert_eq!(counted, 1);
    assert_eq!(fan_out.total, 1);
    let emails: HashSet<String> = rows.into_iter().map(|row| row.email).collect();
    assert_eq!(emails, HashSet::from(["confirmed@example.com".to_owned()]));
}
