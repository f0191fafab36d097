//! What can go wrong talking to the API, as a caller needs to tell it apart.

use std::time::Duration;

use reqwest::StatusCode;

/// An API request that failed for good (after any retries). Messages name the project
/// and the endpoint and never carry the API key or a response body that is not a
/// problem document.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401/403: retrying will not help; the key needs fixing.
    #[error("the API key was rejected for project {project} ({status}{detail}); check AMPERSAND_API_KEY or AMPERSAND_API_KEY_FILE")]
    KeyRejected {
        project: String,
        status: StatusCode,
        detail: String,
    },

    /// 404: the project id or name is wrong, or the key belongs to another org.
    #[error("project {project} not found ({endpoint} answered {status}{detail}); check --project / AMPERSAND_PROJECT")]
    NotFound {
        project: String,
        endpoint: String,
        status: StatusCode,
        detail: String,
    },

    /// Any other error status: the problem document's title and detail, if any.
    #[error("{endpoint} for project {project} answered {status}{detail}{attempts}")]
    Status {
        project: String,
        endpoint: String,
        status: StatusCode,
        detail: String,
        attempts: Attempts,
    },

    /// The connection failed, timed out or broke off mid-body.
    #[error("could not read {endpoint} for project {project}: {reason}{attempts}")]
    Transport {
        project: String,
        endpoint: String,
        reason: String,
        attempts: Attempts,
    },

    /// A redirect to another origin: not followed, since the API key would go with it.
    #[error("{endpoint} for project {project} answered {status}, a redirect to {target}; ampsync follows redirects only within the API's own origin (scheme, host, port), so the API key never goes elsewhere. Check AMPERSAND_API_URL")]
    Redirect {
        project: String,
        endpoint: String,
        status: StatusCode,
        /// The redirect's origin only: its path and query may carry anything.
        target: String,
    },

    /// A body read whole grew past its cap (decoded): a misbehaving or hostile server.
    #[error("{endpoint} for project {project} sent a body larger than {limit} (decoded); reading stopped there. If the project really is that large, raise --max-body-size (AMPSYNC_MAX_BODY_SIZE)")]
    TooLarge {
        project: String,
        endpoint: String,
        limit: bytesize::ByteSize,
    },

    /// A complete response whose body is not the JSON the endpoint promises.
    #[error("{endpoint} for project {project} sent an unreadable body: {reason}")]
    Body {
        project: String,
        endpoint: String,
        reason: String,
    },
}

impl ApiError {
    /// The status the API answered with, when it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::KeyRejected { status, .. }
            | ApiError::NotFound { status, .. }
            | ApiError::Status { status, .. }
            | ApiError::Redirect { status, .. } => Some(*status),
            ApiError::Transport { .. } | ApiError::Body { .. } | ApiError::TooLarge { .. } => None,
        }
    }
}

/// How many attempts a request took and for how long, shown after a retried failure.
#[derive(Debug, Default, Clone, Copy)]
pub struct Attempts {
    pub count: u32,
    pub elapsed: Duration,
    /// The server's `Retry-After` that was not honoured because it ends past the budget.
    pub refused_wait: Option<Duration>,
    /// The retry budget (`--retry-budget`).
    pub budget: Duration,
}

impl std::fmt::Display for Attempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.count > 1 {
            write!(
                f,
                " (gave up after {} attempts in {:.1}s)",
                self.count,
                self.elapsed.as_secs_f64()
            )?;
        }
        if let Some(wait) = self.refused_wait {
            write!(
                f,
                " (the API asked to retry after {}s, past the retry budget of {}s; see --retry-budget)",
                wait.as_secs(),
                self.budget.as_secs()
            )?;
        }
        Ok(())
    }
}
