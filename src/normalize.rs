//! One snapshot (a project, its integrations, its installations) read into rows of all
//! eight tables, through the pure mappings of `bridge`, and kept in temporary files. Objects many installations share (a connection, group, consumer or
//! provider app) arrive once per installation that uses them; the snapshot is the set
//! of their keys. When two copies of one key disagree, the one with the later
//! `updateTime` wins, then the one with the greater row hash, so the result never
//! depends on the order of the response.
//!
//! Secrets are dropped by `bridge`; a record that cannot be read is rejected here with
//! its payload scrubbed and its reason cleaned, so nothing downstream can leak them.
//!
//! # Flat memory
//!
//! A large project answers with hundreds of MB; the snapshot does not hold its rows in
//! memory. Each row is encoded as it is made (its hashes and its COPY text, see
//! [`Encoder`]) and appended to a temporary file, with one line in a second file, the
//! index: table, key, hashes, `updateTime` and where the row is. `apply` loads the
//! index (small: about 100 bytes a row) into a temporary table, lets Postgres pick the
//! winner of each key and compare it with what is stored, and then reads back only
//! the rows that must be written. Memory holds one installation at a time, the file
//! buffers, and a bounded cache of recent shared objects ([`Recent`]) that keeps exact
//! repeats (the same group in every installation of a customer) out of the files.
//!
//! Installation elements are read straight from their JSON text into the API types;
//! only an element that cannot be read that way (or holds `\u0000`) goes through a
//! `serde_json::Value`, to be checked and kept as a rejected record.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::api::model;
use crate::api::stream::ElementSink;
use crate::bridge;
use crate::rows::{Encoder, Hash, Key, Row, Table};
use crate::spill::Spill;

/// Why an object holding `\u0000` is rejected: PostgreSQL text and jsonb cannot hold it,
/// so storing it would fail the whole run, every run.
const NUL: &str = "holds a NUL character (\\u0000), which PostgreSQL cannot store";

/// A source object that could not be read.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Which response it came from: `installations` or `integrations`.
    pub source: &'static str,
    /// Its index in that response's array.
    pub position: u64,
    pub reason: String,
    /// The object, scrubbed of secrets.
    pub payload: Value,
}

/// Rows of one project snapshot, kept in temporary files as they are made (see the
/// module docs): memory stays flat however large the project.
pub struct Snapshot {
    pub project_id: String,
    /// Tables whose every row of the project is in this snapshot; only these may have
    /// rows soft-deleted. (`import` without an integrations file does not cover
    /// `integrations`, say.)
    covered: BTreeSet<Table>,
    pub rejected: Vec<Rejected>,
    /// Part 0 is filled on the caller's thread; the others by the workers that read the
    /// installations stream, once it has ended.
    parts: Vec<Part>,
    workers: Option<Workers>,
}

/// Where in a part's row file a row is: the part's number in the top bits.
const PART_SHIFT: u32 = 40;

impl Snapshot {
    pub fn new(project_id: impl Into<String>) -> Self {
        let project_id = project_id.into();
        Snapshot {
            parts: vec![Part::new(0, project_id.clone())],
            project_id,
            covered: BTreeSet::new(),
            rejected: Vec::new(),
            workers: None,
        }
    }

    pub fn covers(&self, table: Table) -> bool {
        self.covered.contains(&table)
    }

    /// Row copies of `table` the snapshot holds (a key may have several).
    pub fn copies(&self, table: Table) -> u64 {
        self.parts
            .iter()
            .map(|p| p.copies.get(&table).copied().unwrap_or(0))
            .sum()
    }

    /// The index, in the COPY text format of `pg_temp.ampsync_snapshot`, in pieces.
    pub fn index(&self) -> impl Iterator<Item = &Spill> {
        self.parts.iter().map(|p| &p.index)
    }

    /// The column names of `table`'s COPY lines, if the snapshot has rows of it.
    pub fn columns(&self, table: Table) -> Option<&[&'static str]> {
        self.parts
            .iter()
            .find_map(|p| p.columns.get(&table))
            .map(Vec::as_slice)
    }

