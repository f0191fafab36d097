//! An append-only temporary file that can be read back at any offset while it is still
//! being written: where a snapshot keeps its rows, so that memory does not grow with the
//! size of the project. Writes go through an in-memory buffer; reads look in the
//! buffer for what has not reached the file yet, so no flush (and no `&mut`) is needed
//! to read.
//!
//! The file is anonymous (`tempfile::tempfile`, in `TMPDIR`): the operating system
//! deletes it when the process closes it or dies.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// Bytes gathered before one write to the file.
const BUFFER: usize = 1 << 20;

pub struct Spill {
    /// Created at the first write.
    file: Option<File>,
    /// Bytes in the file; the buffer follows them.
    flushed: u64,
    buffer: Vec<u8>,
}

impl Spill {
    pub fn new() -> Self {
        Spill {
            file: None,
            flushed: 0,
            buffer: Vec::new(),
        }
    }

    /// Bytes written so far: the offset the next append starts at.
    pub fn len(&self) -> u64 {
        self.flushed + self.buffer.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the pieces, one after the other.
    pub fn append(&mut self, pieces: &[&[u8]]) -> io::Result<()> {
        for piece in pieces {
            self.buffer.extend_from_slice(piece);
        }
        if self.buffer.len() >= BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(tempfile::tempfile()?),
        };
        file.write_all(&self.buffer)?;
        self.flushed += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Reads `out.len()` bytes from offset `pos`.
    pub fn read_at(&self, pos: u64, out: &mut [u8]) -> io::Result<()> {
        let end = pos + out.len() as u64;
        if end > self.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the spill file",
            ));
        }
        // The part in the file, then the part still in the buffer.
        let in_file = end.min(self.flushed).saturating_sub(pos) as usize;
        if in_file > 0 {
            let file = self
                .file
                .as_ref()
                .ok_or_else(|| io::Error::other("no spill file"))?;
            file.read_exact_at(&mut out[..in_file], pos)?;
        }
        if in_file < out.len() {
            let from = (pos + in_file as u64 - self.flushed) as usize;
            let rest = out.len() - in_file;
            out[in_file..].copy_from_slice(&self.buffer[from..from + rest]);
        }
        Ok(())
    }

    /// Calls `f` with the whole content, in pieces of at most `piece` bytes, in order.
    pub fn for_each_piece(
        &self,
        piece: usize,
        mut f: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut buf = vec![0; piece.min(self.len() as usize)];
        let mut pos = 0;
        while pos < self.len() {
            let n = (self.len() - pos).min(piece as u64) as usize;
            self.read_at(pos, &mut buf[..n])?;
            f(&buf[..n])?;
            pos += n as u64;
        }
        Ok(())
    }
}

/// A spill's content read back line by line (lines end with `\n`), a piece at a time,
/// so a file of any size is read in bounded memory.
pub struct Lines<'a> {
    spill: &'a Spill,
    /// Where the next piece starts in the spill.
    pos: u64,
    buf: Vec<u8>,
    /// Where the next line starts in `buf`.
    start: usize,
}

impl<'a> Lines<'a> {
    /// Bytes read from the spill at a time (a longer line is read in several).
    const PIECE: u64 = 64 * 1024;

    pub fn new(spill: &'a Spill) -> Self {
        Lines {
            spill,
            pos: 0,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// The next line, without its `\n`; `None` after the last.
    pub fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        loop {
            let found = memchr::memchr(b'\n', &self.buf[self.start..]);
            if let Some(at) = found {
                let line = self.start..self.start + at;
                self.start += at + 1;
                return Ok(Some(&self.buf[line]));
            }
            if self.pos >= self.spill.len() {
                // The last line, if it lacks its newline.
                let rest = self.start..self.buf.len();
                self.start = self.buf.len();
                return Ok((!rest.is_empty()).then(|| &self.buf[rest]));
            }
            self.buf.drain(..self.start);
            self.start = 0;
            let n = (self.spill.len() - self.pos).min(Self::PIECE) as usize;
            let old = self.buf.len();
            self.buf.resize(old + n, 0);
            self.spill.read_at(self.pos, &mut self.buf[old..])?;
            self.pos += n as u64;
        }
    }
}

impl Default for Spill {
    fn default() -> Self {
        Spill::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_appended_reads_back_from_the_file_and_the_buffer_alike() {
        let mut spill = Spill::new();
        let big = vec![7u8; BUFFER + 10];
        spill.append(&[b"head", &big]).unwrap();
        spill.append(&[b"tail"]).unwrap();
        assert_eq!(spill.len(), (BUFFER + 18) as u64);

        let mut straddling = vec![0; 8];
        spill
            .read_at((BUFFER + 10) as u64, &mut straddling)
            .unwrap();
        assert_eq!(&straddling, &[7, 7, 7, 7, b't', b'a', b'i', b'l']);
        let mut head = [0; 4];
        spill.read_at(0, &mut head).unwrap();
        assert_eq!(&head, b"head");
        assert!(spill.read_at(spill.len() - 2, &mut head).is_err());

        let mut all = Vec::new();
        spill
            .for_each_piece(1000, |p| {
                all.extend_from_slice(p);
                Ok(())
            })
            .unwrap();
        assert_eq!(all.len() as u64, spill.len());
        assert!(all.starts_with(b"head") && all.ends_with(&[7, b't', b'a', b'i', b'l']));
    }

    #[test]
    fn lines_read_back_whole_across_pieces_and_the_buffer() {
        let mut spill = Spill::new();
        let long = vec![b'x'; 100_000];
        spill.append(&[b"one\n", &long, b"\n\nlast"]).unwrap();
        let mut lines = Lines::new(&spill);
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            got.push(line.to_vec());
        }
        assert_eq!(
            got,
            vec![b"one".to_vec(), long, Vec::new(), b"last".to_vec()]
        );
    }
}
