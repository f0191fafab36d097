//! Reads a JSON array from a response body as it arrives, one element at a time, so
//! neither the body nor the parsed array is ever held whole (a large project answers
//! with hundreds of MB). Parsing runs on a blocking thread fed by the async body.
//!
//! The array is split into its elements by a small scanner that only follows strings
//! and brackets; each element's text goes to the sink, which parses it with
//! `serde_json` from a slice (several times faster than from a reader) straight into
//! the types it needs. A body that ends early is an interruption (worth a retry);
//! anything that is not a JSON array, or an element that is not JSON, is invalid.
//!
//! One element is held at a time, and never more than a cap of it (`max_element`): an
//! element that grows past the cap makes the body invalid before it is held whole.

use std::fmt;
use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

/// Receives the elements of the array in order, with their index.
pub trait ElementSink: Send + 'static {
    /// `json` is the text of one element, whitespace around it left out. An error says
    /// it is not JSON, which makes the whole body invalid.
    fn element(&mut self, position: u64, json: &[u8]) -> Result<(), serde_json::Error>;

    /// The array has ended. An error says an element was not JSON after all (for a
    /// sink that reads elements on other threads), which makes the body invalid.
    fn end(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Why an array could not be read.
#[derive(Debug)]
pub enum StreamError {
    /// The body broke off: the connection failed or the array ended early. Worth a retry.
    Interrupted(String),
    /// The body is complete but is not a JSON array.
    Invalid(String),
}

/// Feeds `body` to `sink` element by element; returns the sink and the element count.
/// An element longer than `max_element` bytes makes the body invalid.
pub async fn read_array<B, E, S>(
    mut body: B,
    sink: S,
    max_element: usize,
) -> Result<(S, u64), StreamError>
where
    B: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
    S: ElementSink,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(32);
    let parser = tokio::task::spawn_blocking(move || parse(rx, sink, max_element));
    while let Some(chunk) = body.next().await {
        let failed = chunk.is_err();
        // The parser stops early on invalid JSON; its result says why.
        if tx.send(chunk.map_err(|e| e.to_string())).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    parser
        .await
        .map_err(|e| StreamError::Interrupted(format!("the parser stopped: {e}")))?
}

fn parse<S: ElementSink>(
    rx: mpsc::Receiver<Result<Bytes, String>>,
    sink: S,
    max_element: usize,
) -> Result<(S, u64), StreamError> {
    let reader = ChannelReader {
        rx,
        current: Bytes::new(),
    };
    read_array_blocking(reader, sink, max_element)
}

/// Bytes read at a time; the buffer grows beyond it only for an element larger than it.
const READ_SIZE: usize = 256 * 1024;

/// Feeds the JSON array that `reader` holds to `sink`, element by element, blocking.
/// An element longer than `max_element` bytes makes the body invalid.
pub fn read_array_blocking<R: Read, S: ElementSink>(
    reader: R,
    mut sink: S,
    max_element: usize,
) -> Result<(S, u64), StreamError> {
    let mut input = Input {
        reader,
        max_element,
        data: vec![0; READ_SIZE],
        start: 0,
        end: 0,
        discarded: 0,
        eof: false,
        pending: 0,
    };
    let mut position = 0;
    let mut expect = Expect::Open;
    loop {
        let Some(b) = input.peek_non_space()? else {
            return match expect {
                Expect::Done => match sink.end() {
                    Ok(()) => Ok((sink, position)),
                    Err(reason) => Err(StreamError::Invalid(reason)),
                },
                _ => Err(StreamError::Interrupted(format!(
                    "EOF while parsing the array: the body ended after {} bytes and {position} elements",
                    input.offset()
                ))),
            };
        };
        expect = match (expect, b) {
            (Expect::Open, b'[') => Expect::FirstElement,
            (Expect::Open, _) => return Err(input.invalid("expected a JSON array")),
            (Expect::FirstElement, b']') | (Expect::CommaOrClose, b']') => Expect::Done,
            (Expect::CommaOrClose, b',') => Expect::Element,
            (Expect::CommaOrClose, _) => {
                return Err(input.invalid("expected `,` or `]` after an element"))
            }
            (Expect::FirstElement | Expect::Element, _) => {
                let json = input.element().map_err(|e| match e {
                    StreamError::Invalid(reason) => {
                        StreamError::Invalid(format!("element {position}: {reason}"))
                    }
                    other => other,
                })?;
                sink.element(position, json).map_err(|e| {
                    StreamError::Invalid(format!("element {position} is not JSON: {e}"))
                })?;
                position += 1;
                input.release();
                expect = Expect::CommaOrClose;
                continue;
            }
            (Expect::Done, _) => return Err(input.invalid("trailing characters after the array")),
        };
        input.start += 1;
    }
}

/// What may come next in the array.
#[derive(Clone, Copy)]
enum Expect {
    Open,
    FirstElement,
    Element,
    CommaOrClose,
    Done,
}

/// A window on the body: `data[start..end]` is read and not yet consumed.
struct Input<R> {
    reader: R,
    /// The longest element accepted.
    max_element: usize,
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes dropped from the front of `data` so far, for offsets in messages.
    discarded: u64,
    eof: bool,
    /// The length of the element last returned, consumed by [`Input::release`].
    pending: usize,
}

impl<R: Read> Input<R> {
    fn offset(&self) -> u64 {
        self.discarded + self.start as u64
    }

    fn invalid(&self, what: &str) -> StreamError {
        StreamError::Invalid(format!("{what} at byte {}", self.offset()))
    }

    /// Reads more, keeping `data[start..end]`; false at the end of the body.
    fn fill(&mut self) -> Result<bool, StreamError> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.discarded += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        if self.data.len() - self.end < READ_SIZE / 2 {
            self.data.resize(self.data.len() * 2, 0);
        }
        loop {
            match self.reader.read(&mut self.data[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StreamError::Interrupted(e.to_string())),
            }
        }
    }

    /// The next byte that is not JSON whitespace, left unconsumed; none at the end.
    fn peek_non_space(&mut self) -> Result<Option<u8>, StreamError> {
        loop {
            while self.start < self.end {
                match self.data[self.start] {
                    b' ' | b'\t' | b'\n' | b'\r' => self.start += 1,
                    b => return Ok(Some(b)),
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// The element starting at `start`: its text, up to its last byte. The element
    /// stays in the window until [`Input::release`].
    fn element(&mut self) -> Result<&[u8], StreamError> {
        let first = self.data[self.start];
        let mut depth: u32 = 0;
        let mut in_string = false;
        let mut escaped = false;
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        // Scanned so far, relative to `start` (which `fill` may move).
        let mut scanned = 0;
        loop {
            let bytes = &self.data[self.start + scanned..self.end];
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes[i];
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if let Some(at) = memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                        i += at;
                        if bytes[i] == b'\\' {
                            escaped = true;
                        } else {
                            in_string = false;
                            if depth == 0 {
                                return Ok(self.take(scanned + i + 1));
                            }
                        }
                    } else {
                        i = bytes.len();
                        continue;
                    }
                } else if scalar {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        return Ok(self.take(scanned + i));
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                return Ok(self.take(scanned + i + 1));
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            scanned += bytes.len();
            if scanned > self.max_element {
                return Err(StreamError::Invalid(format!(
                    "larger than the cap of {} (--max-element-size); reading stopped there",
                    bytesize::ByteSize(self.max_element as u64)
                )));
            }
            if !self.fill()? {
                if scalar {
                    return Ok(self.take(scanned));
                }
                return Err(StreamError::Interrupted(format!(
                    "EOF while parsing an element: the body ended after {} bytes",
                    self.offset() + scanned as u64
                )));
            }
        }
    }

    /// The `len` bytes at `start`, marked as the element to release next.
    fn take(&mut self, len: usize) -> &[u8] {
        self.pending = len;
        &self.data[self.start..self.start + len]
    }

    /// Consumes the element last returned.
    fn release(&mut self) {
        self.start += std::mem::take(&mut self.pending);
    }
}

/// A blocking `Read` over the chunks the async side sends.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(reason)) => return Err(io::Error::other(reason)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    use serde_json::{json, Value};

    #[derive(Default)]
    struct Collect(Vec<Value>);
    impl ElementSink for Collect {
        fn element(&mut self, _: u64, json: &[u8]) -> Result<(), serde_json::Error> {
            self.0.push(serde_json::from_slice(json)?);
            Ok(())
        }
    }

    fn chunks(parts: &[&'static str]) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p.as_bytes())))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn elements_split_across_chunks_are_read_in_order() {
        let (sink, n) = read_array(
            chunks(&["[{\"id\":", "\"a\"},{\"id\"", ":\"b\"}]"]),
            Collect::default(),
            usize::MAX,
        )
        .await
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(sink.0[1]["id"], "b");
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_interruption_and_not_json_is_invalid() {
        let cut = read_array(
            chunks(&["[{\"id\":\"a\"},{\"id\""]),
            Collect::default(),
            usize::MAX,
        )
        .await;
        assert!(matches!(cut, Err(StreamError::Interrupted(_))));
        let html = read_array(
            chunks(&["<html>Bad gateway</html>"]),
            Collect::default(),
            usize::MAX,
        )
        .await;
        assert!(matches!(html, Err(StreamError::Invalid(_))));
        let object = read_array(chunks(&["{\"id\":\"a\"}"]), Collect::default(), usize::MAX).await;
        assert!(
            matches!(object, Err(StreamError::Invalid(m)) if m.contains("expected a JSON array"))
        );
        let inside = read_array(
            chunks(&["[{\"id\":\"a\"", "}, {\"a\": [1, 2"]),
            Collect::default(),
            usize::MAX,
        )
        .await;
        assert!(
            matches!(inside, Err(StreamError::Interrupted(m)) if m.contains("EOF while parsing"))
        );
        let between = read_array(
            chunks(&["[{\"id\":\"a\"}, "]),
            Collect::default(),
            usize::MAX,
        )
        .await;
        assert!(matches!(between, Err(StreamError::Interrupted(_))));
    }

    #[test]
    fn strings_escapes_scalars_and_nesting_split_where_json_does() {
        let body = r#" [ {"a": "x]}\"y", "b": [[1], {"c": "\\"}]} ,"s,]", 12 ,null,[],
            {"deep": {"er": [true]}} ] "#;
        let (sink, n) =
            read_array_blocking(body.as_bytes(), Collect::default(), usize::MAX).unwrap();
        assert_eq!(n, 6);
        assert_eq!(
            Value::Array(sink.0),
            json!([{"a": "x]}\"y", "b": [[1], {"c": "\\"}]}, "s,]", 12, null, [], {"deep": {"er": [true]}}])
        );
        let empty = read_array_blocking(&b"[ ]"[..], Collect::default(), usize::MAX).unwrap();
        assert_eq!(empty.1, 0);
        for bad in ["[1 2]", "[1,]", "[{]}", "[1] x", "[{\"a\":1}}]"] {
            let result = read_array_blocking(bad.as_bytes(), Collect::default(), usize::MAX);
            assert!(matches!(result, Err(StreamError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn an_element_larger_than_the_read_buffer_is_read_whole() {
        let long = "é".repeat(READ_SIZE);
        let body = format!("[{{\"name\": \"{long}\"}}, 1]");
        let (sink, n) =
            read_array_blocking(body.as_bytes(), Collect::default(), usize::MAX).unwrap();
        assert_eq!(n, 2);
        assert_eq!(sink.0[0]["name"].as_str().unwrap().len(), long.len());
    }

    #[test]
    fn an_element_past_the_cap_fails_the_body_before_it_is_held_whole() {
        let long = "x".repeat(4 * READ_SIZE);
        let body = format!("[1, {{\"name\": \"{long}\"}}, 2]");

        let result = read_array_blocking(body.as_bytes(), Collect::default(), READ_SIZE);

        match result {
            Err(StreamError::Invalid(reason)) => {
                assert!(
                    reason.starts_with("element 1: larger than the cap"),
                    "{reason}"
                )
            }
            other => panic!("expected the cap to stop the element: {:?}", other.err()),
        }
        let fits = read_array_blocking(body.as_bytes(), Collect::default(), 5 * READ_SIZE);
        assert_eq!(fits.unwrap().1, 3);
    }
}
