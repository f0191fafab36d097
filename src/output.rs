//! Writing a command's output to a file atomically: into a temporary file beside it,
//! renamed over it once complete, so a reader (node_exporter's textfile collector, a
//! person opening an export) never sees half a file, and a failed or interrupted command
//! leaves the previous file as it was (the temporary one is removed when dropped).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

#[derive(Debug, thiserror::Error)]
#[error("writing {}: {source}", path.display())]
pub struct OutputError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// An empty temporary file in `path`'s directory, readable by this user only.
pub fn temporary_beside(path: &Path) -> io::Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".ampsync-")
        .suffix(".tmp")
        .tempfile_in(dir)
}

/// Syncs a complete temporary file and renames it over `path`.
pub fn persist(file: NamedTempFile, path: &Path) -> io::Result<()> {
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `bytes` to `path` atomically (see the module docs).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let written = (|| {
        let mut file = temporary_beside(path)?;
        file.write_all(bytes)?;
        persist(file, path)
    })();
    written.map_err(|source| OutputError {
        path: path.to_owned(),
        source,
    })
}
