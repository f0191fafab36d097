//! One snapshot (a project, its integrations, its installations) read into rows of all
//! eight tables through the pure mappings of `bridge`, and kept in a `store`. Objects
//! many installations share (a connection, group, consumer or provider app) arrive
//! once per installation that uses them; the snapshot is the set of their keys. When
//! two copies of one key disagree, the one with the later `updateTime` wins, then the
//! one with the greater row hash, so the result never depends on the order of the
//! response (`apply` picks the winner). An installation's config has no `updateTime`:
//! its copies rank as their installation's copies do, so the copy that wins an
//! installation decides its config too (see `store::Owner`).
//!
//! Secrets are dropped by `bridge`; a record that cannot be read is rejected here with
//! its reason cleaned and kept aside (see `rejects`, which scrubs the payloads it
//! keeps), so nothing downstream can leak them.
//!
//! An installation that names another project is rejected too, and counted by project
//! id: when more than half of a response's installations belong to other projects,
//! the caller was most likely given the wrong project ([`Snapshot::other_projects`]).
//!
//! # Flat memory
//!
//! A large project answers with hundreds of MB; the snapshot does not hold its rows in
//! memory but in temporary files (see `store`). Memory holds one batch of elements per
//! worker, the file buffers, and each store's bounded cache of recent shared
//! objects.
//!
//! Every array (the installations, the connections and provider-apps lists) is read
//! the same way, by one worker per core (see `Reader`): each element straight from its
//! JSON text into its API type; only an element that cannot be read that way, or that a quick pass over its text
//! finds PostgreSQL could not store (`\u0000`, a lone surrogate, a number too long: see
//! `storable`), goes through a `serde_json::Value`, to be checked and kept as a
//! rejected record whose reason names the record's id and the field.
//!
//! # Parts
//!
//! - [`store`]: the rows of one table, encoded once and spilled, and the index `apply`
//!   loads; [`encode`]: a row's hashes and COPY line; [`copy_text`] and
//!   [`json_number`]: the COPY text format and the numbers in it;
//! - [`spill`]: the temporary files; [`rejects`]: the records that could not be read;
//!   [`storable`]: what PostgreSQL could not store.

pub mod copy_text;
pub mod encode;
pub mod json_number;
pub mod rejects;
pub mod spill;
pub mod storable;
pub mod store;

use std::collections::BTreeSet;
use std::sync::mpsc;

use serde_json::Value;

use crate::api::model;
use crate::api::stream::ElementSink;
use crate::bridge;
use crate::bridge::Row;
use crate::catalog::List;
use crate::catalog::Table;
use crate::snapshot::rejects::{AllRejects, OtherProjects, Rejects};
use crate::snapshot::spill::Spill;
use crate::snapshot::storable::LONE_SURROGATE;
use crate::snapshot::store::{Origin, Store};

/// Why an object holding `\u0000` is rejected: PostgreSQL text and jsonb cannot hold it,
/// so storing it would fail the whole run, every run.
const NUL: &str = "holds a NUL character (\\u0000), which PostgreSQL cannot store";

/// Why PostgreSQL could not store `value`, if it could not: a lone surrogate (already
/// replaced, when `lone_surrogate`: see [`parse_value`]), a NUL, or a number too long
/// (see `storable`). Each is replaced in `value`, which can then be kept as a payload.
fn unstorable(value: &mut Value, lone_surrogate: bool) -> Option<String> {
    let nul = crate::scrub::replace_nul(value);
    let long = crate::snapshot::storable::replace_long_numbers(value);
    if lone_surrogate {
        Some(LONE_SURROGATE.into())
    } else if nul {
        Some(NUL.into())
    } else {
        long
    }
}

/// Reads a `T` from `value`; an error names the field it is about.
fn read<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        if e.path().iter().next().is_none() {
            e.inner().to_string()
        } else {
            format!("field `{}`: {}", e.path(), e.inner())
        }
    })
}

/// `json` as a `Value`, and whether it held a lone surrogate, written as U+FFFD in the
/// value (serde_json cannot read one into a string).
fn parse_value(
    json: &[u8],
    scan: crate::snapshot::storable::Scan,
) -> Result<(Value, bool), serde_json::Error> {
    if scan.lone_surrogate {
        let readable = crate::snapshot::storable::replace_lone_surrogates(json);
        Ok((serde_json::from_slice(&readable)?, true))
    } else {
        Ok((serde_json::from_slice(json)?, false))
    }
}