    /// Appends the COPY line stored at `pos` (as the index gives it) to `out`.
    pub fn read_row(&self, pos: u64, len: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        let part = self
            .parts
            .iter()
            .find(|p| p.number == pos >> PART_SHIFT)
            .ok_or_else(|| std::io::Error::other("the index names a part the snapshot lacks"))?;
        let start = out.len();
        out.resize(start + len, 0);
        part.rows
            .read_at(pos & ((1 << PART_SHIFT) - 1), &mut out[start..])
    }

    /// A fingerprint of the snapshot's rows (every copy's table, key, hashes and
    /// updateTime), of the tables it covers and of `scope`, the group of a group sync.
    /// Two runs of the same input get the same digest; then the second can change
    /// nothing the first did not (see `apply::plan`). Computed by the same release on
    /// the same number of cores, which decide how rows are split into parts.
    pub fn digest(&self, scope: Option<&str>) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(concat!("ampsync ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
        for text in [self.project_id.as_str(), scope.unwrap_or("\u{1f}all")] {
            hasher.update(text.as_bytes());
            hasher.update(b"\n");
        }
        for table in &self.covered {
            hasher.update(table.name().as_bytes());
            hasher.update(b",");
        }
        let mut parts: Vec<&Part> = self.parts.iter().collect();
        parts.sort_by_key(|p| p.number);
        for part in parts {
            hasher.update(part.digest.finalize().as_bytes());
        }
        hasher.finalize().to_hex().to_string()
    }

    /// Whether every row was stored; if not, why.
    pub fn stored(&self) -> Result<(), String> {
        match self.parts.iter().find_map(|p| p.failure.as_ref()) {
            None => Ok(()),
            Some(reason) => Err(reason.clone()),
        }
    }

    /// Marks the tables an installations response fills completely.
    pub fn cover_installations(&mut self) {
        self.covered
            .extend(Table::covered_by(crate::catalog::Coverage::Installations));
    }

    pub fn add_project(&mut self, project: model::Project) {
        self.covered.insert(Table::Projects);
        self.parts[0].add_project(project);
    }

    /// Adds the integrations response; elements that cannot be read are rejected.
    pub fn add_integrations(&mut self, integrations: Vec<Value>) {
        self.covered.insert(Table::Integrations);
        self.parts[0].add_integrations(integrations);
        self.rejected.append(&mut self.parts[0].rejected);
    }

    /// Adds one element of the installations response, as its JSON text, on this
    /// thread; an element that cannot be read, or that belongs to another project, is
    /// rejected. An error means the text is not JSON at all.
    pub fn add_installation_json(
        &mut self,
        position: u64,
        json: &[u8],
    ) -> Result<(), serde_json::Error> {
        let added = self.parts[0].add_installation_json(position, json);
        self.rejected.append(&mut self.parts[0].rejected);
        added
    }
}

/// Rows stored by one thread: its own files, encoder and cache.
struct Part {
    /// Its place among the snapshot's parts, as row positions carry it.
    number: u64,
    project_id: String,
    /// Every row copy, as its COPY line (see [`Encoder`]), back to back.
    rows: Spill,
    /// One COPY line per row copy for `pg_temp.ampsync_snapshot`: table, key, hashes,
    /// updateTime, and where the row is (part and offset in `rows`).
    index: Spill,
    /// Row copies in `index`, per table.
    copies: BTreeMap<Table, u64>,
    /// The columns of each table's COPY lines, in order.
    columns: BTreeMap<Table, Vec<&'static str>>,
    recent: Recent,
    encoder: Encoder,
    line: Vec<u8>,
    rejected: Vec<Rejected>,
    /// The first failure to encode or store a row; the run fails with it.
    failure: Option<String>,
    /// The first element that was not JSON, and why.
    invalid: Option<(u64, String)>,
    /// Hash of the part's index lines (without where the rows are), in order.
    digest: blake3::Hasher,
}

impl Part {
    fn new(number: u64, project_id: String) -> Self {
        Part {
            number,
            project_id,
            rows: Spill::new(),
            index: Spill::new(),
            copies: BTreeMap::new(),
            columns: BTreeMap::new(),
            recent: Recent::default(),
            encoder: Encoder::default(),
            line: Vec::new(),
            rejected: Vec::new(),
            failure: None,
            invalid: None,
            digest: blake3::Hasher::new(),
        }
    }

