//! Reads a JSON array from a response body as it arrives, one element at a time, so
//! neither the body nor the parsed array is ever held whole (a large project answers
//! with hundreds of MB). Parsing runs on a blocking thread fed by the async body.

use std::fmt;
use std::io::{self, BufReader, Read};

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use tokio::sync::mpsc;

/// Receives the elements of the array in order, with their index.
pub trait ElementSink: Send + 'static {
    fn element(&mut self, position: u64, value: Value);
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
pub async fn read_array<B, E, S>(mut body: B, sink: S) -> Result<(S, u64), StreamError>
where
    B: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
    S: ElementSink,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(32);
    let parser = tokio::task::spawn_blocking(move || parse(rx, sink));
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
) -> Result<(S, u64), StreamError> {
    read_array_blocking(
        ChannelReader {
            rx,
            current: Bytes::new(),
        },
        sink,
    )
}

/// Feeds the JSON array that `reader` holds to `sink`, element by element, blocking.
pub fn read_array_blocking<R: Read, S: ElementSink>(
    reader: R,
    mut sink: S,
) -> Result<(S, u64), StreamError> {
    let reader = BufReader::with_capacity(256 * 1024, reader);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let count = ArraySeed { sink: &mut sink }
        .deserialize(&mut de)
        .and_then(|n| de.end().map(|()| n));
    match count {
        Ok(n) => Ok((sink, n)),
        Err(e) if e.is_io() || e.is_eof() => Err(StreamError::Interrupted(e.to_string())),
        Err(e) => Err(StreamError::Invalid(e.to_string())),
    }
}

struct ArraySeed<'a, S> {
    sink: &'a mut S,
}

impl<'de, S: ElementSink> DeserializeSeed<'de> for ArraySeed<'_, S> {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: ElementSink> Visitor<'de> for ArraySeed<'_, S> {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut position = 0;
        while let Some(value) = seq.next_element::<Value>()? {
            self.sink.element(position, value);
            position += 1;
        }
        Ok(position)
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

    #[derive(Default)]
    struct Collect(Vec<Value>);
    impl ElementSink for Collect {
        fn element(&mut self, _: u64, value: Value) {
            self.0.push(value);
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
        )
        .await
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(sink.0[1]["id"], "b");
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_interruption_and_not_json_is_invalid() {
        let cut = read_array(chunks(&["[{\"id\":\"a\"},{\"id\""]), Collect::default()).await;
        assert!(matches!(cut, Err(StreamError::Interrupted(_))));
        let html = read_array(chunks(&["<html>Bad gateway</html>"]), Collect::default()).await;
        assert!(matches!(html, Err(StreamError::Invalid(_))));
        let object = read_array(chunks(&["{\"id\":\"a\"}"]), Collect::default()).await;
        assert!(matches!(object, Err(StreamError::Invalid(_))));
    }
}
