//! MaxSendRate, Max24HourSend, GetAccount, and duplicate counting.

use std::time::Duration;

use futures::future::join_all;
use load_tests::fidelity::measure_rate;
use load_tests::sim::{AdmittedCall, RateMode, SimConfig};
use tokio::time::Instant;

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
async fn strict_rate_throttles_oversized_bulk() {
    let config = SimConfig {
        max_send_rate: Some(5.0),
        rate_mode: RateMode::Strict,
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());
    create_template(&client, "news", "News", "<p>News</p>").await;
    let bulk = |count: usize, first: usize| {
        let entries = (first..first + count)
            .map(|i| entry(&format!("r{i}@example.com")))
            .collect();
        client
            .send_bulk_email()
            .from_email_address(SENDER)
            .default_content(default_content("news", "{}"))
            .set_bulk_email_entries(Some(entries))
            .send()
    };

    bulk(3, 0)
        .await
        .expect("three of five recipients fit the burst");
    let err = bulk(3, 3)
        .await
        .expect_err("three more do not fit in the two that remain");
    assert_eq!(
        aws_sdk_sesv2::error::ProvideErrorMetadata::code(&err),
        Some("TooManyRequestsException")
    );
    bulk(2, 3).await.expect("two more fit exactly");

    let stats = sim.stats();
    assert_eq!(stats.accepted, 5);
    assert_eq!(stats.throttled, 1);
    let timeline = sim.timeline();
    assert_eq!(timeline.accepted_total, 5);
    assert_eq!(timeline.throttled_total, 1);
    let sizes: Vec<u32> = timeline.calls.iter().map(|call| call.recipients).collect();
    assert_eq!(sizes, [3, 2]);
    sim.shutdown().await;
}

/// What a paced sender did, as it measured it.
struct PacedRun {
    throttled: usize,
    /// Start of each admitted send, from the sender's own clock.
    admitted: Vec<AdmittedCall>,
}

/// Sends `burst` messages at once, then one every `1 / rate` seconds until `until`
/// after the start. A late send makes up for lost time with the next ones only when
/// `catch_up` is set. Otherwise the schedule restarts from the late send, so no two
/// paced sends start closer than `1 / rate` apart.
async fn paced_sender(
    client: &aws_sdk_sesv2::Client,
    burst: usize,
    rate: f64,
    until: Duration,
    catch_up: bool,
) -> PacedRun {
    let start = Instant::now();
    let mut run = PacedRun {
        throttled: 0,
        admitted: Vec::new(),
    };
    let send = |index: usize| {
        let address = format!("r{index}@example.com");
        async move {
            let at = Instant::now();
            let admitted = send_one(client, &address, "paced").await.is_ok();
            (at, admitted)
        }
    };
    let record = |run: &mut PacedRun, (at, admitted): (Instant, bool)| {
        if admitted {
            run.admitted.push(AdmittedCall {
                at_micros: (at - start).as_micros() as u64,
                recipients: 1,
            });
        } else {
            run.throttled += 1;
        }
    };

    for index in 0..burst {
        let outcome = send(index).await;
        record(&mut run, outcome);
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut next = Instant::now();
    let mut index = burst;
    while next - start < until {
        next += period;
        tokio::time::sleep_until(next).await;
        if !catch_up {
            next = next.max(Instant::now());
        }
        let outcome = send(index).await;
        record(&mut run, outcome);
        index += 1;
    }
    run
}

#[tokio::test]
async fn strict_rate_passes_sender_below_rate() {
    let config = SimConfig {
        max_send_rate: Some(20.0),
        rate_mode: RateMode::Strict,
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    // Half a second of burst, then at most 0.97 of the rate.
    let run = paced_sender(&client, 10, 19.4, Duration::from_secs(3), false).await;
    assert_eq!(run.throttled, 0);
    let timeline = sim.timeline();
    assert_eq!(timeline.throttled_total, 0);

    // The simulator's clock shows the rate the sender's own clock shows. A busy
    // machine may slow the sender, so its own rate is the reference, not 19.4.
    let measured = measure_rate(&timeline.calls)
        .sustained
        .expect("two seconds of calls after the first");
    let own = measure_rate(&run.admitted)
        .sustained
        .expect("two seconds of sends after the first");
    assert!(
        own <= 19.4 * 1.001,
        "the sender went faster than 19.4/s: {own}"
    );
    assert!(
        (measured - own).abs() <= 0.02 * own,
        "simulator measured {measured}/s, sender {own}/s"
    );
    assert!(measured <= 20.0, "measured {measured}/s above the rate");
    sim.shutdown().await;
}

#[tokio::test]
async fn strict_rate_throttles_sender_above_rate() {
    let config = SimConfig {
        max_send_rate: Some(20.0),
        rate_mode: RateMode::Strict,
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    // The whole burst, then 30 per second: the credit that refilled while the burst
    // was sent runs out at 10 recipients per second.
    let run = paced_sender(&client, 20, 30.0, Duration::from_secs(3), true).await;
    assert!(
        run.throttled > 0,
        "a sender above the rate must be throttled"
    );
    assert_eq!(sim.timeline().throttled_total, run.throttled as u64);
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
