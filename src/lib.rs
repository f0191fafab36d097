//! ampsync keeps a PostgreSQL copy of an Ampersand project's installations, with their
//! connections, groups, consumers, provider apps and configs, as typed tables with the
//! full history of every change.
//!
//! The data flows `api` (fetch) → `normalize` (payloads to rows, secrets dropped) →
//! `apply` (compare and write, with history) → `runs` (record the run); `sync` and
//! `import` drive one run each, `export` reads the tables back into the API's
//! JSON, `cli` is the command line.

pub mod api;
pub mod apply;
pub mod bridge;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod copy_text;
pub mod db;
pub mod error;
pub mod export;
#[cfg(feature = "failpoints")]
pub mod failpoints;
pub mod import;
pub mod input;
pub mod json_number;
pub mod lifecycle;
pub mod metrics;
pub mod normalize;
pub mod output;
pub mod pgpass;
pub mod progress;
pub mod prune;
pub mod rejects;
pub mod rows;
pub mod runs;
pub mod scrub;
pub mod shutdown;
pub mod spill;
pub mod status;
pub mod storable;
pub mod store;
pub mod sync;
pub mod telemetry;