/// Rows of one project snapshot, kept in temporary files as they are made (see the
/// module docs): memory stays flat however large the project.
pub struct Snapshot {
    pub project_id: String,
    /// Tables whose every row of the project is in this snapshot; only these may have
    /// rows soft-deleted. (`import` without an integrations file does not cover
    /// `integrations`, say.)
    covered: BTreeSet<Table>,
    /// The lists read whole (see [`List`]).
    listed: BTreeSet<List>,
    /// The lists the API would not give (403, 404), each with why.
    pub unavailable: Vec<(List, String)>,
    /// Part 0 is filled on the caller's thread; the others by the readers of the
    /// installations and of the lists (see [`Reader`]), once their stream has ended.
    parts: Vec<Part>,
    installations_reader: Reader,
    /// Records rejected once their rows met the database (see [`Snapshot::reject_stored`]).
    late: Rejects,
    /// Copies per table that left the index with those records.
    dropped: std::collections::BTreeMap<Table, u64>,
}

impl Snapshot {
    pub fn new(project_id: impl Into<String>) -> Self {
        let project_id = project_id.into();
        Snapshot {
            parts: vec![Part::new(0, project_id.clone())],
            covered: BTreeSet::new(),
            listed: BTreeSet::new(),
            unavailable: Vec::new(),
            installations_reader: Reader::new(Stream::Installations, &project_id, 0),
            late: Rejects::default(),
            dropped: std::collections::BTreeMap::new(),
            project_id,
        }
    }

    pub fn covers(&self, table: Table) -> bool {
        self.covered.contains(&table)
    }

    /// Row copies of `table` the snapshot holds (a key may have several).
    pub fn copies(&self, table: Table) -> u64 {
        let stored: u64 = self
            .parts
            .iter()
            .map(|p| p.store.copies.get(&table).copied().unwrap_or(0))
            .sum();
        stored.saturating_sub(self.dropped.get(&table).copied().unwrap_or(0))
    }

    /// Notes that `n` copies of `table` left the index with the records
    /// [`Snapshot::reject_stored`] rejected.
    pub fn forget_copies(&mut self, table: Table, n: u64) {
        *self.dropped.entry(table).or_default() += n;
    }

    /// The index, in the COPY text format of `pg_temp.ampsync_snapshot`, in pieces.
    pub fn index(&self) -> impl Iterator<Item = &Spill> {
        self.parts.iter().map(|p| &p.store.index)
    }

    /// The column names of `table`'s COPY lines, if the snapshot has rows of it.
    pub fn columns(&self, table: Table) -> Option<&[&'static str]> {
        self.parts
            .iter()
            .find_map(|p| p.store.columns.get(&table))
            .map(Vec::as_slice)
    }

    /// Appends the COPY line stored at `pos` (as the index gives it) to `out`.
    pub fn read_row(&self, pos: u64, len: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        let part = self
            .parts
            .iter()
            .find(|p| p.store.holds(pos))
            .ok_or_else(|| std::io::Error::other("the index names a part the snapshot lacks"))?;
        part.store.read_row(pos, len, out)
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
        for list in &self.listed {
            hasher.update(b"list ");
            hasher.update(list.name().as_bytes());
            hasher.update(b",");
        }
        let mut parts: Vec<&Part> = self.parts.iter().collect();
        parts.sort_by_key(|p| p.store.number);
        for part in parts {
            hasher.update(part.store.digest.finalize().as_bytes());
        }
        hasher.finalize().to_hex().to_string()
    }