    fn add_project(&mut self, project: model::Project) {
        self.insert(&bridge::project(project));
    }

    fn add_integrations(&mut self, integrations: Vec<Value>) {
        for (position, mut value) in integrations.into_iter().enumerate() {
            if crate::scrub::replace_nul(&mut value) {
                self.reject("integrations", position as u64, NUL.into(), value);
                continue;
            }
            match model::Integration::deserialize(&value) {
                Ok(integration) => self.add_integration(integration),
                Err(e) => self.reject("integrations", position as u64, e.to_string(), value),
            }
        }
    }

    fn add_integration(&mut self, integration: model::Integration) {
        self.insert(&bridge::integration(&self.project_id, integration));
    }

    fn add_installation_json(
        &mut self,
        position: u64,
        json: &[u8],
    ) -> Result<(), serde_json::Error> {
        if memchr::memmem::find(json, b"\\u0000").is_none() {
            match serde_json::from_slice::<model::Installation>(json) {
                Ok(inst)
                    if inst
                        .project_id
                        .as_deref()
                        .is_none_or(|p| p == self.project_id) =>
                {
                    self.add_installation(inst);
                    return Ok(());
                }
                // Another project's, or not an installation: rejected below, from a Value.
                Ok(_) => {}
                Err(e) if e.is_data() => {}
                Err(e) => return Err(e),
            }
        }
        self.add_installation_value(position, serde_json::from_slice(json)?);
        Ok(())
    }

    /// As [`Snapshot::add_installation_json`], from a parsed element.
    fn add_installation_value(&mut self, position: u64, mut value: Value) {
        if crate::scrub::replace_nul(&mut value) {
            return self.reject("installations", position, NUL.into(), value);
        }
        let parsed = model::Installation::deserialize(&value);
        match parsed {
            Ok(inst) => match inst.project_id.as_deref() {
                Some(other) if other != self.project_id => {
                    let reason = format!("belongs to project {other}, not {}", self.project_id);
                    self.reject("installations", position, reason, value);
                }
                _ => self.add_installation(inst),
            },
            Err(e) => self.reject("installations", position, e.to_string(), value),
        }
    }

    fn add_installation(&mut self, inst: model::Installation) {
        let rows = bridge::installation(&self.project_id, inst);
        for group in &rows.groups {
            self.insert(group);
        }
        if let Some(consumer) = &rows.consumer {
            self.insert(consumer);
        }
        if let Some(app) = &rows.provider_app {
            self.insert(app);
        }
        if let Some(connection) = &rows.connection {
            self.insert(connection);
        }
        if let Some(config) = &rows.config {
            self.insert(config);
        }
        self.insert(&rows.installation);
    }

