//! The source objects a snapshot could not read, kept out of memory as its rows are
//! (see `store`): a response whose every record fails (an API change to a required
//! field's type does exactly that) must cost no more memory than a good one.
//!
//! Every rejected record keeps its source, position and reason, one line each in a
//! temporary file, and the count stays exact. Only the first records of a run keep
//! their payload: [`PAYLOADS`] of them, by source and then position, or fewer once
//! their JSON reaches [`PAYLOAD_BYTES`]; the rest are stored without it, and the run's
//! row says how many (`sync_runs.rejected_without_payload`). A few examples are what a
//! person reporting the problem needs; 100,000 copies of the same failure would only
//! fill the database (0.2.0 held them all in memory and failed past 256 MB).
//!
//! Each thread reading installations keeps its own [`Rejects`] and, since it meets its
//! records in order, keeps payloads for its own first records only, up to the same
//! caps. The run's first records are among those, so [`AllRejects`] chooses them
//! exactly, whatever the number of threads.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::snapshot::spill::{Lines, Spill};

/// Rejected records of a run that keep their payload, at most.
pub const PAYLOADS: usize = 1_000;
/// Payload JSON a run keeps, at most: payloads stop at the first that would pass it.
pub const PAYLOAD_BYTES: u64 = 16 << 20;
/// Rejected records logged one by one (WARN `record rejected`); one line counts them all.
pub const LOGGED: usize = 5;

/// Where a record came from and its index there: the order of "first".
type Key = (&'static str, u64);

/// A rejected record as the log shows it.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Which response it came from: `installations`, `integrations`, `connections` or
    /// `provider_apps`.
    pub source: &'static str,
    /// Its index in that response's array.
    pub position: u64,
    /// Why it could not be read, cleaned of secrets.
    pub reason: String,
}

/// A payload one thread kept, for the run to choose from.
struct Candidate {
    key: Key,
    /// Which of the thread's records it is, from 0.
    record: u64,
    /// Where its COPY text is in `Rejects::payloads`, and how long.
    offset: u64,
    len: u64,
    /// Its JSON text's size, which the byte cap counts.
    bytes: u64,
}

/// The records one thread rejected.
#[derive(Default)]
pub struct Rejects {
    count: u64,
    /// One COPY text line per record: source, position, reason.
    lines: Spill,
    /// The candidates' payloads as COPY text, back to back.
    payloads: Spill,
    candidates: Vec<Candidate>,
    candidate_bytes: u64,
    /// The first record whose payload did not fit within this thread's caps, with its
    /// JSON size: the run's choice stops there at the latest.
    stopped: Option<(Key, u64)>,
    /// The first [`LOGGED`] records.
    first: Vec<Rejected>,
    /// The first failure to write the temporary files; the run fails with it.
    pub failure: Option<String>,
    line: Vec<u8>,
}

