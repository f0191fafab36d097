//! Writing a command's output to `--output FILE`, the way a file is expected to behave.
//!
//! - **A regular file, or none yet**, is written atomically: into a temporary file beside
//!   it, renamed over it once complete, so a reader (node_exporter's textfile collector,
//!   a person opening an export) never sees half a file, and a failed or interrupted
//!   command leaves the previous file as it was (the temporary one is removed when
//!   dropped). A new file gets mode `0666` less the umask, as a shell's `>` would give
//!   it; a file replaced keeps its permission bits, so a `chmod` of it lasts.
//! - **Anything else is written to, never replaced**: a character device (`/dev/null`,
//!   `/dev/full`, a terminal), a FIFO, a socket, and a symlink of any kind, which is
//!   written through (the link and whatever it points at stay; `/dev/stdout` is one).
//!   Such a write is not atomic, and its errors (`/dev/full`'s "no space left") fail the
//!   command. Opening a FIFO waits for a reader, so opening and writing happen on the
//!   blocking pool, raced against a shutdown signal.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::shutdown::{Interrupted, Shutdown};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// An output being written: a temporary file to rename over the target, or the target
/// itself when it is not a regular file.
pub struct Output {
    path: PathBuf,
    kind: Kind,
}

enum Kind {
    Replace(NamedTempFile),
    Direct(File),
}

impl Output {
    /// Opens `path` for writing (see the module docs for how). Blocks while a FIFO has no
    /// reader: call it on the blocking pool, or through [`Output::open_interruptible`].
    pub fn open(path: &Path) -> io::Result<Output> {
        let kind = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_file() => {
                Kind::Replace(temporary_beside(path, Some(meta.permissions()))?)
            }
            Ok(_) => Kind::Direct(
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(path)?,
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Kind::Replace(temporary_beside(path, None)?)
            }
            Err(e) => return Err(e),
        };
        Ok(Output {
            path: path.to_owned(),
            kind,
        })
    }

    /// [`Output::open`] on the blocking pool, unless a signal arrives first.
    pub async fn open_interruptible(
        path: &Path,
        shutdown: &mut Shutdown,
    ) -> Result<Output, OutputError> {
        let owned = path.to_owned();
        let opened = shutdown
            .interruptible(tokio::task::spawn_blocking(move || Output::open(&owned)))
            .await?;
        let opened = opened.unwrap_or_else(|e| Err(io::Error::other(e)));
        opened.map_err(|source| OutputError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Where the bytes go.
    pub fn file(&mut self) -> &mut File {
        match &mut self.kind {
            Kind::Replace(temp) => temp.as_file_mut(),
            Kind::Direct(file) => file,
        }
    }

    /// Completes the output: syncs a temporary file and renames it over the target.
    pub fn finish(self) -> io::Result<()> {
        match self.kind {
            Kind::Replace(temp) => {
                temp.as_file().sync_all()?;
                temp.persist(&self.path).map_err(|e| e.error)?;
            }
            // A device or a pipe has nothing to sync; a file behind a symlink does.
            Kind::Direct(file) => {
                if file.metadata()?.is_file() {
                    file.sync_all()?;
                }
            }
        }
        Ok(())
    }
}

/// An empty temporary file in `path`'s directory, with `mode` (that of the file it will
/// replace), or else `0666` less the umask.
fn temporary_beside(path: &Path, mode: Option<Permissions>) -> io::Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ampsync-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(Permissions::from_mode(0o666));
    }
    let file = builder.tempfile_in(dir)?;
    if let Some(mode) = mode {
        file.as_file().set_permissions(mode)?;
    }
    Ok(file)
}

/// Writes `bytes` to `path` (see the module docs), on the blocking pool, unless a
/// signal arrives first.
pub async fn write(
    path: &Path,
    bytes: Vec<u8>,
    shutdown: &mut Shutdown,
) -> Result<(), OutputError> {
    let owned = path.to_owned();
    let written = shutdown
        .interruptible(tokio::task::spawn_blocking(move || {
            let mut output = Output::open(&owned)?;
            output.file().write_all(&bytes)?;
            output.finish()
        }))
        .await?;
    written
        .unwrap_or_else(|e| Err(io::Error::other(e)))
        .map_err(|source| OutputError::Write {
            path: path.to_owned(),
            source,
        })
}

/// How much is handed to the writing thread at a time.
const CHUNK: usize = 1 << 16;

/// A writer whose writes happen on the blocking pool: a pipe whose reader stalls (a
/// FIFO, standard output piped to a slow consumer) blocks that thread, never the task,
/// so the task can still be interrupted. Bytes are handed over in chunks through a
/// short queue, so memory stays bounded whatever the reader's pace.
pub struct PoolWriter {
    buffer: Vec<u8>,
    chunks: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    thread: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

impl PoolWriter {
    /// Starts the writing thread. Until [`PoolWriter::finish`] returns, nothing says
    /// the bytes reached `out`; dropped before that, the thread stops after the chunk
    /// it is writing.
    pub fn start(mut out: impl Write + Send + 'static) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let thread = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                out.write_all(&chunk)?;
            }
            out.flush()
        });
        PoolWriter {
            buffer: Vec::with_capacity(CHUNK),
            chunks: Some(tx),
            thread: Some(thread),
        }
    }

    /// Queues `bytes`; waits while the queue is full.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.hand_over().await?;
        }
        Ok(())
    }

    async fn hand_over(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        let sent = match &self.chunks {
            Some(tx) => tx.send(chunk).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The thread stopped: a write failed, and its error says why.
        self.stop().await?;
        Err(io::Error::other("the writing thread stopped early"))
    }

    /// Closes the queue and waits for the thread to end.
    async fn stop(&mut self) -> io::Result<()> {
        self.chunks = None;
        match self.thread.take() {
            Some(thread) => thread.await.unwrap_or_else(|e| Err(io::Error::other(e))),
            None => Err(io::Error::other("the writing thread stopped early")),
        }
    }

    /// Writes what is left and waits until every byte is written and flushed.
    pub async fn finish(mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            self.hand_over().await?;
        }
        self.stop().await
    }
}
