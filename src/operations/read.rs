//! Reads one installation's operations, page by page, within the run's request budget.
//!
//! Duplicates are dropped by id within the read: a list that shifts while it is paged
//! (an operation created between two requests) repeats the row at the page boundary.
//! That state is the ids of this one read, dropped with it; across runs only the
//! cursor remains (see `cursor`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use reqwest::StatusCode;

use super::cursor::{Cursor, Order, FULL_READ_EVERY};
use super::record::{self, OperationRow, Rejected};
use crate::api::{ApiClient, ApiError, OperationsOf};

/// Operations asked for per page: the API's most, so an installation with fewer than
/// 1,000 operations costs one request.
pub const PAGE_SIZE: u32 = 1_000;

/// Pages read at most for one installation in one run: a list that never says `done`
/// (a token that cycles) ends here.
const MAX_PAGES: u32 = 10_000;

/// The requests a run may still send.
#[derive(Debug)]
pub struct Budget {
    left: AtomicU64,
    sent: AtomicU64,
}

impl Budget {
    pub fn new(requests: u64) -> Budget {
        Budget {
            left: AtomicU64::new(requests),
            sent: AtomicU64::new(0),
        }
    }

    /// Takes one request from the budget; false when none is left.
    pub fn take(&self) -> bool {
        let taken = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if taken {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    pub fn left(&self) -> u64 {
        self.left.load(Ordering::Relaxed)
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// An installation to read, and what the database knows about it.
#[derive(Debug, Clone)]
pub struct Target {
    pub installation: String,
    pub integration: String,
    pub cursor: Cursor,
    /// It has operations stored as `in_progress`: read to the last page.
    pub has_open: bool,
    /// Complete reads so far.
    pub reads: i64,
}

/// How a read ended.
#[derive(Debug)]
pub enum End {
    /// Read to the last page, or to a page the cursor shows is past the new ones.
    Complete(Cursor),
    /// The budget ran out before the last page (or before the first): the cursor stays.
    OutOfBudget,
    /// The run stopped reading (the API was refusing): not attempted.
    Stopped,
    /// The API answered with an error, after the retries the policy allows.
    Failed {
        message: String,
        /// 429 or 5xx after the retries, the connection, or the key refused: asking
        /// about more installations would fail the same way.
        stop_asking: bool,
    },
}

/// One installation's read: the rows and rejected elements it got, whatever its end.
#[derive(Debug)]
pub struct Read {
    pub target: Target,
    pub rows: Vec<OperationRow>,
    pub rejected: Vec<Rejected>,
    pub end: End,
}

/// What every read of a run shares.
pub struct Reader<'a> {
    pub api: &'a ApiClient,
    pub project: &'a str,
    pub budget: &'a Budget,
    /// Set when the API refuses: reads not yet begun do not begin.
    pub stop: &'a AtomicBool,
    pub keep_record_ids: bool,
}

impl Reader<'_> {
    /// Reads `target`'s operations.
    pub async fn read(&self, target: Target) -> Read {
        let mut read = Read {
            target,
            rows: Vec::new(),
            rejected: Vec::new(),
            end: End::OutOfBudget,
        };
        if self.stop.load(Ordering::Relaxed) {
            read.end = End::Stopped;
            return read;
        }
        let may_stop_early = !read.target.has_open
            && read.target.cursor.newest.is_some()
            && (read.target.reads + 1) % FULL_READ_EVERY != 0;
        let of = OperationsOf {
            integration: &read.target.integration,
            installation: &read.target.installation,
        };
        let mut seen_ids: HashSet<String> = HashSet::new();
        let mut tokens: HashSet<String> = HashSet::new();
        let mut order = Order::default();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            if !self.budget.take() {
                read.end = End::OutOfBudget;
                return read;
            }
            let page = match self
                .api
                .operations_page(self.project, &of, PAGE_SIZE, token.as_deref())
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    read.end = failed(&e);
                    if matches!(
                        read.end,
                        End::Failed {
                            stop_asking: true,
                            ..
                        }
                    ) {
                        self.stop.store(true, Ordering::Relaxed);
                    }
                    return read;
                }
            };
            let mut all_known = !page.results.is_empty();
            // Past the cursor's instant: operations at that very instant may come in any
            // order among themselves, so a page of them alone proves nothing about the next.
            let mut passed_newest = false;
            for element in page.results {
                match record::operation(self.project, element, self.keep_record_ids) {
                    Ok(row) => {
                        order.see(row.created);
                        all_known &= read.target.cursor.knows(&row.id, row.created);
                        passed_newest |= read.target.cursor.is_older(row.created);
                        if seen_ids.insert(row.id.clone()) {
                            read.rows.push(row);
                        }
                    }
                    Err(rejected) => {
                        all_known = false;
                        read.rejected.push(rejected);
                    }
                }
            }
            let next = page.pagination.next_page_token.filter(|t| !t.is_empty());
            let early = may_stop_early && all_known && passed_newest && order.newest_first();
            if page.pagination.done || early {
                break;
            }
            match next {
                Some(next) if tokens.insert(next.clone()) => token = Some(next),
                Some(_) => {
                    read.end = End::Failed {
                        message: "the operations list gave a page token it had given before (it would never end)".into(),
                        stop_asking: false,
                    };
                    return read;
                }
                None => {
                    read.end = End::Failed {
                        message:
                            "the operations list said it was not done but gave no nextPageToken"
                                .into(),
                        stop_asking: false,
                    };
                    return read;
                }
            }
        }
        let cursor = read
            .target
            .cursor
            .advanced(read.rows.iter().map(|r| (r.id.as_str(), r.created)));
        read.end = End::Complete(cursor);
        read
    }
}

/// The end of a read whose request failed: why, scrubbed (the error's message names
/// the endpoint and the project, never the key).
fn failed(error: &ApiError) -> End {
    let stop_asking = match error {
        ApiError::Status { status, .. } => {
            *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
        }
        ApiError::Transport { .. } | ApiError::KeyRejected { .. } => true,
        _ => false,
    };
    let message = match error {
        // Its own message is about a wrong project, which this is not.
        ApiError::NotFound {
            endpoint,
            status,
            detail,
            ..
        } => format!(
            "{endpoint} answered {status}{detail}: the installation is gone (deleted after the installations were read, or not listable)"
        ),
        other => other.to_string(),
    };
    End::Failed {
        message: crate::scrub::scrub_text(&message),
        stop_asking,
    }
}