impl Rejects {
    /// Bytes of its temporary files.
    pub fn temp_bytes(&self) -> u64 {
        self.lines.len() + self.payloads.len()
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Keeps a record aside. `reason` must be clean already; `payload` is scrubbed here
    /// if it is kept, and dropped otherwise.
    pub fn push(&mut self, source: &'static str, position: u64, reason: String, payload: Value) {
        if !self.push_line(source, position, reason) {
            return;
        }
        self.keep_payload((source, position), self.count - 1, payload);
    }

    /// Keeps aside a record whose payload is gone: one found unstorable only once its
    /// rows met the database (see `apply`). It never keeps a payload, and so takes no
    /// place among the payloads the run keeps.
    pub fn push_without_payload(&mut self, source: &'static str, position: u64, reason: String) {
        self.push_line(source, position, reason);
    }

    /// Counts the record and writes its line; false when the files have failed.
    fn push_line(&mut self, source: &'static str, position: u64, reason: String) -> bool {
        self.count += 1;
        if self.failure.is_some() {
            return false;
        }
        self.line.clear();
        self.line.extend_from_slice(source.as_bytes());
        self.line.push(b'\t');
        self.line.extend_from_slice(position.to_string().as_bytes());
        self.line.push(b'\t');
        crate::snapshot::copy_text::escape_into(&mut self.line, reason.as_bytes());
        self.line.push(b'\n');
        if let Err(e) = self.lines.append(&[&self.line]) {
            self.failure = Some(format!("writing rejected records to a temporary file: {e}"));
            return false;
        }
        if self.first.len() < LOGGED {
            self.first.push(Rejected {
                source,
                position,
                reason,
            });
        }
        true
    }

    /// Keeps `payload` of record number `record` (from 0) as a candidate, within the caps.
    fn keep_payload(&mut self, key: Key, record: u64, payload: Value) {
        if self.stopped.is_some() {
            return;
        }
        if self.candidates.len() >= PAYLOADS {
            // The run stops counting before this one: its size does not matter.
            self.stopped = Some((key, 0));
            return;
        }
        let json = match serde_json::to_vec(&crate::scrub::scrubbed(payload)) {
            Ok(json) => json,
            Err(e) => {
                self.failure = Some(format!("writing a rejected record's payload: {e}"));
                return;
            }
        };
        let bytes = json.len() as u64;
        if self.candidate_bytes + bytes > PAYLOAD_BYTES {
            self.stopped = Some((key, bytes));
            return;
        }
        self.line.clear();
        crate::snapshot::copy_text::escape_into(&mut self.line, &json);
        let offset = self.payloads.len();
        if let Err(e) = self.payloads.append(&[&self.line]) {
            self.failure = Some(format!("writing rejected records to a temporary file: {e}"));
            return;
        }
        self.candidates.push(Candidate {
            key,
            record,
            offset,
            len: self.line.len() as u64,
            bytes,
        });
        self.candidate_bytes += bytes;
    }
}

/// A snapshot's rejected records, every thread's, with the payloads the run keeps.
pub struct AllRejects<'a> {
    parts: Vec<&'a Rejects>,
    /// Per part, the candidates kept (indexes into its `candidates`), in record order.
    kept: Vec<Vec<usize>>,
}

impl<'a> AllRejects<'a> {
    /// Chooses the run's first records (see the module docs) from what each part kept.
    pub fn new(parts: impl IntoIterator<Item = &'a Rejects>) -> Self {
        let parts: Vec<&Rejects> = parts.into_iter().collect();
        // Every candidate and every part's stop, in order; the walk keeps candidates
        // while they fit and stops at the first that does not, or at a part's stop (a
        // record that did not fit its own part's caps cannot fit the run's).
        struct Step {
            key: Key,
            /// Part and candidate; none for a part's stop.
            candidate: Option<(usize, usize)>,
            bytes: u64,
        }
        let mut walk = Vec::new();
        for (p, part) in parts.iter().enumerate() {
            for (i, c) in part.candidates.iter().enumerate() {
                walk.push(Step {
                    key: c.key,
                    candidate: Some((p, i)),
                    bytes: c.bytes,
                });
            }
            if let Some((key, bytes)) = part.stopped {
                walk.push(Step {
                    key,
                    candidate: None,
                    bytes,
                });
            }
        }
        walk.sort_by_key(|step| step.key);
        let mut kept = vec![Vec::new(); parts.len()];
        let (mut count, mut bytes) = (0, 0);
        for step in walk {
            let (Some((p, i)), size) = (step.candidate, step.bytes) else {
                break;
            };
            if count >= PAYLOADS || bytes + size > PAYLOAD_BYTES {
                break;
            }
            kept[p].push(i);
            count += 1;
            bytes += size;
        }
        for (p, list) in kept.iter_mut().enumerate() {
            list.sort_by_key(|&i| parts[p].candidates[i].record);
        }
        AllRejects { parts, kept }
    }

    /// Every rejected record: the exact count.
    pub fn count(&self) -> u64 {
        self.parts.iter().map(|p| p.count).sum()
    }

    /// Records stored without their payload.
    pub fn without_payload(&self) -> u64 {
        self.count() - self.kept.iter().map(|k| k.len() as u64).sum::<u64>()
    }

