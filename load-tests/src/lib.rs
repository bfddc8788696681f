//! Load-testing support for wrapsd.
//!
//! - [`sim`]: an Amazon SES v2 simulator on the real REST-JSON wire format, used by
//!   tests, the embedded default and benchmarks instead of AWS.
//! - [`SesSimArgs`] and [`run_ses_sim`]: the `wrapsd ses-sim` command around it.
//! - [`fidelity`]: the rate-fidelity scenario, in which three `wrapsd dispatch`
//!   processes share one simulated AWS account whose `MaxSendRate` is enforced strictly
//!   (see "Rate fidelity" below).
//! - [`contacts`]: the generator of the bundled quickstart contact file.
//!
//! # Rate fidelity
//!
//! For each rate R, [`fidelity::run`] sends a batch of `R * (seconds + 1)` recipients
//! through three `wrapsd dispatch` processes on PostgreSQL and Redis. The simulator has
//! `MaxSendRate` R in [`sim::RateMode::Strict`]. It admits a call only when all of its
//! recipients fit in what remains of the one-second burst, so a sender that ever goes
//! above R is throttled. The run passes when the simulator throttled nothing,
//! accepted no recipient twice, every contact was sent, and the sustained rate is
//! between 0.95 R and R. The upper bound allows 0.1% more for the jitter of
//! admission times.
//!
//! The simulator logs the exact admission time of each call ([`sim::SimServer::timeline`]).
//! The first second after the first admission is the burst and is not measured. After
//! it, the sustained rate is the recipients of every call but the last divided by the
//! time from the first call to the last ([`fidelity::measure_rate`]), so that eleven
//! sends at R = 1 measure correctly. The table also shows the same measure over the
//! second half of the window. It is not judged, but it distinguishes burst credit
//! spent late (which can lift the whole window above R without a throttle) from
//! pacing above R.
//!
//! The scenario, in a release build, at the four rates of the issue:
//!
//! ```sh
//! cargo build --release -p wrapsd
//! WRAPS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//! WRAPS_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!     target/release/wrapsd rate-fidelity --rates 1,14,200,5000 --seconds 10
//! ```
//!
//! It prints progress on stderr and a Markdown table on stdout, and exits non-zero
//! when a rate fails. The CI test `wrapsd/tests/rate_fidelity.rs` runs smaller batches
//! when the same two variables are set.

pub mod address;
mod cli;
pub mod contacts;
pub mod fidelity;
mod rng;
pub mod sim;

pub use cli::{run_ses_sim, SesSimArgs, WebhookFormatName};
