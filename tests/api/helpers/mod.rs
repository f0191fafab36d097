//! What every test stands on: its world ([`app`]: a database of its own, the fake API
//! and a runner for the `ampsync` binary); the fake Ampersand API ([`fake_api`]);
//! ampsync as a process ([`process`]: output, signals, peak memory); a run held at
//! a known moment ([`hold`]: mid-fetch, mid-apply); an OpenTelemetry collector
//! ([`collector`]); and the Python of the reference parsers ([`python`]).

mod app;
mod collector;
mod fake_api;
mod hold;
mod process;
mod python;

pub use app::*;
pub use collector::*;
pub use fake_api::*;
pub use hold::*;
pub use process::*;
pub use python::*;