    /// The first `n` records, by source and position.
    pub fn first(&self, n: usize) -> Vec<&Rejected> {
        let mut first: Vec<&Rejected> = self.parts.iter().flat_map(|p| &p.first).collect();
        first.sort_by_key(|r| (r.source, r.position));
        first.truncate(n);
        first
    }

    /// The records as COPY text for `rejected_records` (see `sql/runs/copy_rejected.sql`),
    /// written into buffers by [`CopyText::fill`].
    pub fn copy_text(&self, run_id: i64) -> CopyText<'_> {
        CopyText {
            all: self,
            run: format!("{run_id}\t"),
            part: 0,
            lines: self.parts.first().map(|p| Lines::new(&p.lines)),
            record: 0,
            next_kept: 0,
        }
    }
}

/// Reads the rejected records back as COPY lines, a buffer at a time.
pub struct CopyText<'a> {
    all: &'a AllRejects<'a>,
    run: String,
    part: usize,
    lines: Option<Lines<'a>>,
    /// The current part's next record, from 0.
    record: u64,
    /// The current part's next kept payload (an index into its `kept`).
    next_kept: usize,
}

impl CopyText<'_> {
    /// Appends lines to `out` until it holds `limit` bytes or the records end; false once
    /// there is nothing left to append.
    pub fn fill(&mut self, out: &mut Vec<u8>, limit: usize) -> std::io::Result<bool> {
        let start = out.len();
        while out.len() < limit {
            let Some(lines) = &mut self.lines else { break };
            let Some(line) = lines.next_line()? else {
                self.part += 1;
                self.record = 0;
                self.next_kept = 0;
                self.lines = self.all.parts.get(self.part).map(|p| Lines::new(&p.lines));
                continue;
            };
            out.extend_from_slice(self.run.as_bytes());
            out.extend_from_slice(line);
            out.push(b'\t');
            let part = self.all.parts[self.part];
            let kept = self.all.kept[self.part]
                .get(self.next_kept)
                .map(|&i| &part.candidates[i])
                .filter(|c| c.record == self.record);
            match kept {
                Some(c) => {
                    let at = out.len();
                    out.resize(at + c.len as usize, 0);
                    part.payloads.read_at(c.offset, &mut out[at..])?;
                    self.next_kept += 1;
                }
                None => out.extend_from_slice(b"\\N"),
            }
            out.push(b'\n');
            self.record += 1;
        }
        Ok(out.len() > start)
    }
}

/// Counts installations that carry another project's id, per id: a few ids, each cut
/// short, so a response of a million different ids costs no more than one.
#[derive(Debug, Default, Clone)]
pub struct OtherProjects {
    /// Installations that named another project.
    pub count: u64,
    /// The first ids met, with their counts.
    pub ids: BTreeMap<String, u64>,
}

impl OtherProjects {
    /// Ids counted by name, at most; the others are only in `count`.
    const IDS: usize = 16;
    /// Characters of an id kept (a projectId could be megabytes of anything).
    const ID_CHARS: usize = 64;

    pub fn add(&mut self, id: &str) {
        self.count += 1;
        let id: String = if id.chars().count() > Self::ID_CHARS {
            id.chars().take(Self::ID_CHARS).chain(['…']).collect()
        } else {
            id.to_owned()
        };
        if let Some(n) = self.ids.get_mut(&id) {
            *n += 1;
        } else if self.ids.len() < Self::IDS {
            self.ids.insert(id, 1);
        }
    }

    pub fn merge(&mut self, other: &OtherProjects) {
        self.count += other.count;
        for (id, n) in &other.ids {
            if let Some(mine) = self.ids.get_mut(id) {
                *mine += n;
            } else if self.ids.len() < Self::IDS {
                self.ids.insert(id.clone(), *n);
            }
        }
    }

