//! Sends, account reads and templates through the real SDK against the
//! simulator.

use std::collections::{BTreeMap, HashSet};

use load_tests::sim::SimConfig;
use ses::{PauseReason, SendOutcome, MAX_BULK_ENTRIES};

use crate::support::{bulk, client, email, start_sim};

#[tokio::test]
async fn send_email_records_one_message_with_tags() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;

    let outcome = ses.send_email(&email("ada@example.com", "batch-1")).await;

    let SendOutcome::Sent { message_id } = outcome else {
        panic!("expected Sent, got {outcome:?}");
    };
    let messages = server.messages(Some("batch-1"));
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.message_id, message_id);
    assert_eq!(message.to, "ada@example.com");
    assert_eq!(message.subject.as_deref(), Some("Spring sale"));
    let expected: BTreeMap<String, String> = [
        ("batchId", "batch-1"),
        ("organizationId", "org-1"),
        ("recipientId", "rcpt-1"),
        ("source", "broadcast"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(message.tags, expected);
    assert_eq!(server.stats().accepted, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn bulk_of_50_returns_sent_by_position() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;
    ses.upsert_template("sale", "Hi {{firstName}}", "<p>Hi {{firstName}}</p>", None)
        .await
        .unwrap();
    let message = bulk("sale", "batch-50", 50);

    let outcomes = ses.send_bulk_email(&message).await;

    assert_eq!(outcomes.len(), 50);
    let recorded: BTreeMap<String, String> = server
        .messages(Some("batch-50"))
        .into_iter()
        .map(|m| (m.to, m.message_id))
        .collect();
    assert_eq!(recorded.len(), 50);
    for (entry, outcome) in message.entries.iter().zip(&outcomes) {
        let SendOutcome::Sent { message_id } = outcome else {
            panic!("{}: expected Sent, got {outcome:?}", entry.to);
        };
        assert_eq!(&recorded[&entry.to], message_id, "{}", entry.to);
    }
    assert_eq!(server.stats().calls["SendBulkEmail"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn bulk_over_50_is_split_into_calls() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;
    ses.upsert_template("sale", "Hi {{firstName}}", "<p>Hi</p>", None)
        .await
        .unwrap();

    let outcomes = ses.send_bulk_email(&bulk("sale", "batch-120", 120)).await;

    assert_eq!(outcomes.len(), 120);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, SendOutcome::Sent { .. })));
    let ids: HashSet<_> = outcomes
        .iter()
        .map(|o| match o {
            SendOutcome::Sent { message_id } => message_id.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(ids.len(), 120);
    assert_eq!(
        server.stats().calls["SendBulkEmail"],
        120_u64.div_ceil(MAX_BULK_ENTRIES as u64)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bulk_without_entries_makes_no_call() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;

    let outcomes = ses.send_bulk_email(&bulk("sale", "batch-0", 0)).await;

    assert!(outcomes.is_empty());
    assert_eq!(
        server
            .stats()
            .calls
            .get("SendBulkEmail")
            .copied()
            .unwrap_or(0),
        0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bulk_to_missing_template_pauses() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;

    let outcomes = ses.send_bulk_email(&bulk("missing", "batch-m", 3)).await;

    assert_eq!(outcomes.len(), 3);
    for outcome in &outcomes {
        assert!(
            matches!(
                outcome,
                SendOutcome::PauseAccount {
                    reason: PauseReason::TemplateNotFound,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }
    assert_eq!(server.stats().accepted, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn get_account_returns_configured_quota() {
    let config = SimConfig {
        max_send_rate: Some(14.0),
        max_24h_send: Some(50_000),
        ..SimConfig::default()
    };
    let server = start_sim(config).await;
    let ses = client(&server.endpoint()).await;
    ses.send_email(&email("ada@example.com", "batch-q")).await;

    let quota = ses.get_account().await.unwrap();

    assert_eq!(quota.max_send_rate, 14.0);
    assert_eq!(quota.max_24h_send, 50_000.0);
    assert_eq!(quota.sent_last_24h, 1.0);
    assert!(quota.sending_enabled);
    assert!(!quota.is_unlimited());
    server.shutdown().await;
}

#[tokio::test]
async fn template_upsert_creates_then_updates() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;

    ses.upsert_template("welcome", "First {{firstName}}", "<p>1</p>", Some("1"))
        .await
        .unwrap();
    let first = ses.send_bulk_email(&bulk("welcome", "batch-v1", 1)).await;
    ses.upsert_template("welcome", "Second {{firstName}}", "<p>2</p>", None)
        .await
        .unwrap();
    let second = ses.send_bulk_email(&bulk("welcome", "batch-v2", 1)).await;

    assert!(matches!(first[0], SendOutcome::Sent { .. }), "{first:?}");
    assert!(matches!(second[0], SendOutcome::Sent { .. }), "{second:?}");
    let subject = |batch| server.messages(Some(batch))[0].subject.clone();
    assert_eq!(subject("batch-v1").as_deref(), Some("First R0"));
    assert_eq!(subject("batch-v2").as_deref(), Some("Second R0"));
    let calls = server.stats().calls;
    assert_eq!(calls["CreateEmailTemplate"], 1);
    assert_eq!(calls["UpdateEmailTemplate"], 2);
    server.shutdown().await;
}

#[tokio::test]
async fn delete_template_ignores_missing() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;
    ses.upsert_template("old", "s", "<p>h</p>", None)
        .await
        .unwrap();

    ses.delete_template("old").await.unwrap();
    ses.delete_template("old").await.unwrap();

    let outcomes = ses.send_bulk_email(&bulk("old", "batch-d", 1)).await;
    assert!(
        matches!(
            outcomes[0],
            SendOutcome::PauseAccount {
                reason: PauseReason::TemplateNotFound,
                ..
            }
        ),
        "{outcomes:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_template_is_rejected() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;

    let err = ses
        .upsert_template("broken", "{{#if x}}", "<p>h</p>", None)
        .await
        .unwrap_err();

    assert_eq!(
        err.info().and_then(ses::ErrorInfo::code),
        Some("BadRequestException"),
        "{err}"
    );
    assert!(matches!(err.outcome(), SendOutcome::Failed { .. }), "{err}");
    server.shutdown().await;
}