    /// Encodes a row and stores it, unless it repeats a copy seen just before.
    fn insert<R: Row>(&mut self, row: &R) {
        if self.failure.is_some() {
            return;
        }
        let encoded = match self.encoder.encode(row) {
            Ok(encoded) => encoded,
            Err(e) => {
                self.failure = Some(format!("encoding a row of {}: {e}", R::TABLE));
                return;
            }
        };
        let table = R::TABLE;
        if self.recent.repeats(table, row.key(), encoded.row_hash) {
            return;
        }
        if let Err(e) = self.encoder.write_line(row) {
            self.failure = Some(format!("encoding a row of {}: {e}", R::TABLE));
            return;
        }
        if !self.columns.contains_key(&table) {
            self.columns.insert(table, self.encoder.columns());
        }
        *self.copies.entry(table).or_default() += 1;

        // table, k1, k2, content_hash, row_hash, legacy_content_hash, update_ns, pos, len
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(table.name().as_bytes());
        let Key(k1, k2) = row.key();
        line.push(b'\t');
        crate::copy_text::escape_into(line, k1.as_bytes());
        line.push(b'\t');
        match k2 {
            Some(k2) => crate::copy_text::escape_into(line, k2.as_bytes()),
            None => line.extend_from_slice(b"\\N"),
        }
        line.push(b'\t');
        line.extend_from_slice(&encoded.content_hash.hex());
        line.push(b'\t');
        line.extend_from_slice(&encoded.row_hash.hex());
        line.push(b'\t');
        line.extend_from_slice(&encoded.legacy_content_hash.hex());
        line.push(b'\t');
        match row.update_time() {
            Some(at) => line.extend_from_slice(nanos(at).to_string().as_bytes()),
            None => line.extend_from_slice(b"\\N"),
        }
        self.digest.update(line);
        let stored = (|| {
            use std::io::Write;
            let pos = self.number << PART_SHIFT | self.rows.len();
            writeln!(line, "\t{pos}\t{}", self.encoder.line.len())?;
            self.rows.append(&[&self.encoder.line])?;
            self.index.append(&[line])
        })();
        if let Err(e) = stored {
            self.failure = Some(format!("writing the snapshot to a temporary file: {e}"));
        }
    }

    fn reject(&mut self, source: &'static str, position: u64, reason: String, payload: Value) {
        self.rejected.push(Rejected {
            source,
            position,
            reason: crate::scrub::scrub_text(&crate::scrub::scrub_reason(&reason)),
            payload: {
                let mut payload = payload;
                crate::scrub::scrub(&mut payload);
                payload
            },
        });
    }
}

impl ElementSink for Snapshot {
    fn element(&mut self, position: u64, json: &[u8]) -> Result<(), serde_json::Error> {
        if self.workers.is_none() {
            self.workers = Workers::start(&self.project_id);
        }
        match &mut self.workers {
            Some(workers) => {
                workers.push(position, json);
                Ok(())
            }
            None => self.add_installation_json(position, json),
        }
    }

    fn end(&mut self) -> Result<(), String> {
        let Some(workers) = self.workers.take() else {
            return Ok(());
        };
        let mut parts = workers.finish();
        let invalid = parts.iter().filter_map(|p| p.invalid.clone()).min();
        for part in &mut parts {
            self.rejected.append(&mut part.rejected);
        }
        self.rejected.sort_by_key(|r| (r.source, r.position));
        self.parts.extend(parts);
        match invalid {
            Some((position, reason)) => Err(format!("element {position} is not JSON: {reason}")),
            None => Ok(()),
        }
    }
}

// Parsing and encoding take most of a sync's CPU time, and each installation is read
// on its own (the conflict rule does not depend on order), so the elements go, in
// batches, to one worker per core, each with its own part.

/// Elements per batch, at most.
const BATCH_ELEMENTS: usize = 256;
/// JSON bytes per batch, about.
const BATCH_BYTES: usize = 512 * 1024;

/// Consecutive elements of the array: their JSON texts back to back.
#[derive(Default)]
struct Batch {
    first_position: u64,
    json: Vec<u8>,
    ends: Vec<usize>,
}

/// The worker threads reading installations, while the stream lasts.
struct Workers {
    /// One channel per worker, served in turn: which worker reads which batch, and so
    /// each part's content, depends only on the input (see [`Snapshot::digest`]).
    senders: Vec<mpsc::SyncSender<Batch>>,
    next: usize,
    threads: Vec<std::thread::JoinHandle<Part>>,
    batch: Batch,
}

impl Workers {
    /// Workers for this machine's cores; none on a single core, or if no thread starts.
    fn start(project_id: &str) -> Option<Workers> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        if cores < 2 {
            return None;
        }
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for number in 1..=cores as u64 {
            let (sender, receiver) = mpsc::sync_channel::<Batch>(2);
            let mut part = Part::new(number, project_id.to_owned());
            let spawned = std::thread::Builder::new()
                .name(format!("normalize-{number}"))
                .spawn(move || {
                    while let Ok(batch) = receiver.recv() {
                        part.add_batch(&batch);
                    }
                    part
                });
            match spawned {
                Ok(thread) => {
                    senders.push(sender);
                    threads.push(thread);
                }
                Err(_) => break,
            }
        }
        if threads.is_empty() {
            return None;
        }
        Some(Workers {
            senders,
            next: 0,
            threads,
            batch: Batch::default(),
        })
    }

