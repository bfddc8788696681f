//! The Grafana dashboards of `grafana/dashboards`.
//!
//! `dashboards_are_well_formed` reads the JSON files alone: stable uids, the
//! `datasource`, `instance` and `account` variables, every panel on the
//! `datasource` variable, `$__rate_interval` in every range and only
//! metric names of the catalogue.
//!
//! `dashboard_queries_against_live_scrape` starts the SES simulator,
//! `wrapsd serve` and a real Prometheus (Debian package `prometheus`) that
//! scrapes it with `grafana/prometheus.yml`. After a small broadcast through
//! the API it runs every panel query through Prometheus's HTTP API. Each
//! query must parse, and every metric it names must exist in the scrape.
//! Without `/usr/bin/prometheus` the test fails, unless
//! `WRAPS_SKIP_PROMETHEUS=1` is set.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{admin, free_ports, wait_ready, Api, Process};
use metrics_catalogue::{Kind, CATALOGUE};
use serde_json::{json, Value};

const PROMETHEUS: &str = "/usr/bin/prometheus";
/// File name and uid of each dashboard.
const DASHBOARDS: [(&str, &str); 3] = [
    ("wrapsd-api.json", "wrapsd-api"),
    ("wrapsd-dispatch.json", "wrapsd-dispatch"),
    ("wrapsd-ses.json", "wrapsd-ses"),
];
const DATASOURCE: &str = "${datasource}";
const RATE_INTERVAL: &str = "[$__rate_interval]";
/// AWS account number of the simulated SES account.
const ACCOUNT: &str = "111122223333";
const RECIPIENTS: usize = 40;

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana")
}

fn load_dashboards() -> Vec<(&'static str, Value)> {
    DASHBOARDS
        .iter()
        .map(|&(file, _)| {
            let path = grafana_dir().join("dashboards").join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
            let board = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()));
            (file, board)
        })
        .collect()
}

/// Collects every panel of a dashboard, the panels inside collapsed rows included.
fn panels(board: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(inner) = panel.get("panels") {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&board["panels"], &mut out);
    out
}

/// Returns the panel title and `expr` of every query target of a dashboard.
fn panel_queries(board: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in panels(board) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            queries.push((title.to_owned(), expr.to_owned()));
        }
    }
    queries
}

fn variable<'a>(board: &'a Value, name: &str) -> Option<&'a Value> {
    board["templating"]["list"]
        .as_array()?
        .iter()
        .find(|var| var["name"] == name)
}

/// Returns the query string of a query variable, in either of Grafana's encodings.
fn variable_query(var: &Value) -> &str {
    var["query"]
        .as_str()
        .or_else(|| var["query"]["query"].as_str())
        .unwrap_or_default()
}

/// Extracts the metric names of an expression in order of appearance, as
/// written (with `_bucket`, `_sum` or `_count` where present).
fn metric_names(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut names = Vec::new();
    let mut at = 0;
    while let Some(found) = expr[at..].find("wraps_") {
        let start = at + found;
        let starts_word =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = start
            + expr[start..]
                .bytes()
                .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
                .count();
        if starts_word {
            names.push(expr[start..end].to_owned());
        }
        at = end;
    }
    names
}

/// Maps a series name to its catalogue name by stripping the `_bucket`,
/// `_sum` or `_count` suffix of histogram series.
fn base_name(name: &str) -> &str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if CATALOGUE
                .iter()
                .any(|m| m.name == base && m.kind == Kind::Histogram)
            {
                return base;
            }
        }
    }
    name
}

/// Finds the label selector that directly follows each mention of `name`,
/// or `None` where the mention has no braces.
fn selectors<'a>(expr: &'a str, name: &str) -> Vec<Option<&'a str>> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = expr[at..].find(name) {
        let end = at + offset + name.len();
        let next = expr[end..].chars().next();
        if next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            // A longer name that starts with this one.
            at = end;
            continue;
        }
        let selector = if next == Some('{') {
            expr[end..]
                .find('}')
                .map(|close| &expr[end + 1..end + close])
        } else {
            None
        };
        found.push(selector);
        at = end;
    }
    found
}