    /// Bytes the snapshot keeps in temporary files (see `store`): its disk use.
    pub fn temp_bytes(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| p.store.temp_bytes() + p.rejects.temp_bytes())
            .sum::<u64>()
            + self.late.temp_bytes()
    }

    /// Whether every row and every rejected record was stored; if not, why.
    pub fn stored(&self) -> Result<(), String> {
        let failure = self
            .parts
            .iter()
            .find_map(|p| p.store.failure.as_ref().or(p.rejects.failure.as_ref()))
            .or(self.late.failure.as_ref());
        match failure {
            None => Ok(()),
            Some(reason) => Err(reason.clone()),
        }
    }

    /// How many source records were rejected: the exact count.
    pub fn rejected(&self) -> u64 {
        self.parts.iter().map(|p| p.rejects.count()).sum::<u64>() + self.late.count()
    }

    /// The rejected records, with the payloads the run keeps chosen.
    pub fn rejects(&self) -> AllRejects<'_> {
        AllRejects::new(
            self.parts
                .iter()
                .map(|p| &p.rejects)
                .chain(std::iter::once(&self.late)),
        )
    }

    /// Rejects the source record `origin`, whose rows were read but cannot be stored
    /// (their key belongs to another project's row: see `apply`), for `reason`. Its
    /// JSON is gone by then, so it is kept without a payload. The caller takes its rows
    /// out of the plan.
    pub fn reject_stored(&mut self, origin: Origin, reason: &str) {
        if let Some((source, position)) = origin.record() {
            let reason = crate::scrub::scrub_text(&crate::scrub::scrub_reason(reason));
            self.late.push_without_payload(source, position, reason);
        }
    }

    /// Elements of the installations response.
    pub fn installations(&self) -> u64 {
        self.parts.iter().map(|p| p.installations).sum()
    }

    /// When more than half of the installations response names other projects (all of
    /// it, say, for a project given by a name that is not its id): how many, and which.
    /// A few strays are rejected like any unreadable record and the rest applies; a
    /// majority means the snapshot is not this project's, and applying the few left
    /// would only hide that.
    pub fn other_projects(&self) -> Option<OtherProjects> {
        let mut others = OtherProjects::default();
        for part in &self.parts {
            others.merge(&part.others);
        }
        (others.count * 2 > self.installations()).then_some(others)
    }

    /// True when the installations response held elements and not one could be read:
    /// the API changed, most likely, and a run must not pass for a success.
    pub fn unreadable(&self) -> bool {
        self.installations() > 0 && self.copies(Table::Installations) == 0
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
    }
}

impl Snapshot {
    /// Whether the snapshot holds `list` whole.
    pub fn listed(&self, list: List) -> bool {
        self.listed.contains(&list)
    }

    /// Notes that the API would not give `list` (403, 404), and why.
    pub fn list_unavailable(&mut self, list: List, reason: String) {
        self.unavailable.push((list, reason));
    }

    /// Adds a list response read whole into `sink` (see [`ListSink`]).
    pub fn add_list(&mut self, sink: ListSink) {
        self.listed.insert(sink.list);
        self.parts.extend(sink.reader.parts);
    }
}

/// Where a list response (`connections`, `provider-apps`) is read, element by element,
/// as the installations are (see [`Reader`]), into parts of its own: a list can be as
/// long as the installations, so it is never held whole. An element that cannot be
/// read, or that names another project, is rejected.
pub struct ListSink {
    list: List,
    reader: Reader,
}

/// Part numbers of the lists: after any number of workers, one range per list.
const LIST_PARTS: u64 = 1 << 16;

impl ListSink {
    pub fn new(list: List, project_id: &str) -> ListSink {
        ListSink {
            list,
            reader: Reader::new(
                Stream::List(list),
                project_id,
                LIST_PARTS * (list as u64 + 1),
            ),
        }
    }
}

impl ElementSink for ListSink {
    fn element(&mut self, position: u64, json: &[u8]) -> Result<(), serde_json::Error> {
        self.reader.element(position, json)
    }

    fn end(&mut self) -> Result<(), String> {
        self.reader.end()
    }
}

/// What a response's array holds: installations, or the elements of a list. Each is
/// read the same way (see [`Reader`]); a later paged stream is one more variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Installations,
    List(List),
}

impl Stream {
    /// Its name as `rejected_records.source` has it (see [`Origin::SOURCES`]).
    pub fn source(self) -> &'static str {
        match self {
            Stream::Installations => "installations",
            Stream::List(list) => list.name(),
        }
    }
}

/// An API type an array's elements are read into, and what its rows are.
trait Element: serde::de::DeserializeOwned {
    /// The project the element names, if any.
    fn project_id(&self) -> Option<&str>;
    /// Adds its rows to `part`.
    fn add(self, part: &mut Part);
}

impl Element for model::Installation {
    fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }
    fn add(self, part: &mut Part) {
        part.add_installation(self);
    }
}

impl Element for model::Connection {
    fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }
    fn add(self, part: &mut Part) {
        part.add_connection(self);
    }
}

impl Element for model::ProviderApp {
    fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }
    fn add(self, part: &mut Part) {
        part.add_provider_app(self);
    }
}

impl Part {
    /// Adds one element of `stream`, as its JSON text; an element that cannot be read,
    /// or that belongs to another project, is rejected. An error means the text is not
    /// JSON at all.
    fn add_json(
        &mut self,
        stream: Stream,
        position: u64,
        json: &[u8],
    ) -> Result<(), serde_json::Error> {
        match stream {
            Stream::Installations => {
                self.installations += 1;
                self.add_element::<model::Installation>(stream, position, json)
            }
            Stream::List(List::Connections) => {
                self.add_element::<model::Connection>(stream, position, json)
            }
            Stream::List(List::ProviderApps) => {
                self.add_element::<model::ProviderApp>(stream, position, json)
            }
        }
    }

