//! `wrapsd rate-fidelity`: the rate-fidelity scenario of the load tests, with this
//! executable as the dispatchers.
//!
//! For each rate it runs [`load_tests::fidelity::run`]: three `wrapsd dispatch`
//! processes share one simulated AWS account whose `MaxSendRate` is enforced
//! strictly, and the simulator's timeline shows whether they were throttled and
//! how close to the rate they sent. The load-tests crate documentation describes
//! the measurement.

use anyhow::{bail, Context};
use clap::Args;
use load_tests::fidelity::{self, FidelityOptions, FidelityResult};

#[derive(Args, Debug)]
pub struct FidelityArgs {
    /// `MaxSendRate` values to run, in recipients per second, separated by
    /// commas; each gets a run of its own.
    #[arg(long, value_delimiter = ',', default_value = "1,14,200,5000")]
    rates: Vec<f64>,
    /// Seconds of sending after the first second, at least 5: each batch has
    /// `R * (seconds + 1)` recipients.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// `wrapsd dispatch` processes sharing the account.
    #[arg(long, default_value_t = 3)]
    dispatchers: usize,
    /// PostgreSQL on 127.0.0.1, ::1 or localhost; each run creates its own
    /// database on that server and drops it at the end.
    #[arg(long, env = "WRAPS_TEST_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Redis on 127.0.0.1, ::1 or localhost; each run uses a key prefix of its
    /// own and deletes its keys at the end.
    #[arg(long, env = "WRAPS_TEST_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Seconds to wait for each batch; by default twice the ideal sending time
    /// plus one minute.
    #[arg(long, value_name = "SECONDS")]
    timeout_secs: Option<u64>,
}

/// Runs every rate, prints the results as a Markdown table, and fails when a
/// rate failed.
pub async fn run(args: FidelityArgs) -> anyhow::Result<()> {
    let Some(database_url) = args.database_url.filter(|url| !url.is_empty()) else {
        bail!("no PostgreSQL to run on: pass --database-url or set WRAPS_TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test");
    };
    let Some(redis_url) = args.redis_url.filter(|url| !url.is_empty()) else {
        bail!("no Redis to run on: pass --redis-url or set WRAPS_TEST_REDIS_URL, e.g. redis://127.0.0.1:6379");
    };
    if args.rates.is_empty() {
        bail!("--rates lists no rate");
    }
    // Below about five seconds a window holds only a few calls at low rates,
    // and where the window's edges fall decides the measured rate.
    if args.seconds < 5.0 {
        bail!(
            "invalid --seconds {}: measure at least 5 seconds so that the sustained rate means something",
            args.seconds
        );
    }
    let wrapsd = std::env::current_exe().context("cannot find the path of this executable")?;
    let mut options = FidelityOptions::new(args.rates[0], database_url, redis_url, wrapsd);
    options.seconds = args.seconds;
    options.dispatchers = args.dispatchers;
    options.timeout = args.timeout_secs.map(std::time::Duration::from_secs);

    let results = fidelity::run_rates(&args.rates, &options).await?;
    println!("{}", FidelityResult::markdown_header());
    for result in &results {
        println!("{}", result.markdown_row());
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|result| !result.passed())
        .map(|result| result.max_send_rate.to_string())
        .collect();
    if !failed.is_empty() {
        bail!("rate fidelity failed at R = {}", failed.join(", "));
    }
    Ok(())
}