/// Replaces Grafana's variables by a range and match-everything regexes,
/// keeping the `=~` matchers, as the test sends queries to Prometheus.
fn concrete(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$instance", ".*")
        .replace("$account", ".*")
}

/// Splits `label_values(SELECTOR, LABEL)` into its selector and label.
fn label_values_parts(query: &str) -> Option<(&str, &str)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim(), label.trim()))
}

#[test]
fn dashboards_are_well_formed() {
    let catalogue: BTreeMap<&str, &metrics_catalogue::Metric> =
        CATALOGUE.iter().map(|m| (m.name, m)).collect();
    let mut problems = Vec::new();
    let mut named = BTreeSet::new();

    for ((file, board), (_, uid)) in load_dashboards().iter().zip(DASHBOARDS) {
        let mut problem = |text: String| problems.push(format!("{file}: {text}"));
        if board["uid"] != uid {
            problem(format!("uid is {}, expected {uid}", board["uid"]));
        }
        if board["title"].as_str().is_none_or(str::is_empty) {
            problem("no title".into());
        }
        if board["schemaVersion"].as_u64().is_none_or(|v| v < 36) {
            problem(format!(
                "schemaVersion {} is older than Grafana 10's",
                board["schemaVersion"]
            ));
        }

        match variable(board, "datasource") {
            Some(var) if var["type"] == "datasource" && var["query"] == "prometheus" => {}
            _ => problem("no `datasource` variable of type prometheus".into()),
        }
        let mut required = vec!["instance"];
        if uid == "wrapsd-ses" {
            required.push("account");
        }
        for name in &required {
            let Some(var) = variable(board, name) else {
                problem(format!("no `{name}` variable"));
                continue;
            };
            if var["type"] != "query" || var["multi"] != true || var["includeAll"] != true {
                problem(format!(
                    "`{name}` is not a multi-select query variable with All"
                ));
            }
            if var["datasource"]["uid"] != DATASOURCE {
                problem(format!("`{name}` does not query {DATASOURCE}"));
            }
            let query = variable_query(var);
            match label_values_parts(query) {
                Some((selector, label)) if label == *name => {
                    named.extend(metric_names(selector));
                }
                _ => problem(format!(
                    "`{name}` query {query:?} is not label_values(..., {name})"
                )),
            }
        }

        let mut ids = HashSet::new();
        let mut queries = 0;
        for panel in panels(board) {
            let title = panel["title"].as_str().unwrap_or("?").to_owned();
            if !panel["id"].as_u64().is_some_and(|id| ids.insert(id)) {
                problem(format!("panel {title:?} has a missing or repeated id"));
            }
            let grid = &panel["gridPos"];
            let (x, w) = (grid["x"].as_u64(), grid["w"].as_u64());
            if !matches!((x, w), (Some(x), Some(w)) if w > 0 && x + w <= 24) {
                problem(format!("panel {title:?} has no valid gridPos"));
            }
            if panel["type"] == "row" {
                continue;
            }
            if panel["datasource"]["uid"] != DATASOURCE {
                problem(format!("panel {title:?} does not use {DATASOURCE}"));
            }
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problem(format!("panel {title:?} has no query"));
            }
            let mut ref_ids = HashSet::new();
            for target in &targets {
                queries += 1;
                if target["datasource"]["uid"] != DATASOURCE {
                    problem(format!("a query of {title:?} does not use {DATASOURCE}"));
                }
                if !target["refId"].as_str().is_some_and(|r| ref_ids.insert(r)) {
                    problem(format!(
                        "a query of {title:?} has a missing or repeated refId"
                    ));
                }
                let expr = target["expr"].as_str().unwrap_or_default();
                check_expr(&catalogue, uid, &title, expr, &mut problem);
                named.extend(metric_names(expr));
            }
        }
        if queries == 0 {
            problem("no queries".into());
        }
    }

    let unknown: Vec<&String> = named
        .iter()
        .filter(|name| !catalogue.contains_key(base_name(name)))
        .collect();
    if !unknown.is_empty() {
        problems.push(format!(
            "metric names not in metrics-catalogue: {unknown:?}"
        ));
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n  {}",
        problems.join("\n  ")
    );
}

