//! The Ampersand API: its payloads ([`model`]) and a client that fetches one project
//! ([`client`]) with timeouts, retries and errors a person can act on ([`error`]).

pub mod client;
pub mod error;
pub mod model;
pub mod stream;

pub use client::{ApiClient, ApiSettings, Limits, Listed, RetryPolicy};
pub use error::ApiError;
