//! Where a snapshot keeps its rows: each row copy encoded once (its hashes and its COPY
//! text, see `encode::Encoder`) and appended to an anonymous temporary file, with one
//! line in a second file, the index: table, key, hashes, `updateTime`, where the row
//! is, and the source record it came from ([`Origin`]). `apply` loads the index (about 100 bytes a row) into a temporary table and reads
//! back only the rows it writes. A bounded cache of recent shared objects (`Recent`)
//! keeps exact repeats (the same group in every installation of a customer) out of the
//! files. Each thread reading installations has a store of its own; a row's position
//! carries the store's number in its top bits.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::encode::{Encoder, Hash};
use crate::bridge::{Key, Row};
use crate::catalog::Table;
use crate::snapshot::spill::Spill;

/// Where in a store's row file a row is: the store's number in the top bits.
const PART_SHIFT: u32 = 40;

/// The rows one thread stored.
pub struct Store {
    /// Its place among the snapshot's stores, as row positions carry it.
    pub number: u64,
    /// Every row copy, as its COPY line (see [`Encoder`]), back to back.
    rows: Spill,
    /// One COPY line per row copy for `pg_temp.ampsync_snapshot`: table, key, hashes,
    /// updateTime, and where the row is (store and offset in `rows`).
    pub index: Spill,
    /// Row copies in `index`, per table.
    pub copies: BTreeMap<Table, u64>,
    /// The columns of each table's COPY lines, in order.
    pub columns: BTreeMap<Table, Vec<&'static str>>,
    recent: Recent,
    encoder: Encoder,
    line: Vec<u8>,
    /// The first failure to encode or store a row; the run fails with it.
    pub failure: Option<String>,
    /// Hash of the index lines (without where the rows are), in order.
    pub digest: blake3::Hasher,
    /// The source record the rows inserted now come from (see [`Origin`]); it goes into
    /// the index after the digest, so it can name a record to reject, and changes no
    /// digest.
    pub origin: Option<Origin>,
}

/// A source record, as the index names it: which response ([`Origin::SOURCES`]) and
/// its index in that response's array, packed into one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin(pub u64);

impl Origin {
    /// The responses records come from, as `rejected_records.source` names them.
    pub const SOURCES: [&'static str; 4] = [
        "integrations",
        "installations",
        "connections",
        "provider_apps",
    ];
    const POSITION_BITS: u32 = 48;

    /// The record at `position` of `source` (one of [`Origin::SOURCES`]).
    pub fn new(source: &'static str, position: u64) -> Option<Origin> {
        let code = Origin::SOURCES.iter().position(|s| *s == source)? as u64;
        (position < 1 << Origin::POSITION_BITS)
            .then_some(Origin(code << Origin::POSITION_BITS | position))
    }

    /// Its source and position.
    pub fn record(self) -> Option<(&'static str, u64)> {
        let source = Origin::SOURCES.get((self.0 >> Origin::POSITION_BITS) as usize)?;
        Some((source, self.0 & ((1 << Origin::POSITION_BITS) - 1)))
    }
}

impl Store {
    pub fn new(number: u64) -> Self {
        Store {
            number,
            rows: Spill::new(),
            index: Spill::new(),
            copies: BTreeMap::new(),
            columns: BTreeMap::new(),
            recent: Recent::default(),
            encoder: Encoder::default(),
            line: Vec::new(),
            failure: None,
            digest: blake3::Hasher::new(),
            origin: None,
        }
    }

    /// Bytes of its temporary files (rows and index), the last MB or so still in memory.
    pub fn temp_bytes(&self) -> u64 {
        self.rows.len() + self.index.len()
    }

    /// Whether the row at `pos` (as the index gives it) is in this store.
    pub fn holds(&self, pos: u64) -> bool {
        self.number == pos >> PART_SHIFT
    }

    /// Appends the COPY line stored at `pos` to `out`.
    pub fn read_row(&self, pos: u64, len: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        let start = out.len();
        out.resize(start + len, 0);
        self.rows
            .read_at(pos & ((1 << PART_SHIFT) - 1), &mut out[start..])
    }