/// Checks one panel query: every range is `$__rate_interval`, every wraps
/// selector filters on `$instance` (and on `$account` where the SES
/// dashboard's metric has that label), quantiles read `_bucket` series by
/// `le`.
fn check_expr(
    catalogue: &BTreeMap<&str, &metrics_catalogue::Metric>,
    uid: &str,
    title: &str,
    expr: &str,
    problem: &mut impl FnMut(String),
) {
    if expr.trim().is_empty() {
        problem(format!("a query of {title:?} is empty"));
        return;
    }
    let ranges = expr.matches('[').count();
    if ranges != expr.matches(RATE_INTERVAL).count() {
        problem(format!(
            "{title:?}: a range other than {RATE_INTERVAL} in {expr}"
        ));
    }
    for function in ["rate(", "increase("] {
        if expr.contains(function) && !expr.contains(RATE_INTERVAL) {
            problem(format!("{title:?}: {function} without {RATE_INTERVAL}"));
        }
    }
    if expr.contains("histogram_quantile(")
        && !(expr.contains("_bucket{") && expr.contains("sum by (le"))
    {
        problem(format!(
            "{title:?}: histogram_quantile not over sum by (le, ...) of _bucket series"
        ));
    }
    let names: BTreeSet<String> = metric_names(expr).into_iter().collect();
    if names.is_empty() {
        problem(format!("{title:?}: no wraps_ metric in {expr}"));
    }
    for name in &names {
        let has_account = catalogue
            .get(base_name(name))
            .is_some_and(|m| m.labels.contains(&"account"));
        for selector in selectors(expr, name) {
            let selector = selector.unwrap_or_default();
            if !selector.contains("instance=~\"$instance\"") {
                problem(format!("{title:?}: {name} not filtered by $instance"));
            }
            if uid == "wrapsd-ses" && has_account && !selector.contains("account=~\"$account\"") {
                problem(format!("{title:?}: {name} not filtered by $account"));
            }
        }
    }
}

// ---------------------------------------------------------------------
// The live test: processes, a broadcast and Prometheus.
// ---------------------------------------------------------------------

struct Prometheus {
    http: reqwest::Client,
    base: String,
}

