//! Integration tests: the real aws-sdk-sesv2 client against the SES simulator started
//! in-process, the `/sim` endpoints over HTTP, the SES events it posts to a receiver
//! on 127.0.0.1, and the bundled quickstart contact file.

mod admin;
mod bulk;
mod faults;
mod limits;
mod quickstart_file;
mod receiver;
mod send;
mod support;
mod templates;
mod webhook;
mod wire_format;
