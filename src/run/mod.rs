//! A run of one project, from its lock to its record. [`lifecycle`] drives it, the same
//! for `sync` and `import`, dry runs included: lock, record the start, read the last
//! snapshot's fingerprint, plan and apply in one transaction, record the outcome and
//! the new fingerprint, release. [`ledger`] is every read and write of the run tables
//! (`sync_runs`, `rejected_records`, `project_retention`) and the project's lock.

pub mod ledger;
pub mod lifecycle;
