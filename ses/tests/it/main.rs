//! Integration tests of the `ses` crate through the real aws-sdk-sesv2
//! client, against the SES simulator and loopback servers started by the
//! tests. No test reaches AWS.

mod assume_role;
mod faults;
mod render_parity;
mod send;
mod support;
mod transport;
