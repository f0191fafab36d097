//! Progress of long work (fetching or reading installations, applying a snapshot): a
//! progress bar on a terminal, a `progress` log line every `--progress-interval`
//! otherwise, so a job's log shows it is alive during a long fetch.
//!
//! The stages call [`Progress::start`] and feed a [`Counter`]; whether that draws a bar
//! or logs is decided once, by [`init`], from where stderr goes.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::Instrument;

use crate::api::stream::ElementSink;

/// How progress is shown, chosen once per process.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Bars on stderr (a terminal with text logs).
    Bars,
    /// A log line per interval.
    Lines(Duration),
}

static MODE: OnceLock<Mode> = OnceLock::new();
/// The bars on screen; log lines are written around them (see [`LogWriter`]).
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Chooses bars (`terminal`: stderr is a terminal and logs are text) or periodic log
/// lines every `interval`. Without a call, progress is shown as log lines every 10s.
pub fn init(terminal: bool, interval: Duration) {
    let mode = if terminal {
        Mode::Bars
    } else {
        Mode::Lines(interval.max(Duration::from_millis(1)))
    };
    let _ = MODE.set(mode);
}

fn mode() -> Mode {
    *MODE.get_or_init(|| Mode::Lines(Duration::from_secs(10)))
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Installations (array elements) read.
    Installations,
    /// Bytes of a file read.
    Bytes,
    /// Nothing countable: a spinner with the elapsed time.
    None,
}

/// One stage's progress; cleared (bar) or stopped (log lines) when dropped.
pub struct Progress {
    counter: Counter,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts showing `stage` (e.g. "fetching installations"); `total` when known.
    pub fn start(stage: &'static str, unit: Unit, total: Option<u64>) -> Progress {
        let done = Arc::new(AtomicU64::new(0));
        match mode() {
            Mode::Bars => {
                let bar = BARS
                    .get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
                    .add(new_bar(stage, unit, total));
                bar.enable_steady_tick(Duration::from_millis(120));
                Progress {
                    counter: Counter {
                        done,
                        bar: Some(bar),
                    },
                    ticker: None,
                }
            }
            Mode::Lines(interval) => {
                // In the span of the stage that started it (the run's project).
                let lines = log_lines(stage, unit, total, done.clone(), interval)
                    .instrument(tracing::Span::current());
                let ticker = tokio::runtime::Handle::try_current()
                    .ok()
                    .map(|rt| rt.spawn(lines));
                Progress {
                    counter: Counter { done, bar: None },
                    ticker,
                }
            }
        }
    }

    /// A handle that counts, for sinks and readers on other threads.
    pub fn counter(&self) -> Counter {
        self.counter.clone()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        if let Some(bar) = &self.counter.bar {
            bar.finish_and_clear();
            if let Some(bars) = BARS.get() {
                bars.remove(bar);
            }
        }
    }
}

fn new_bar(stage: &'static str, unit: Unit, total: Option<u64>) -> ProgressBar {
    let template = match (unit, total) {
        (Unit::Bytes, Some(_)) => {
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)"
        }
        (Unit::Bytes, None) => "{spinner} {msg} {bytes} ({bytes_per_sec}) {elapsed}",
        (Unit::Installations, _) => {
            "{spinner} {msg} {human_pos} installations ({per_sec}) {elapsed}"
        }
        (Unit::None, _) => "{spinner} {msg} {elapsed}",
    };
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.with_message(stage)
}

/// Logs `progress` lines until aborted.
async fn log_lines(
    stage: &'static str,
    unit: Unit,
    total: Option<u64>,
    done: Arc<AtomicU64>,
    interval: Duration,
) {
    let started = Instant::now();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        ticks.tick().await;
        let seconds = started.elapsed().as_secs_f64();
        let done = done.load(Ordering::Relaxed);
        match unit {
            Unit::Installations => {
                tracing::info!(stage, installations = done, seconds, "progress")
            }
            Unit::Bytes => {
                tracing::info!(
                    stage,
                    bytes = done,
                    total_bytes = total,
                    seconds,
                    "progress"
                )
            }
            Unit::None => tracing::info!(stage, seconds, "progress"),
        }
    }
}

/// Counts units of a stage; cheap to clone and to call from any thread.
#[derive(Clone)]
pub struct Counter {
    done: Arc<AtomicU64>,
    bar: Option<ProgressBar>,
}

impl Counter {
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Back to zero: a retried fetch starts the array over.
    pub fn reset(&self) {
        self.done.store(0, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_position(0);
        }
    }

    /// Wraps a sink so that each element it receives counts one.
    pub fn counting<S>(&self, inner: S) -> Counted<S> {
        self.reset();
        Counted {
            inner,
            counter: self.clone(),
        }
    }
}

/// A sink that counts the elements it passes on.
pub struct Counted<S> {
    inner: S,
    counter: Counter,
}

impl<S> Counted<S> {
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: ElementSink> ElementSink for Counted<S> {
    fn element(&mut self, position: u64, json: &[u8]) -> Result<(), serde_json::Error> {
        self.inner.element(position, json)?;
        self.counter.add(1);
        Ok(())
    }

    fn end(&mut self) -> Result<(), String> {
        self.inner.end()
    }
}

/// A reader that counts the bytes read through it.
pub struct CountingReader<R> {
    inner: R,
    counter: Counter,
}

impl<R> CountingReader<R> {
    pub fn new(inner: R, counter: Counter) -> Self {
        CountingReader { inner, counter }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.add(n as u64);
        Ok(n)
    }
}

/// The log writer for text logs on a terminal: each event is written whole, with any
/// progress bars lifted out of the way and redrawn below it.
pub struct LogWriter(Vec<u8>);

impl LogWriter {
    pub fn make() -> LogWriter {
        LogWriter(Vec::new())
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let write = || {
            let _ = io::stderr().write_all(&self.0);
        };
        match BARS.get() {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }
}
