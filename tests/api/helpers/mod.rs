//! What every test stands on: its world ([`app`]: a database of its own, the fake API
//! and a runner for the `ampsync` binary), the fake Ampersand API ([`fake_api`]), and
//! running ampsync as a process ([`process`]: output, signals, peak memory).

mod app;
mod fake_api;
mod process;

pub use app::*;
pub use fake_api::*;
pub use process::*;