impl Prometheus {
    /// Calls an HTTP API endpoint and returns its JSON body.
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(params)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Prometheus {path}: {e}"));
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("Prometheus {path} returned no JSON: {e}"))
    }

    /// Returns the value of an instant query's first sample, if it has one.
    async fn scalar(&self, query: &str) -> Option<f64> {
        let answer = self.get("/api/v1/query", &[("query", query)]).await;
        answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
    }

    /// Waits until the wrapsd target was scraped after `after` (seconds
    /// since the epoch) and returns that scrape's time.
    async fn scrape_after(&self, after: f64, limit: Duration) -> f64 {
        let deadline = Instant::now() + limit;
        loop {
            // On a plain selector timestamp() returns the time of the last
            // scrape. On any other expression it returns the query time.
            if let Some(at) = self.scalar("timestamp(up{job=\"wrapsd\"})").await {
                if at > after {
                    return at;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus did not scrape wrapsd within {limit:?}: {}",
                self.get("/api/v1/targets", &[]).await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Turns `grafana/prometheus.yml` into the test's configuration: the same
/// job, scraping `metrics` every second.
fn prometheus_config(metrics: &str) -> String {
    let path = grafana_dir().join("prometheus.yml");
    let shipped = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    for expected in [
        "\"127.0.0.1:9464\"",
        "scrape_interval: 5s",
        "scrape_timeout: 5s",
        "job_name: wrapsd",
    ] {
        assert!(
            shipped.contains(expected),
            "grafana/prometheus.yml no longer contains {expected}; update this test with it"
        );
    }
    shipped
        .replace("\"127.0.0.1:9464\"", &format!("\"{metrics}\""))
        .replace("scrape_interval: 5s", "scrape_interval: 1s")
        .replace("scrape_timeout: 5s", "scrape_timeout: 1s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_against_live_scrape() {
    if !Path::new(PROMETHEUS).exists() {
        if std::env::var("WRAPS_SKIP_PROMETHEUS").as_deref() == Ok("1") {
            eprintln!("skipped: {PROMETHEUS} is missing and WRAPS_SKIP_PROMETHEUS=1 is set");
            return;
        }
        panic!(
            "{PROMETHEUS} is missing: install it with `apt-get install -y prometheus`, \
             or set WRAPS_SKIP_PROMETHEUS=1 to skip this test"
        );
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("wrapsd");
    let tsdb = dir.path().join("prometheus");
    std::fs::create_dir_all(&data_dir).unwrap();
    let ports = free_ports(4);
    let (sim_port, api_port, metrics_port, prometheus_port) =
        (ports[0], ports[1], ports[2], ports[3]);
    let sim_url = format!("http://127.0.0.1:{sim_port}");
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // An organisation on plan pro (broadcasts need it) and its key, before
    // `serve` starts, so `serve` creates no default organisation.
    let org = admin(
        &data_dir,
        &[],
        &["orgs", "create", "--name", "Dashboards", "--plan", "pro"],
    );
    let key = admin(
        &data_dir,
        &[],
        &["keys", "create", "--org", &org, "--name", "dashboards"],
    );

    // A simulator with a send rate low enough to make senders wait for
    // tokens, a 24-hour quota so headroom is reported, and some throttling.
    let mut simulator = Process::spawn(
        "ses-sim",
        Command::new(env!("CARGO_BIN_EXE_wrapsd")).args([
            "ses-sim",
            "--listen",
            &format!("127.0.0.1:{sim_port}"),
            "--max-send-rate",
            "25",
            "--max-24h",
            "100000",
            "--throttle-ratio",
            "0.1",
            "--seed",
            "7",
        ]),
        dir.path(),
    );
    wait_ready(
        &http,
        &format!("{sim_url}/sim/stats"),
        &mut simulator,
        Duration::from_secs(20),
    )
    .await;

    let mut server = Process::spawn(
        "wrapsd serve",
        Command::new(env!("CARGO_BIN_EXE_wrapsd"))
            .arg("serve")
            .env("WRAPS_LISTEN", format!("127.0.0.1:{api_port}"))
            .env("WRAPS_METRICS_LISTEN", &metrics_addr)
            .env("WRAPS_DATA_DIR", &data_dir)
            .env_remove("WRAPS_DATABASE_URL")
            .env_remove("WRAPS_REDIS_URL")
            .env("WRAPS_SES_ENDPOINT_URL", &sim_url)
            .env("RUST_LOG", "warn"),
        dir.path(),
    );
    let api_url = format!("http://127.0.0.1:{api_port}");
    wait_ready(
        &http,
        &format!("{api_url}/health/ready"),
        &mut server,
        Duration::from_secs(30),
    )
    .await;
    wait_ready(
        &http,
        &format!("http://{metrics_addr}/metrics"),
        &mut server,
        Duration::from_secs(10),
    )
    .await;

    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, prometheus_config(&metrics_addr)).unwrap();
    let mut prometheus_process = Process::spawn(
        "prometheus",
        Command::new(PROMETHEUS).args([
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", tsdb.display()),
            &format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
            "--log.level=warn",
        ]),
        dir.path(),
    );
    let prometheus_url = format!("http://127.0.0.1:{prometheus_port}");
    wait_ready(
        &http,
        &format!("{prometheus_url}/-/ready"),
        &mut prometheus_process,
        Duration::from_secs(30),
    )
    .await;
    let prometheus = Prometheus {
        http: http.clone(),
        base: prometheus_url,
    };

    // A small broadcast through the API, plus one 404 so the error panels
    // have a 4xx series.
    let api = Api {
        http: http.clone(),
        base: api_url,
        key,
    };
    let connection = api
        .post(
            "/v1/connections",
            json!({ "accountId": ACCOUNT, "region": "us-east-1", "features": { "email": true } }),
        )
        .await;
    for i in 0..RECIPIENTS {
        api.post(
            "/v1/contacts",
            json!({ "email": format!("reader{i}@example.com"), "firstName": format!("Reader{i}") }),
        )
        .await;
    }
    let (status, _) = api
        .call(
            reqwest::Method::GET,
            "/v1/contacts/00000000-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(status, 404, "a missing contact did not answer 404");
    let batch = api
        .post(
            "/v1/batch",
            json!({
                "awsAccountId": connection["connectionId"],
                "name": "Dashboards",
                "audienceType": "all",
                "from": "news@example.com",
                "subject": "Hello {{firstName}}",
                "htmlContent": "<p>Hi {{firstName}}</p>",
            }),
        )
        .await;
    let batch_id = batch["id"].as_str().expect("POST /v1/batch returned no id");

    let deadline = Instant::now() + Duration::from_secs(45);
    let finished = loop {
        server.assert_running();
        let (status, state) = api
            .call(reqwest::Method::GET, &format!("/v1/batch/{batch_id}"), None)
            .await;
        assert_eq!(status, 200, "GET /v1/batch/{batch_id}: {state}");
        if matches!(
            state["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            break state;
        }
        assert!(
            Instant::now() < deadline,
            "the batch did not finish within 45 s: {state}\n{}",
            server.tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(finished["sent"], RECIPIENTS, "{finished}");
    let completed_at = now_seconds();
    eprintln!(
        "batch completed after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Two scrapes that both began after the batch completed.
    let first = prometheus
        .scrape_after(completed_at, Duration::from_secs(15))
        .await;
    prometheus
        .scrape_after(first, Duration::from_secs(15))
        .await;
    server.assert_running();

    let sent = prometheus
        .scalar("sum(wraps_sends_total{outcome=\"sent\"})")
        .await;
    if sent != Some(RECIPIENTS as f64) {
        let exported = http
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines: Vec<&str> = exported
            .lines()
            .filter(|line| line.starts_with("wraps_sends_total"))
            .collect();
        let stats = http
            .get(format!("{sim_url}/sim/stats"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        panic!(
            "Prometheus contains {sent:?} sent recipients, the batch {RECIPIENTS}\n\
             wrapsd exports now:\n  {}\nsimulator: {stats}\nbatch: {finished}",
            lines.join("\n  ")
        );
    }

    let names_answer = prometheus.get("/api/v1/label/__name__/values", &[]).await;
    let scraped: HashSet<&str> = names_answer["data"]
        .as_array()
        .expect("no metric names from Prometheus")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let exists = |name: &str| {
        let base = base_name(name);
        [
            base.to_owned(),
            format!("{base}_bucket"),
            format!("{base}_count"),
        ]
        .iter()
        .any(|series| scraped.contains(series.as_str()))
    };

    let mut failures = Vec::new();
    let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut empty = Vec::new();
    let mut count = 0;
    for (file, board) in load_dashboards() {
        for (title, expr) in panel_queries(&board) {
            count += 1;
            let query = concrete(&expr);
            let answer = prometheus.get("/api/v1/query", &[("query", &query)]).await;
            if answer["status"] != "success" {
                failures.push(format!(
                    "{file} {title:?}: {query}\n    {}: {}",
                    answer["errorType"], answer["error"]
                ));
            } else if answer["data"]["result"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                empty.push(format!("{file} {title:?}: {query}"));
            }
            for name in metric_names(&expr) {
                if !exists(&name) {
                    missing
                        .entry(base_name(&name).to_owned())
                        .or_default()
                        .insert(format!("{file} {title:?}"));
                }
            }
        }
        // The variables' label_values() selectors must find series that
        // carry the label.
        for var in board["templating"]["list"].as_array().into_iter().flatten() {
            let Some((selector, label)) = label_values_parts(variable_query(var)) else {
                continue;
            };
            let selector = concrete(selector);
            let answer = prometheus
                .get("/api/v1/series", &[("match[]", &selector)])
                .await;
            let has_label = answer["data"]
                .as_array()
                .is_some_and(|series| series.iter().any(|s| s[label].is_string()));
            if answer["status"] != "success" || !has_label {
                failures.push(format!(
                    "{file} variable {}: no series of {selector} with label {label}: {answer}",
                    var["name"]
                ));
            }
        }
    }
    assert!(count > 0, "the dashboards have no queries");

    for query in &empty {
        eprintln!("no data (may be expected): {query}");
    }
    for (name, panels) in &missing {
        failures.push(format!(
            "metric {name} is not in the scrape; used by {}",
            panels.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    eprintln!(
        "{count} panel queries checked in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} dashboard problems against the live scrape:\n  {}\n{}",
        failures.len(),
        failures.join("\n  "),
        server.tail()
    );
}