    fn push(&mut self, position: u64, json: &[u8]) {
        if self.batch.ends.is_empty() {
            self.batch.first_position = position;
        }
        self.batch.json.extend_from_slice(json);
        self.batch.ends.push(self.batch.json.len());
        if self.batch.ends.len() >= BATCH_ELEMENTS || self.batch.json.len() >= BATCH_BYTES {
            self.send();
        }
    }

    fn send(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        if let Some(sender) = self.senders.get(self.next) {
            // Fails only when that worker has stopped; `finish` then reports it.
            let _ = sender.send(batch);
        }
        self.next = (self.next + 1) % self.senders.len().max(1);
    }

    /// Sends what is left, lets the workers finish, and returns their parts.
    fn finish(mut self) -> Vec<Part> {
        if !self.batch.ends.is_empty() {
            self.send();
        }
        self.senders.clear();
        let mut parts = Vec::new();
        for thread in std::mem::take(&mut self.threads) {
            match thread.join() {
                Ok(part) => parts.push(part),
                Err(_) => {
                    let mut lost = Part::new(u64::MAX, String::new());
                    lost.failure = Some("a worker reading installations stopped".into());
                    parts.push(lost);
                }
            }
        }
        parts
    }
}

impl Drop for Workers {
    /// A stream that fails drops its sink: stop the workers and wait for them.
    fn drop(&mut self) {
        self.senders.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Part {
    fn add_batch(&mut self, batch: &Batch) {
        let mut start = 0;
        for (i, &end) in batch.ends.iter().enumerate() {
            let position = batch.first_position + i as u64;
            if let Err(e) = self.add_installation_json(position, &batch.json[start..end]) {
                if self.invalid.is_none() {
                    self.invalid = Some((position, e.to_string()));
                }
            }
            start = end;
        }
    }
}

/// A time as nanoseconds since 1970, which orders copies exactly as the times do
/// (times past the year 2262 saturate).
fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Recent copies of the objects installations share, per table and key: a copy equal to
/// one seen shortly before is left out, so a customer's group, consumer and connection
/// are stored once rather than once per installation. Bounded (two generations of at
/// most [`Recent::CAPACITY`] keys), so memory stays flat; a repeat it has forgotten is
/// stored again, which changes nothing but the size of the index.
#[derive(Default)]
struct Recent {
    current: HashMap<(Table, String), Hash>,
    previous: HashMap<(Table, String), Hash>,
    key: String,
}

impl Recent {
    const CAPACITY: usize = 4096;

    /// True when the same copy of the key was seen recently; remembers it otherwise.
    fn repeats(&mut self, table: Table, key: Key<'_>, row_hash: Hash) -> bool {
        if !table.spec().shared {
            return false;
        }
        self.key.clear();
        self.key.push_str(key.0);
        if let Some(k2) = key.1 {
            self.key.push('\u{1f}');
            self.key.push_str(k2);
        }
        let lookup = (table, std::mem::take(&mut self.key));
        let seen = self
            .current
            .get(&lookup)
            .or_else(|| self.previous.get(&lookup));
        if seen == Some(&row_hash) {
            self.key = lookup.1;
            return true;
        }
        if self.current.len() >= Self::CAPACITY {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(lookup, row_hash);
        false
    }
}
