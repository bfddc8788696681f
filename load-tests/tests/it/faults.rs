//! Injected throttling, server errors, lost responses and latency.

use std::time::{Duration, Instant};

use aws_sdk_sesv2::error::SdkError;
use load_tests::sim::SimConfig;

use crate::support::{send_one, ses_client, ses_client_with_timeout, start_sim};

#[tokio::test]
async fn throttle_ratio_one_throttles_every_send() {
    let config = SimConfig {
        throttle_ratio: 1.0,
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    for i in 0..5 {
        let (code, _) = send_one(&client, &format!("r{i}@example.com"), "storm")
            .await
            .expect_err("every call is throttled");
        assert_eq!(code.as_deref(), Some("TooManyRequestsException"));
    }

    let stats = sim.stats();
    assert_eq!(stats.throttled, 5);
    assert_eq!(stats.accepted, 0);
    assert_eq!(stats.calls["SendEmail"], 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn throttle_ratio_throttles_a_fraction() {
    let config = SimConfig {
        throttle_ratio: 0.3,
        seed: 11,
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    let mut throttled = 0;
    for i in 0..200 {
        if send_one(&client, &format!("r{i}@example.com"), "partial")
            .await
            .is_err()
        {
            throttled += 1;
        }
    }

    // 200 draws at 0.3: the mean is 60 and the standard deviation about 6.5.
    assert!(
        (30..=90).contains(&throttled),
        "{throttled} of 200 throttled"
    );
    let stats = sim.stats();
    assert_eq!(stats.throttled, throttled);
    assert_eq!(stats.accepted, 200 - throttled);
    sim.shutdown().await;
}

#[tokio::test]
async fn set_faults_starts_and_ends_storm() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    send_one(&client, "a@example.com", "b").await.unwrap();
    sim.set_faults(1.0, 0.0);
    assert!(send_one(&client, "b@example.com", "b").await.is_err());
    sim.set_faults(0.0, 0.0);
    send_one(&client, "c@example.com", "b").await.unwrap();

    assert_eq!(sim.stats().throttled, 1);
    assert_eq!(sim.stats().accepted, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn server_error_ratio_returns_internal_failure() {
    let config = SimConfig {
        server_error_ratio: 1.0,
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    let err = client
        .send_email()
        .from_email_address(crate::support::SENDER)
        .destination(crate::support::to(&["a@example.com"]))
        .content(crate::support::simple_content("x"))
        .send()
        .await
        .unwrap_err();

    let status = err
        .raw_response()
        .map(|response| response.status().as_u16());
    assert_eq!(status, Some(500));
    assert_eq!(crate::support::error_code(&err), Some("InternalFailure"));
    assert_eq!(sim.stats().server_errors, 1);
    assert_eq!(sim.stats().accepted, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn fail_after_accept_records_then_client_times_out() {
    let config = SimConfig {
        fail_after_accept_ratio: 1.0,
        stall: Duration::from_secs(30),
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client_with_timeout(&sim.endpoint(), Duration::from_millis(300));

    let err = client
        .send_email()
        .from_email_address(crate::support::SENDER)
        .destination(crate::support::to(&["a@example.com"]))
        .content(crate::support::simple_content("lost"))
        .email_tags(crate::support::tag("batchId", "lost"))
        .send()
        .await
        .unwrap_err();

    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    assert_eq!(sim.messages(Some("lost")).len(), 1);
    let stats = sim.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.failed_after_accept, 1);

    // Shutdown ends the stalled response instead of waiting out the 30 s.
    let started = Instant::now();
    sim.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn fail_after_accept_breaks_response_without_timeout() {
    let config = SimConfig {
        fail_after_accept_ratio: 1.0,
        stall: Duration::from_millis(50),
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    let outcome = send_one(&client, "a@example.com", "broken").await;

    assert!(outcome.is_err(), "the response is cut off after the stall");
    assert_eq!(sim.stats().accepted, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_delays_each_call() {
    let config = SimConfig {
        latency: Duration::from_millis(200),
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());

    let started = Instant::now();
    client.get_account().send().await.unwrap();
    // A lower bound only: the call cannot finish before the injected delay.
    assert!(started.elapsed() >= Duration::from_millis(200));
    sim.shutdown().await;
}