    /// Reads one element straight from its text into an `E`; only an element that
    /// cannot be read that way, that holds what PostgreSQL could not store, or that
    /// names another project goes through a `Value`, to be rejected with its reason.
    fn add_element<E: Element>(
        &mut self,
        stream: Stream,
        position: u64,
        json: &[u8],
    ) -> Result<(), serde_json::Error> {
        let scan = crate::snapshot::storable::scan(json);
        if scan.clean() {
            // Checked as UTF-8 once, in one pass, rather than string by string.
            let parsed = match std::str::from_utf8(json) {
                Ok(text) => serde_json::from_str::<E>(text),
                Err(_) => serde_json::from_slice::<E>(json),
            };
            match parsed {
                Ok(element) if element.project_id().is_none_or(|p| p == self.project_id) => {
                    self.store.origin = Origin::new(stream.source(), position);
                    element.add(self);
                    return Ok(());
                }
                // Another project's, or not an element: rejected below, from a Value.
                Ok(_) => {}
                Err(e) if e.is_data() => {}
                Err(e) => return Err(e),
            }
        }
        let (value, lone_surrogate) = parse_value(json, scan)?;
        self.add_element_value::<E>(stream, position, value, lone_surrogate);
        Ok(())
    }

    /// As [`Part::add_element`], from a parsed element (in which a lone surrogate was
    /// replaced, if `lone_surrogate`).
    fn add_element_value<E: Element>(
        &mut self,
        stream: Stream,
        position: u64,
        mut value: Value,
        lone_surrogate: bool,
    ) {
        let source = stream.source();
        if stream == Stream::Installations {
            // Counted whether or not the rest can be read: a response of another
            // project's installations that also fail to parse is still another
            // project's.
            let other = value.get("projectId").and_then(Value::as_str);
            if let Some(id) = other.filter(|id| *id != self.project_id) {
                self.others.add(id);
            }
        }
        if let Some(reason) = unstorable(&mut value, lone_surrogate) {
            return self.reject(source, position, reason, value);
        }
        match read::<E>(&value) {
            Ok(element) => match element.project_id() {
                Some(other) if other != self.project_id => {
                    let reason = format!("belongs to project {other}, not {}", self.project_id);
                    self.reject(source, position, reason, value);
                }
                _ => {
                    self.store.origin = Origin::new(source, position);
                    element.add(self);
                }
            },
            Err(reason) => self.reject(source, position, reason, value),
        }
    }

    /// A listed connection: its row and those of the objects it embeds.
    fn add_connection(&mut self, conn: model::Connection) {
        let rows = bridge::connection(&self.project_id, conn);
        if let Some(group) = &rows.group {
            self.insert(group);
        }
        if let Some(consumer) = &rows.consumer {
            self.insert(consumer);
        }
        if let Some(app) = &rows.provider_app {
            self.insert(app);
        }
        self.insert(&rows.connection);
    }

    fn add_provider_app(&mut self, app: model::ProviderApp) {
        self.insert(&bridge::provider_app(&self.project_id, app));
    }
}

/// What one thread reads: its rows in a [`Store`] of their own, the records it
/// rejected, and the installations it met.
struct Part {
    project_id: String,
    store: Store,
    rejects: Rejects,
    /// Elements of the installations response.
    installations: u64,
    /// Those that named another project.
    others: OtherProjects,
    /// The first element that was not JSON, and why.
    invalid: Option<(u64, String)>,
}

impl Part {
    fn new(number: u64, project_id: String) -> Self {
        Part {
            project_id,
            store: Store::new(number),
            rejects: Rejects::default(),
            installations: 0,
            others: OtherProjects::default(),
            invalid: None,
        }
    }

    fn insert<R: Row>(&mut self, row: &R) {
        self.store.insert(row);
    }

    fn add_project(&mut self, project: model::Project) {
        self.store.origin = None;
        self.insert(&bridge::project(project));
    }

    fn add_integrations(&mut self, integrations: Vec<Value>) {
        for (position, mut value) in integrations.into_iter().enumerate() {
            if let Some(reason) = unstorable(&mut value, false) {
                self.reject("integrations", position as u64, reason, value);
                continue;
            }
            match read::<model::Integration>(&value) {
                Ok(integration) => {
                    self.store.origin = Origin::new("integrations", position as u64);
                    self.add_integration(integration);
                }
                Err(reason) => self.reject("integrations", position as u64, reason, value),
            }
        }
    }

