//! ampsync keeps a PostgreSQL copy of an Ampersand project's installations, with their
//! connections, groups, consumers, provider apps and configs, as typed tables with the
//! full history of every change.
//!
//! The stages, in the order the data flows through them. Each imports only the stages
//! to its left and the plumbing; `commands`, which drives them, may import any (the
//! test in `layers.rs` fails on an import cycle between top-level modules):
//!
//! ```text
//! commands  sync · import · export · status · prune; exit codes   (cli: clap types)
//!    │
//!    ▼
//! api ──▶ bridge ──▶ snapshot ──▶ apply ──▶ run
//! fetch   payloads    rows kept    compare    lifecycle: lock, plan, apply,
//!         to rows,    in temp      and write  record (ledger: sync_runs,
//!         secrets     files,       with       rejected records, the snapshot's
//!         dropped     encoded,     history    fingerprint)
//!                     rejects
//!
//! api ──▶ operations   after a sync's snapshot: each installation's operations and
//!                      logs, within a request budget, with history and cursors
//! ```
//!
//! Plumbing, used by the stages and knowing none of the commands: `catalog` (the
//! tables), `scrub` (secrets out of text), `db`, `copy_in` (chunked COPY), `pgpass`,
//! `config`, `error`, `telemetry`, `progress`, `shutdown`, `input`, `output`,
//! `failpoints`.

// The stages.
pub mod api;
pub mod apply;
pub mod bridge;
pub mod commands;
pub mod operations;
pub mod run;
pub mod snapshot;

// The command line.
pub mod cli;

// Plumbing.
pub mod canonical;
pub mod catalog;
pub mod config;
pub mod copy_in;
pub mod db;
pub mod error;
#[cfg(feature = "failpoints")]
pub mod failpoints;
pub mod input;
pub mod output;
pub mod pgpass;
pub mod progress;
pub mod scrub;
pub mod shutdown;
pub mod telemetry;

#[cfg(test)]
mod layers;