    /// The most frequent ids, most frequent first, each scrubbed (a projectId is text
    /// the API sent, and may hold anything).
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut ids: Vec<(String, u64)> = self
            .ids
            .iter()
            .map(|(id, n)| (crate::scrub::scrub_text(id), *n))
            .collect();
        ids.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ids.truncate(n);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn copy_lines(all: &AllRejects) -> Vec<String> {
        let (mut text, mut chunk) = (Vec::new(), Vec::new());
        let mut copy = all.copy_text(7);
        while copy.fill(&mut chunk, 100).unwrap() {
            text.append(&mut chunk);
        }
        String::from_utf8(text)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_record_rejected_without_its_payload_is_counted_and_takes_no_payloads_place() {
        let (mut read, mut late) = (Rejects::default(), Rejects::default());
        read.push("connections", 1, "bad".into(), json!({"id": 1}));
        read.push("connections", 5, "bad".into(), json!({"id": 5}));
        late.push_without_payload("connections", 3, "held by another project".into());
        let all = AllRejects::new([&read, &late]);

        assert_eq!((all.count(), all.without_payload()), (3, 1));
        let lines = copy_lines(&all);
        assert!(
            lines
                .iter()
                .any(|l| l == "7\tconnections\t3\theld by another project\t\\N"),
            "{lines:?}"
        );
        assert_eq!(
            lines.iter().filter(|l| l.ends_with('}')).count(),
            2,
            "{lines:?}"
        );
    }

    #[test]
    fn the_runs_first_records_keep_their_payloads_however_the_threads_split_them() {
        // Two threads, served batches in turn; together 2,500 records.
        let (mut a, mut b) = (Rejects::default(), Rejects::default());
        for position in 0..2_500u64 {
            let part = if (position / 256) % 2 == 0 {
                &mut a
            } else {
                &mut b
            };
            part.push(
                "installations",
                position,
                format!("bad\t{position}"),
                json!({"id": position, "accessToken": "secret-token-value"}),
            );
        }
        let all = AllRejects::new([&a, &b]);

        assert_eq!(all.count(), 2_500);
        assert_eq!(all.without_payload(), 1_500);
        let lines = copy_lines(&all);
        assert_eq!(lines.len(), 2_500);
        let mut with_payload: Vec<u64> = lines
            .iter()
            .filter(|l| !l.ends_with("\\N"))
            .map(|l| l.split('\t').nth(2).unwrap().parse().unwrap())
            .collect();
        with_payload.sort();
        assert_eq!(with_payload, (0..1_000).collect::<Vec<_>>());
        assert!(
            lines[3].starts_with("7\tinstallations\t3\tbad\\t3\t{"),
            "{}",
            lines[3]
        );
        assert!(!lines.concat().contains("secret-token-value"));
        let first: Vec<u64> = all.first(LOGGED).iter().map(|r| r.position).collect();
        assert_eq!(first, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn payloads_stop_at_the_first_that_would_pass_the_byte_cap() {
        let big = "x".repeat((PAYLOAD_BYTES / 3) as usize);
        let mut rejects = Rejects::default();
        for position in 0..5 {
            rejects.push(
                "installations",
                position,
                "bad".into(),
                json!({ "big": big }),
            );
        }
        rejects.push("integrations", 0, "bad".into(), json!({}));
        let all = AllRejects::new([&rejects]);

        assert_eq!((all.count(), all.without_payload()), (6, 4));
        let lines = copy_lines(&all);
        let kept: Vec<bool> = lines.iter().map(|l| !l.ends_with("\\N")).collect();
        assert_eq!(kept, [true, true, false, false, false, false]);
    }

    #[test]
    fn other_projects_are_counted_by_a_few_short_ids() {
        let mut others = OtherProjects::default();
        for i in 0..100 {
            others.add(&format!("proj-{}", i % 20));
        }
        others.add(&"p".repeat(1000));
        let mut total = OtherProjects::default();
        total.merge(&others);

        assert_eq!(total.count, 101);
        assert!(total.ids.len() <= OtherProjects::IDS);
        let top = total.top(3);
        assert_eq!(top[0], ("proj-0".to_owned(), 5));
        assert!(total.ids.keys().all(|id| id.chars().count() <= 65));
    }
}
