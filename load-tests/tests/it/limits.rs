//! MaxSendRate, Max24HourSend, GetAccount, and duplicate counting.

use futures::future::join_all;
use load_tests::sim::SimConfig;

use crate::bulk::{create_template, default_content, entry};
use crate::support::{send_one, ses_client, start_sim, SENDER};

#[tokio::test]
async fn rate_limit_throttles_burst_and_records_only_admitted() {
    let config = SimConfig {
        max_send_rate: Some(5.0),
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    let addresses: Vec<String> = (0..20).map(|i| format!("r{i}@example.com")).collect();
    let outcomes = join_all(
        addresses
            .iter()
            .map(|address| send_one(&client, address, "burst")),
    )
    .await;

    let admitted: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let throttled: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(!admitted.is_empty(), "some calls fit the one-second burst");
    assert!(
        !throttled.is_empty(),
        "20 recipients at once exceed 5 per second"
    );
    for (code, detail) in &throttled {
        assert_eq!(
            code.as_deref(),
            Some("TooManyRequestsException"),
            "{detail}"
        );
    }

    let recorded = sim.messages(Some("burst"));
    assert_eq!(recorded.len(), admitted.len());
    assert!(recorded
        .iter()
        .all(|message| admitted.contains(&&message.message_id)));
    let stats = sim.stats();
    assert_eq!(stats.throttled, throttled.len() as u64);
    assert_eq!(stats.accepted, admitted.len() as u64);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_charges_bulk_per_recipient() {
    let config = SimConfig {
        max_send_rate: Some(5.0),
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());
    create_template(&client, "news", "News", "<p>News</p>").await;

    // SES admits a call while any of the per-second quota remains, then charges
    // all 20 recipients: the account owes three seconds of sending.
    let entries = (0..20)
        .map(|i| entry(&format!("r{i}@example.com")))
        .collect();
    client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content("news", "{}"))
        .set_bulk_email_entries(Some(entries))
        .send()
        .await
        .expect("the first call fits the burst");

    let next = send_one(&client, "late@example.com", "after-bulk").await;
    let (code, _) = next.expect_err("the next call is throttled while the debt lasts");
    assert_eq!(code.as_deref(), Some("TooManyRequestsException"));
    assert_eq!(sim.stats().accepted, 20);
    sim.shutdown().await;
}

#[tokio::test]
async fn daily_quota_rejects_after_max() {
    let config = SimConfig {
        max_24h_send: Some(10),
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    for i in 0..10 {
        send_one(&client, &format!("r{i}@example.com"), "quota")
            .await
            .expect("within the daily quota");
    }
    let (code, _) = send_one(&client, "r10@example.com", "quota")
        .await
        .expect_err("the eleventh recipient exceeds the quota");
    assert_eq!(code.as_deref(), Some("LimitExceededException"));

    let stats = sim.stats();
    assert_eq!(stats.accepted, 10);
    assert_eq!(stats.quota_rejected, 1);
    assert_eq!(stats.throttled, 0);

    let account = client.get_account().send().await.unwrap();
    let quota = account.send_quota().unwrap();
    assert_eq!(quota.max24_hour_send(), 10.0);
    assert_eq!(quota.sent_last24_hours(), 10.0);
    sim.shutdown().await;
}

#[tokio::test]
async fn get_account_reports_limits() {
    let config = SimConfig {
        max_send_rate: Some(14.0),
        max_24h_send: Some(50_000),
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    let account = client.get_account().send().await.unwrap();
    let quota = account.send_quota().unwrap();
    assert_eq!(quota.max_send_rate(), 14.0);
    assert_eq!(quota.max24_hour_send(), 50_000.0);
    assert_eq!(quota.sent_last24_hours(), 0.0);
    assert!(account.sending_enabled());
    assert!(account.production_access_enabled());
    assert_eq!(account.enforcement_status(), Some("HEALTHY"));
    assert!(!account.dedicated_ip_auto_warmup_enabled());
    sim.shutdown().await;
}

#[tokio::test]
async fn get_account_reports_unlimited_as_minus_one() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let account = client.get_account().send().await.unwrap();
    let quota = account.send_quota().unwrap();
    assert_eq!(quota.max_send_rate(), -1.0);
    assert_eq!(quota.max24_hour_send(), -1.0);
    sim.shutdown().await;
}

#[tokio::test]
async fn duplicates_counted_per_batch_id() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    send_one(&client, "ann@example.com", "b1").await.unwrap();
    send_one(&client, "Ann@Example.COM", "b1").await.unwrap();
    send_one(&client, "ann@example.com", "b2").await.unwrap();
    send_one(&client, "bob@example.com", "b1").await.unwrap();

    let stats = sim.stats();
    assert_eq!(stats.accepted, 4);
    assert_eq!(stats.distinct_recipients, 3);
    assert_eq!(stats.duplicates, 1);
    sim.shutdown().await;
}
