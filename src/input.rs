//! The files `import` reads: regular files, pipes (`import <(zcat dump.json.gz)`), FIFOs
//! and standard input (`-`).
//!
//! Opening a FIFO blocks until a writer opens it, and reading a pipe blocks until the
//! writer writes, for as long as that takes. So a file is opened and read on tokio's
//! blocking pool, never on a runtime thread, and callers race that against
//! [`crate::shutdown::Shutdown`]: SIGTERM ends the wait at once, the run is recorded and
//! the lock released; the thread still blocked is left behind and ends with the process.
//!
//! What can be checked without blocking is checked before any run starts
//! ([`check_inputs`]): a missing file, a directory, and one pipe named twice are usage
//! errors (exit 2) that leave no run row.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::config::ConfigError;

/// The UTF-8 byte order mark that Windows tools (PowerShell's `Out-File`, Notepad) put
/// at the start of a text file. JSON forbids it (RFC 8259 §8.1) but allows a parser to
/// ignore it, which is what ampsync does.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Why an input could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("opening {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The reading thread ended without an answer (it panicked).
    #[error("reading {}: the reading thread stopped: {source}", path.display())]
    Thread {
        path: PathBuf,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// `-` is standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// One input as the command line names it: its flag (empty for a positional argument)
/// and how many times the import reads it.
pub struct Use<'a> {
    pub flag: &'static str,
    pub path: &'a Path,
    pub reads: usize,
}

impl Use<'_> {
    /// `--project-file p.json`, or just `day1.json`.
    fn named(&self) -> String {
        match self.flag {
            "" => self.path.display().to_string(),
            flag => format!("{flag} {}", self.path.display()),
        }
    }
}

/// Checks what can be checked without blocking, before any run starts: every input
/// exists and is not a directory, and an input that can be read only once (a pipe, a
/// FIFO, a socket, standard input) is not read twice (two flags naming it, or one
/// `--connections-file` for several snapshots). Each is a usage error.
pub fn check_inputs<'a>(inputs: impl IntoIterator<Item = Use<'a>>) -> Result<(), ConfigError> {
    let mut reads: HashMap<&Path, usize> = HashMap::new();
    for input in inputs {
        let replayable = if is_stdin(input.path) {
            false
        } else {
            // `metadata` follows symlinks (`/dev/fd/63` of `<(...)`) and never blocks.
            match std::fs::metadata(input.path) {
                Ok(meta) if meta.is_dir() => {
                    return Err(ConfigError(format!(
                    "{} is a directory; give a file (a saved response), or - for standard input",
                    input.named()
                )))
                }
                Ok(meta) => meta.is_file() || is_char_device(&meta),
                Err(e) => return Err(ConfigError(format!("{}: {e}", input.named()))),
            }
        };
        if !replayable {
            let seen = reads.entry(input.path).or_insert(0);
            *seen += input.reads;
            if *seen > 1 {
                return Err(ConfigError(format!(
                    "{} is a pipe or standard input, which can be read only once, but this import would read it {} times; save it to a file, or give one per snapshot",
                    input.named(),
                    seen
                )));
            }
        }
    }
    Ok(())
}

/// `/dev/null` reads the same every time; other character devices are rare inputs.
#[cfg(unix)]
fn is_char_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device()
}

#[cfg(not(unix))]
fn is_char_device(_: &std::fs::Metadata) -> bool {
    false
}

/// The size of a regular file, for a progress bar; `None` for pipes and stdin.
pub fn size(path: &Path) -> Option<u64> {
    if is_stdin(path) {
        return None;
    }
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// Opens `path` and hands its bytes (less a leading byte order mark) to `read`, all on
/// the blocking pool. Dropping the returned future stops waiting for it (the thread
/// finishes, or blocks on, alone), so callers race it against a shutdown signal.
pub async fn read_with<T, F>(path: &Path, read: F) -> Result<T, InputError>
where
    F: FnOnce(SkipBom<Box<dyn Read + Send>>) -> T + Send + 'static,
    T: Send + 'static,
{
    let owned = path.to_owned();
    let opened = tokio::task::spawn_blocking(move || {
        let reader: Box<dyn Read + Send> = if is_stdin(&owned) {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(&owned)?)
        };
        Ok(read(SkipBom::new(reader)))
    })
    .await;
    match opened {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(InputError::Open {
            path: path.to_owned(),
            source,
        }),
        Err(source) => Err(InputError::Thread {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A reader that drops a UTF-8 byte order mark at the start of its input.
pub struct SkipBom<R> {
    inner: R,
    /// The first bytes, read ahead to look for the mark; `None` once handed on.
    head: Option<([u8; 3], usize)>,
    /// How many bytes of `head` are handed on so far.
    given: usize,
}

impl<R: Read> SkipBom<R> {
    pub fn new(inner: R) -> Self {
        SkipBom {
            inner,
            head: None,
            given: 0,
        }
    }

    /// Reads up to three bytes (a pipe may give them one at a time) and drops them if
    /// they are the mark.
    fn fill_head(&mut self) -> io::Result<()> {
        let mut head = [0u8; 3];
        let mut len = 0;
        while len < head.len() {
            match self.inner.read(&mut head[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.given = if head[..len] == BOM { len } else { 0 };
        self.head = Some((head, len));
        Ok(())
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.head.is_none() {
            self.fill_head()?;
        }
        if let Some((head, len)) = &self.head {
            if self.given < *len {
                let n = (*len - self.given).min(buf.len());
                buf[..n].copy_from_slice(&head[self.given..self.given + n]);
                self.given += n;
                return Ok(n);
            }
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives one byte per call, as a slow pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn through(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        SkipBom::new(Trickle(bytes)).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_leading_byte_order_mark_is_dropped_and_everything_else_kept() {
        assert_eq!(through(b"\xEF\xBB\xBF[1]"), b"[1]");
        assert_eq!(through(b"\xEF\xBB\xBF"), b"");
        assert_eq!(through(b"[1]"), b"[1]");
        assert_eq!(through(b"[]"), b"[]");
        assert_eq!(through(b""), b"");
        assert_eq!(through(b"\xEF\xBB["), b"\xEF\xBB[");
        // Only at the start: a mark later on is data (and invalid JSON there).
        assert_eq!(through(b"[\xEF\xBB\xBF]"), b"[\xEF\xBB\xBF]");
    }
}
