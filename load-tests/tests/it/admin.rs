//! The `/sim` endpoints over plain HTTP.

use load_tests::sim::{SimConfig, SimMessage, SimStats, SimTimeline};
use serde_json::Value;

use crate::support::{http, send_one, ses_client, start_sim};

#[tokio::test]
async fn stats_json_uses_documented_names() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());
    send_one(&client, "a@example.com", "b1").await.unwrap();

    let (status, body) = http(sim.addr(), "GET", "/sim/stats", None).await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).unwrap();
    for field in [
        "accepted",
        "distinctRecipients",
        "duplicates",
        "throttled",
        "quotaRejected",
        "failedAfterAccept",
        "serverErrors",
        "calls",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from {body}");
    }
    assert_eq!(json["accepted"], 1);
    assert_eq!(json["calls"]["SendEmail"], 1);
    assert_eq!(json["calls"]["SendBulkEmail"], 0);

    let stats: SimStats = serde_json::from_str(&body).unwrap();
    assert_eq!(stats, sim.stats());
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_json_carries_the_timeline() {
    let config = SimConfig {
        max_send_rate: Some(2.0),
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());
    for i in 0..3 {
        let _ = send_one(&client, &format!("a{i}@example.com"), "t").await;
    }

    let (status, body) = http(sim.addr(), "GET", "/sim/stats", None).await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).unwrap();
    let timeline = &json["timeline"];
    assert_eq!(timeline["slotMillis"], 100, "{body}");
    assert_eq!(timeline["acceptedTotal"], 2, "{body}");
    assert_eq!(timeline["throttledTotal"], 1, "{body}");
    let per_slot: u64 = timeline["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|count| count.as_u64().unwrap())
        .sum();
    assert_eq!(per_slot, 2, "{body}");
    assert!(
        timeline.get("calls").is_none(),
        "calls only on request: {body}"
    );

    let (status, body) = http(sim.addr(), "GET", "/sim/stats?calls=true", None).await;
    assert_eq!(status, 200);
    let timeline: SimTimeline =
        serde_json::from_value(serde_json::from_str::<Value>(&body).unwrap()["timeline"].clone())
            .unwrap();
    assert_eq!(timeline, sim.timeline());
    assert_eq!(timeline.calls.len(), 2);
    assert!(timeline.calls[0].at_micros <= timeline.calls[1].at_micros);

    let (status, _) = http(sim.addr(), "POST", "/sim/reset", None).await;
    assert_eq!(status, 204);
    assert_eq!(sim.timeline().accepted_total, 0);
    assert!(sim.timeline().calls.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn messages_endpoint_filters_and_limits() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());
    for i in 0..3 {
        send_one(&client, &format!("a{i}@example.com"), "keep")
            .await
            .unwrap();
    }
    send_one(&client, "other@example.com", "skip")
        .await
        .unwrap();

    let (status, body) = http(
        sim.addr(),
        "GET",
        "/sim/messages?batchId=keep&limit=2",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let messages: Vec<SimMessage> = serde_json::from_str(&body).unwrap();
    let to: Vec<&str> = messages.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, ["a0@example.com", "a1@example.com"]);

    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(json[0].get("messageId").is_some(), "{body}");
    assert!(json[0].get("acceptedAt").is_some(), "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn reset_clears_records_and_rate() {
    let config = SimConfig {
        max_send_rate: Some(1.0),
        ..SimConfig::default()
    };
    let sim = start_sim(config).await;
    let client = ses_client(&sim.endpoint());
    send_one(&client, "a@example.com", "b").await.unwrap();

    let (status, _) = http(sim.addr(), "POST", "/sim/reset", None).await;
    assert_eq!(status, 204);
    assert_eq!(sim.stats().accepted, 0);
    assert!(sim.messages(None).is_empty());
    // The one-per-second budget spent before the reset is available again.
    send_one(&client, "b@example.com", "b").await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn config_endpoint_changes_faults() {
    let sim = start_sim(SimConfig::default()).await;
    let client = ses_client(&sim.endpoint());

    let (status, body) = http(
        sim.addr(),
        "POST",
        "/sim/config",
        Some(r#"{"throttleRatio":1}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["throttleRatio"], 1.0);
    assert_eq!(json["failAfterAcceptRatio"], 0.0);
    assert!(send_one(&client, "a@example.com", "b").await.is_err());

    http(
        sim.addr(),
        "POST",
        "/sim/config",
        Some(r#"{"throttleRatio":0}"#),
    )
    .await;
    send_one(&client, "a@example.com", "b").await.unwrap();
    assert_eq!(sim.stats().throttled, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn config_endpoint_rejects_out_of_range() {
    let sim = start_sim(SimConfig::default()).await;

    let (status, body) = http(
        sim.addr(),
        "POST",
        "/sim/config",
        Some(r#"{"throttleRatio":1.5}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("throttleRatio"), "{body}");

    let (status, _) = http(
        sim.addr(),
        "POST",
        "/sim/config",
        Some(r#"{"throtleRatio":0.1}"#),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are rejected");
    sim.shutdown().await;
}
