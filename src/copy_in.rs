//! `COPY … FROM STDIN`, a chunk at a time: the one loop that sends the staged rows, the
//! snapshot's index and the rejected records, each read back from temporary files, in
//! messages of about [`COPY_CHUNK`] bytes, so memory holds one chunk whatever the size.

use std::ops::DerefMut;

use sqlx::postgres::PgCopyIn;
use sqlx::PgConnection;

/// COPY data sent per message.
pub const COPY_CHUNK: usize = 1 << 20;

/// Why a chunked COPY stopped.
#[derive(Debug)]
pub enum CopyError<E> {
    /// The data could not be read (a temporary file): the COPY was aborted.
    Source(E),
    /// Postgres refused the data, or the connection failed.
    Database(sqlx::Error),
}

/// Sends what `fill` produces into `copy`, one message per call: `fill` appends the
/// next chunk (about [`COPY_CHUNK`] bytes) to an empty buffer, and the data ends when it
/// appends nothing. When `fill` fails, the COPY is aborted with `abort` as its reason.
/// Returns the COPY, not yet finished, so the caller decides when it commits to it.
pub async fn send_chunked<C, E>(
    mut copy: PgCopyIn<C>,
    abort: &str,
    mut fill: impl FnMut(&mut Vec<u8>) -> Result<(), E>,
) -> Result<PgCopyIn<C>, CopyError<E>>
where
    C: DerefMut<Target = PgConnection>,
{
    // Room for the line that crosses the chunk's end.
    let mut data = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
    loop {
        data.clear();
        if let Err(e) = fill(&mut data) {
            let _ = copy.abort(abort).await;
            return Err(CopyError::Source(e));
        }
        if data.is_empty() {
            return Ok(copy);
        }
        copy.send(data.as_slice())
            .await
            .map_err(CopyError::Database)?;
    }
}
