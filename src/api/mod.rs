//! The Ampersand API: its payloads ([`model`]) and a client that fetches one project
//! ([`client`]) with timeouts, retries ([`retry`]) and errors a person can act on
//! ([`error`]), reading arrays as they stream in ([`stream`]).

pub mod client;
pub mod error;
pub mod model;
pub mod retry;
pub mod stream;

pub use client::{ApiClient, ApiSettings, Limits, Listed, OperationsOf, OperationsPage};
pub use error::ApiError;
pub use retry::RetryPolicy;
