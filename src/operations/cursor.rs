//! Where the last complete read of an installation's operations got to, and when a
//! read may stop before the last page.
//!
//! The API documents no order for the operations list and no filter by time, so a read
//! goes to the last page (`done`) unless the responses themselves show that it need
//! not: every `createTime` read so far is no newer than the one before it, at least one
//! is strictly older (newest-first, shown, not assumed), and a whole page holds only
//! operations the cursor knows, down to one strictly older than the cursor's instant.
//! Then every later page is older still, and known. (Operations created at one
//! instant come in no documented order among themselves: a page of them alone, all
//! known, says nothing about the next page, which may hold a new one of that instant.)
//!
//! The cursor is the newest `createTime` a complete read saw plus the ids created at
//! that very time: an operation created at the cursor's time but not among those ids is
//! new (the boundary rows other tools lose by comparing with `>`). The state is bounded:
//! only the ids at one instant, at most [`MAX_NEWEST_IDS`]; past that the cursor knows
//! fewer of them, which only makes a later read go further, never skip.
//!
//! Operations that may still change (`in_progress`) are not "known" in that sense: an
//! installation that has one is read to the last page, and so is every
//! [`FULL_READ_EVERY`]th read of each installation, in case the API ever lists an
//! operation with a time older than the cursor's.

use chrono::{DateTime, Utc};

/// The most ids the cursor keeps at its instant.
pub const MAX_NEWEST_IDS: usize = 1_000;

/// Every this many reads of an installation, one goes to the last page regardless.
pub const FULL_READ_EVERY: i64 = 20;

/// Where the last complete read of one installation's operations got to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub newest: Option<DateTime<Utc>>,
    /// The ids created at `newest`, sorted.
    pub newest_ids: Vec<String>,
}

impl Cursor {
    /// Whether an operation created at `created` with `id` was seen by the read this
    /// cursor records: older than its newest time, or at that time and among its ids.
    pub fn knows(&self, id: &str, created: Option<DateTime<Utc>>) -> bool {
        match (self.newest, created) {
            (Some(newest), Some(created)) => {
                created < newest
                    || (created == newest
                        && self
                            .newest_ids
                            .binary_search_by(|k| k.as_str().cmp(id))
                            .is_ok())
            }
            _ => false,
        }
    }

    /// Whether `created` is strictly older than the cursor's instant.
    pub fn is_older(&self, created: Option<DateTime<Utc>>) -> bool {
        matches!((self.newest, created), (Some(newest), Some(created)) if created < newest)
    }

    /// The cursor after a complete read that saw `seen` (id, createTime).
    pub fn advanced<'a>(
        &self,
        seen: impl IntoIterator<Item = (&'a str, Option<DateTime<Utc>>)>,
    ) -> Cursor {
        let mut newest = self.newest;
        let mut ids: Vec<String> = Vec::new();
        let mut keep_old = true;
        for (id, created) in seen {
            let Some(created) = created else { continue };
            if newest.is_none_or(|n| created > n) {
                newest = Some(created);
                ids.clear();
                keep_old = false;
            }
            if Some(created) == newest {
                ids.push(id.to_owned());
            }
        }
        if keep_old {
            ids.extend(self.newest_ids.iter().cloned());
        }
        ids.sort();
        ids.dedup();
        ids.truncate(MAX_NEWEST_IDS);
        Cursor {
            newest,
            newest_ids: ids,
        }
    }
}

/// What the `createTime`s read so far, in response order, show about the list's order.
#[derive(Debug, Default)]
pub struct Order {
    last: Option<DateTime<Utc>>,
    descending: bool,
    /// A newer time after an older one, or an operation without a time.
    unordered: bool,
}

impl Order {
    pub fn see(&mut self, created: Option<DateTime<Utc>>) {
        let Some(created) = created else {
            self.unordered = true;
            return;
        };
        if let Some(last) = self.last {
            if created > last {
                self.unordered = true;
            } else if created < last {
                self.descending = true;
            }
        }
        self.last = Some(created);
    }

    /// Whether the responses have shown newest-first order (and nothing else).
    pub fn newest_first(&self) -> bool {
        self.descending && !self.unordered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> Option<DateTime<Utc>> {
        Some(
            DateTime::parse_from_rfc3339(&format!("2026-11-01T10:{minute:02}:00Z"))
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn an_operation_at_the_cursors_time_with_a_new_id_is_not_known() {
        let cursor = Cursor::default().advanced([("a", at(5)), ("b", at(5)), ("c", at(3))]);
        assert_eq!(cursor.newest, at(5));
        assert_eq!(cursor.newest_ids, ["a", "b"]);
        assert!(cursor.knows("a", at(5)));
        assert!(cursor.knows("z", at(4)));
        assert!(!cursor.knows("d", at(5)), "same time, new id");
        assert!(!cursor.knows("e", at(6)));
        assert!(!cursor.knows("f", None));
        // A later read at the same instant adds its ids; a newer instant replaces them.
        let same = cursor.advanced([("d", at(5)), ("c", at(3))]);
        assert_eq!(same.newest_ids, ["a", "b", "d"]);
        let newer = same.advanced([("e", at(6))]);
        assert_eq!(newer.newest_ids, ["e"]);
    }

    #[test]
    fn the_cursor_keeps_at_most_its_bound_of_ids() {
        let ids: Vec<String> = (0..MAX_NEWEST_IDS + 50)
            .map(|i| format!("op-{i:05}"))
            .collect();
        let cursor = Cursor::default().advanced(ids.iter().map(|id| (id.as_str(), at(1))));
        assert_eq!(cursor.newest_ids.len(), MAX_NEWEST_IDS);
    }

    #[test]
    fn only_times_that_never_rise_and_do_fall_show_newest_first() {
        let mut order = Order::default();
        order.see(at(5));
        order.see(at(5));
        assert!(!order.newest_first(), "equal times show no order");
        order.see(at(4));
        assert!(order.newest_first());
        order.see(at(6));
        assert!(!order.newest_first());
        let mut missing = Order::default();
        missing.see(at(5));
        missing.see(None);
        missing.see(at(4));
        assert!(!missing.newest_first());
    }
}