    fn add_integration(&mut self, integration: model::Integration) {
        self.insert(&bridge::integration(&self.project_id, integration));
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
        // The copy of the installation that wins decides its config too.
        let owner = self.store.insert(&rows.installation);
        if let Some(config) = &rows.config {
            self.store.insert_owned(config, owner.as_ref());
        }
    }

    /// Keeps a record aside; its reason is cleaned and names the record's `id`, if it has
    /// one (the position alone is lost once the API's order changes).
    fn reject(&mut self, source: &'static str, position: u64, reason: String, payload: Value) {
        let reason = crate::scrub::scrub_text(&crate::scrub::scrub_reason(&reason));
        let id = match payload.get("id") {
            Some(Value::String(id)) => Some(crate::scrub::scrub_text(&shortened(id))),
            Some(Value::Number(id)) => Some(shortened(id.as_str())),
            _ => None,
        };
        let reason = match id {
            Some(id) => format!("id {id}: {reason}"),
            None => reason,
        };
        self.rejects.push(source, position, reason, payload);
    }
}

/// At most 64 characters of `text`, for a reason: an id could be megabytes of anything.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

impl ElementSink for Snapshot {
    fn element(&mut self, position: u64, json: &[u8]) -> Result<(), serde_json::Error> {
        self.installations_reader.element(position, json)
    }

    fn end(&mut self) -> Result<(), String> {
        let ended = self.installations_reader.end();
        self.parts
            .extend(std::mem::take(&mut self.installations_reader.parts));
        ended
    }
}

/// Reads one response's array (see [`Stream`]): its elements go, in batches, to the
/// workers, one per core, each filling a part of its own; on a single core (or if no
/// worker starts) they are read on the caller's thread, into one part. Part numbers
/// start after `base`, so the readers of different streams never share one.
struct Reader {
    stream: Stream,
    project_id: String,
    base: u64,
    workers: Option<Workers>,
    /// Filled once the stream has ended (or, without workers, as it goes).
    parts: Vec<Part>,
    started: bool,
}

impl Reader {
    fn new(stream: Stream, project_id: &str, base: u64) -> Reader {
        Reader {
            stream,
            project_id: project_id.to_owned(),
            base,
            workers: None,
            parts: Vec::new(),
            started: false,
        }
    }

    fn element(&mut self, position: u64, json: &[u8]) -> Result<(), serde_json::Error> {
        if !self.started {
            self.started = true;
            self.workers = Workers::start(self.stream, &self.project_id, self.base);
            if self.workers.is_none() {
                self.parts
                    .push(Part::new(self.base + 1, self.project_id.clone()));
            }
        }
        match (&mut self.workers, self.parts.first_mut()) {
            (Some(workers), _) => {
                workers.push(position, json);
                Ok(())
            }
            (None, Some(part)) => part.add_json(self.stream, position, json),
            (None, None) => Ok(()),
        }
    }

    fn end(&mut self) -> Result<(), String> {
        let Some(workers) = self.workers.take() else {
            return Ok(());
        };
        let parts = workers.finish();
        let invalid = parts.iter().filter_map(|p| p.invalid.clone()).min();
        self.parts.extend(parts);
        match invalid {
            Some((position, reason)) => Err(format!("element {position} is not JSON: {reason}")),
            None => Ok(()),
        }
    }
}

// Parsing and encoding take most of a sync's CPU time, and each element is read on its
// own (the conflict rule does not depend on order), so the elements go, in batches, to
// one worker per core, each with its own part.

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

/// The worker threads reading one stream, while it lasts.
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
    fn start(stream: Stream, project_id: &str, base: u64) -> Option<Workers> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        if cores < 2 {
            return None;
        }
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for worker in 1..=cores as u64 {
            let (sender, receiver) = mpsc::sync_channel::<Batch>(2);
            let mut part = Part::new(base + worker, project_id.to_owned());
            let spawned = std::thread::Builder::new()
                .name(format!("read-{}-{worker}", stream.source()))
                .spawn(move || {
                    while let Ok(batch) = receiver.recv() {
                        part.add_batch(stream, &batch);
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
                    lost.store.failure = Some("a worker reading the response stopped".into());
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
    fn add_batch(&mut self, stream: Stream, batch: &Batch) {
        let mut start = 0;
        for (i, &end) in batch.ends.iter().enumerate() {
            let position = batch.first_position + i as u64;
            if let Err(e) = self.add_json(stream, position, &batch.json[start..end]) {
                if self.invalid.is_none() {
                    self.invalid = Some((position, e.to_string()));
                }
            }
            start = end;
        }
    }
}
