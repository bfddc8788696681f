//! Load-testing support for wrapsd.
//!
//! - [`sim`]: an Amazon SES v2 simulator on the real REST-JSON wire format, used by
//!   tests, the embedded default and benchmarks instead of AWS.
//! - [`SesSimArgs`] and [`run_ses_sim`]: the `wrapsd ses-sim` command around it.
//! - [`contacts`]: the generator of the bundled quickstart contact file.

pub mod address;
mod cli;
pub mod contacts;
mod rng;
pub mod sim;

pub use cli::{run_ses_sim, SesSimArgs};
