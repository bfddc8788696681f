//! Injected SES faults and limits, and the outcomes they must produce. The
//! call counts prove that the SDK did not retry a send.

use std::time::Duration;

use load_tests::sim::SimConfig;
use ses::{PauseReason, SendOutcome};

use crate::support::{bulk, client, client_with, email, settings, start_sim};

#[tokio::test]
async fn throttle_retries_later_and_records_nothing() {
    let server = start_sim(SimConfig::default()).await;
    server.set_faults(1.0, 0.0);
    let ses = client(&server.endpoint()).await;

    let outcome = ses.send_email(&email("ada@example.com", "batch-t")).await;

    assert!(
        matches!(outcome, SendOutcome::RetryLater { .. }),
        "{outcome:?}"
    );
    let stats = server.stats();
    assert_eq!(stats.accepted, 0);
    assert_eq!(stats.throttled, 1, "the SDK must not retry a send");
    server.shutdown().await;
}

#[tokio::test]
async fn throttled_bulk_retries_every_entry() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;
    ses.upsert_template("sale", "Hi", "<p>Hi</p>", None)
        .await
        .unwrap();
    server.set_faults(1.0, 0.0);

    let outcomes = ses.send_bulk_email(&bulk("sale", "batch-tb", 5)).await;

    assert_eq!(outcomes.len(), 5);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, SendOutcome::RetryLater { .. })),
        "{outcomes:?}"
    );
    assert_eq!(server.stats().accepted, 0);
    assert_eq!(server.stats().throttled, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn lost_response_is_unknown() {
    let config = SimConfig {
        stall: Duration::from_secs(10),
        ..SimConfig::default()
    };
    let server = start_sim(config).await;
    server.set_faults(0.0, 1.0);
    let ses = client_with(ses::SesSettings {
        call_timeout: Duration::from_millis(800),
        connect_timeout: Duration::from_millis(200),
        ..settings(&server.endpoint())
    })
    .await;

    let outcome = ses.send_email(&email("ada@example.com", "batch-u")).await;

    assert!(
        matches!(outcome, SendOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    let stats = server.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.failed_after_accept, 1);
    assert_eq!(stats.calls["SendEmail"], 1, "the SDK must not retry a send");
    server.shutdown().await;
}

#[tokio::test]
async fn lost_bulk_response_is_unknown_for_every_entry() {
    let config = SimConfig {
        stall: Duration::from_secs(10),
        ..SimConfig::default()
    };
    let server = start_sim(config).await;
    let ses = client_with(ses::SesSettings {
        call_timeout: Duration::from_millis(800),
        connect_timeout: Duration::from_millis(200),
        ..settings(&server.endpoint())
    })
    .await;
    ses.upsert_template("sale", "Hi", "<p>Hi</p>", None)
        .await
        .unwrap();
    server.set_faults(0.0, 1.0);

    let outcomes = ses.send_bulk_email(&bulk("sale", "batch-ub", 4)).await;

    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, SendOutcome::Unknown { .. })),
        "{outcomes:?}"
    );
    assert_eq!(server.stats().accepted, 4);
    assert_eq!(server.stats().calls["SendBulkEmail"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn server_error_retries_later() {
    let config = SimConfig {
        server_error_ratio: 1.0,
        ..SimConfig::default()
    };
    let server = start_sim(config).await;
    let ses = client(&server.endpoint()).await;

    let outcome = ses.send_email(&email("ada@example.com", "batch-5xx")).await;

    assert!(
        matches!(outcome, SendOutcome::RetryLater { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        server.stats().server_errors,
        1,
        "the SDK must not retry a send"
    );
    assert_eq!(server.stats().accepted, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn exhausted_daily_quota_pauses() {
    let config = SimConfig {
        max_24h_send: Some(1),
        ..SimConfig::default()
    };
    let server = start_sim(config).await;
    let ses = client(&server.endpoint()).await;

    let first = ses.send_email(&email("a@example.com", "batch-dq")).await;
    let second = ses.send_email(&email("b@example.com", "batch-dq")).await;

    assert!(matches!(first, SendOutcome::Sent { .. }), "{first:?}");
    assert!(
        matches!(
            second,
            SendOutcome::PauseAccount {
                reason: PauseReason::DailyQuota,
                ..
            }
        ),
        "{second:?}"
    );
    assert_eq!(server.stats().quota_rejected, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn exceeded_send_rate_retries_later() {
    let config = SimConfig {
        max_send_rate: Some(1.0),
        ..SimConfig::default()
    };
    let server = start_sim(config).await;
    let ses = client(&server.endpoint()).await;
    ses.upsert_template("sale", "Hi", "<p>Hi</p>", None)
        .await
        .unwrap();

    // SES lets a call through while any of the second's budget remains, so
    // ten recipients pass and leave a debt of nine seconds.
    let first = ses.send_bulk_email(&bulk("sale", "batch-rate", 10)).await;
    let second = ses
        .send_email(&email("late@example.com", "batch-rate"))
        .await;

    assert!(
        first.iter().all(|o| matches!(o, SendOutcome::Sent { .. })),
        "{first:?}"
    );
    assert!(
        matches!(second, SendOutcome::RetryLater { .. }),
        "{second:?}"
    );
    assert_eq!(server.stats().throttled, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn throttled_bulk_skips_later_calls() {
    let server = start_sim(SimConfig::default()).await;
    let ses = client(&server.endpoint()).await;
    ses.upsert_template("sale", "Hi", "<p>Hi</p>", None)
        .await
        .unwrap();
    server.set_faults(1.0, 0.0);

    let outcomes = ses.send_bulk_email(&bulk("sale", "batch-skip", 120)).await;

    assert_eq!(outcomes.len(), 120);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, SendOutcome::RetryLater { .. })),
        "{outcomes:?}"
    );
    assert_eq!(server.stats().calls["SendBulkEmail"], 1);
    server.shutdown().await;
}