    /// Encodes a row and stores it, unless it repeats a copy seen just before. Returns
    /// how the rows it owns are to rank (see [`Owner`]).
    pub fn insert<R: Row>(&mut self, row: &R) -> Option<Owner> {
        self.insert_owned(row, None)
    }

    /// As [`Store::insert`], for a row that `owner` owns: its copies rank as the owner's
    /// do, so the copy of the owner that wins decides the owned row too.
    pub fn insert_owned<R: Row>(&mut self, row: &R, owner: Option<&Owner>) -> Option<Owner> {
        if self.failure.is_some() {
            return None;
        }
        let encoded = match self.encoder.encode(row) {
            Ok(encoded) => encoded,
            Err(e) => {
                self.failure = Some(format!("encoding a row of {}: {e}", R::TABLE));
                return None;
            }
        };
        let own = Owner {
            update_time: row.update_time(),
            row_hash: encoded.row_hash,
        };
        let table = R::TABLE;
        if self.recent.repeats(table, row.key(), encoded.row_hash) {
            return Some(own);
        }
        if let Err(e) = self.encoder.write_line(row) {
            self.failure = Some(format!("encoding a row of {}: {e}", R::TABLE));
            return None;
        }
        if !self.columns.contains_key(&table) {
            self.columns.insert(table, self.encoder.columns());
        }
        *self.copies.entry(table).or_default() += 1;

        // table, k1, k2, content_hash, row_hash, legacy_content_hash, update_ns, rank, pos, len,
        // origin
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(table.name().as_bytes());
        let Key(k1, k2) = row.key();
        line.push(b'\t');
        crate::snapshot::copy_text::escape_into(line, k1.as_bytes());
        line.push(b'\t');
        match k2 {
            Some(k2) => crate::snapshot::copy_text::escape_into(line, k2.as_bytes()),
            None => line.extend_from_slice(b"\\N"),
        }
        line.push(b'\t');
        line.extend_from_slice(&encoded.content_hash.hex());
        line.push(b'\t');
        line.extend_from_slice(&encoded.row_hash.hex());
        line.push(b'\t');
        line.extend_from_slice(&encoded.legacy_content_hash.hex());
        line.push(b'\t');
        let (update_time, rank) = match owner {
            Some(owner) => (owner.update_time, Some(owner.row_hash)),
            None => (row.update_time(), None),
        };
        match update_time {
            Some(at) => line.extend_from_slice(nanos(at).to_string().as_bytes()),
            None => line.extend_from_slice(b"\\N"),
        }
        line.push(b'\t');
        match rank {
            Some(hash) => line.extend_from_slice(&hash.hex()),
            None => line.extend_from_slice(b"\\N"),
        }
        self.digest.update(line);
        let stored = (|| {
            use std::io::Write;
            let pos = self.number << PART_SHIFT | self.rows.len();
            write!(line, "\t{pos}\t{}\t", self.encoder.line.len())?;
            match self.origin {
                Some(origin) => writeln!(line, "{}", origin.0)?,
                None => writeln!(line, "\\N")?,
            }
            self.rows.append(&[&self.encoder.line])?;
            self.index.append(&[line])
        })();
        if let Err(e) = stored {
            self.failure = Some(format!("writing the snapshot to a temporary file: {e}"));
        }
        Some(own)
    }
}

/// How copies of a row rank when their key has several: the later `updateTime` first,
/// then the greater row hash (`apply` picks the first). A row another owns (an
/// installation's config) ranks by its owner's.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    update_time: Option<DateTime<Utc>>,
    row_hash: Hash,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_gives_back_its_source_and_position_and_refuses_what_it_cannot_hold() {
        for source in Origin::SOURCES {
            for position in [0, 1, 4_711, (1 << 48) - 1] {
                let origin = Origin::new(source, position).unwrap();
                assert_eq!(origin.record(), Some((source, position)));
            }
        }
        assert_eq!(Origin::new("projects", 0), None);
        assert_eq!(Origin::new("installations", 1 << 48), None);
        assert!(Origin::new("installations", 9) < Origin::new("connections", 0));
    }
}
