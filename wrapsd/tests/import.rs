//! `wrapsd contacts import` run as a user runs it: the built binary on an
//! embedded SQLite store in a temporary data directory.

use std::path::Path;
use std::process::{Command, Output};

use schemas::contacts::{ContactFilter, SubscriptionStatus};
use schemas::OrgId;
use store::Store;

/// Runs `wrapsd` with `args` and a data directory of its own. The
/// environment is cleared so a `WRAPS_*` variable of the caller cannot point
/// the test at another database.
fn wrapsd(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wrapsd"))
        .args(args)
        .env_clear()
        .env("WRAPS_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("failed to run wrapsd")
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "wrapsd failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// Creates an organisation and a `news` topic, and returns the
/// organisation's id.
fn org_with_news_topic(data_dir: &Path) -> String {
    let org = stdout_of(&wrapsd(data_dir, &["orgs", "create", "--name", "Acme"]));
    let org = org.trim().to_owned();
    let topic_args = [
        "topics", "create", "--org", &org, "--name", "News", "--slug", "news",
    ];
    stdout_of(&wrapsd(data_dir, &topic_args));
    org
}

#[tokio::test]
async fn import_command_prints_summary() {
    let dir = tempfile::tempdir().unwrap();
    let org = org_with_news_topic(dir.path());
    let csv = dir.path().join("export.csv");
    let rows = [
        "Email Address,FNAME,LNAME,Tags",
        "ana@example.com,Ana,Silva,vip",
        "",
        "ANA@example.com,,Souza,",
        "oops,Bob,,",
        "carl@example.com,\"Carl, Jr.\",,",
    ];
    std::fs::write(&csv, rows.join("\r\n")).unwrap();

    let output = wrapsd(
        dir.path(),
        &[
            "contacts",
            "import",
            "--org",
            &org,
            "--topic",
            "news",
            csv.to_str().unwrap(),
        ],
    );
    let summary = stdout_of(&output);

    assert!(
        summary.contains("Rows read:                      4"),
        "{summary}"
    );
    assert!(
        summary.contains("Contacts created:               2"),
        "{summary}"
    );
    assert!(
        summary.contains("Contacts updated:               0"),
        "{summary}"
    );
    assert!(
        summary.contains("Duplicate rows merged:          1"),
        "{summary}"
    );
    assert!(
        summary.contains("Invalid rows skipped:           1"),
        "{summary}"
    );
    assert!(
        summary.contains("line 5: email is not a valid address"),
        "{summary}"
    );

    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("wrapsd.db").display()
    ))
    .await
    .unwrap();
    let org: OrgId = org.parse().unwrap();
    let filter = ContactFilter {
        page: 1,
        page_size: 100,
        ..ContactFilter::default()
    };
    let (contacts, total) = store.list_contacts(org, &filter).await.unwrap();
    assert_eq!(total, 2);

    let ana = contacts
        .iter()
        .find(|contact| contact.email.as_deref() == Some("ana@example.com"))
        .expect("ana@example.com was imported");
    assert_eq!(ana.last_name.as_deref(), Some("Souza"));
    assert_eq!(ana.properties["Tags"], "vip");

    let detail = store.get_contact(org, ana.id).await.unwrap().unwrap();
    assert_eq!(detail.topics.len(), 1);
    assert_eq!(detail.topics[0].status, SubscriptionStatus::Subscribed);
}

#[test]
fn import_command_rejects_unknown_topic() {
    let dir = tempfile::tempdir().unwrap();
    let org = org_with_news_topic(dir.path());
    let csv = dir.path().join("export.csv");
    std::fs::write(&csv, "email\nana@example.com\n").unwrap();

    let output = wrapsd(
        dir.path(),
        &[
            "contacts",
            "import",
            "--org",
            &org,
            "--topic",
            "newz",
            csv.to_str().unwrap(),
        ],
    );

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(r#"topic "newz" not found"#), "{stderr}");
}
