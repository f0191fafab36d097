//! The failpoints of the crash matrix (README, Failure modes; `tests/api/crash.rs`):
//! places at the boundaries of a run where a test build stops ampsync on the spot.
//! Compiled in only by the `failpoints` feature; in any other build `fail::fail_point!`
//! expands to nothing and this module does not exist.
//!
//! The environment variable `FAILPOINTS` sets them (`fail::FailScenario`, in `main`):
//! `FAILPOINTS=before-commit=panic` panics there (the unwinding drops the connection, as
//! a bug would), `FAILPOINTS=before-commit=return` exits the process there with
//! [`EXIT`] (`return(9)`: with 9), running no destructor, as `kill -9` would.
//!
//! | point | where the run is |
//! |---|---|
//! | `after-fetch` | the snapshot is read (from the API or the files); nothing of it written |
//! | `mid-copy` | inside the COPY of the rows to write: its data sent, the COPY not finished |
//! | `after-staging` | the rows of a table staged, its current and history rows not yet written |
//! | `before-commit` | everything written and the run marked succeeded, not committed |
//! | `after-commit` | committed (data and the run's `succeeded` mark are one transaction); the lock not yet released, nothing reported |

/// The exit code of a failpoint's `return` that gives none.
pub const EXIT: i32 = 99;

/// A failpoint's `return`: ends the process at once, with the code it gives or [`EXIT`].
pub fn exit(code: Option<String>) -> ! {
    let code = code.and_then(|c| c.parse().ok()).unwrap_or(EXIT);
    std::process::exit(code)
}
