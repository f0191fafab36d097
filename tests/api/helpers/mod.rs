//! What every test stands on: its world ([`app`]: a database of its own, the fake API
//! and a runner for the `ampsync` binary); the fake Ampersand API ([`fake_api`]);
//! ampsync as a process ([`process`]: output, signals, peak memory); and a run held at
//! a known moment ([`hold`]: mid-fetch, mid-apply).

mod app;
mod fake_api;
mod hold;
mod process;

pub use app::*;
pub use fake_api::*;
pub use hold::*;
pub use process::*;
