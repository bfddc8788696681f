//! Integration tests: the real aws-sdk-sesv2 client against the SES simulator started
//! in-process, the `/sim` endpoints over HTTP, and the bundled quickstart contact file.

mod admin;
mod bulk;
mod faults;
mod limits;
mod quickstart_file;
mod send;
mod support;
mod templates;
mod wire_format;
