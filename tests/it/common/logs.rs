//! What the bot logs during a test, kept for that test alone.
//!
//! The integration tests share one process and libtest runs them side by
//! side, so a log for the whole process would hold every test's lines, and
//! a test that asserts a line was logged once, or never, would see other
//! tests'. So each test has its own [`Capture`]: libtest runs each test on
//! a thread of its own, and that thread logs into it. The bot runs on a
//! tokio runtime of its own ([`spawn_bot`]) whose every thread logs into
//! the capture of the test that started it. Lines logged on any other
//! thread (the test's own runtime's workers, where the people's clients
//! run) are not kept.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinError;
use tracing::Dispatch;

/// One test's log, and the subscriber that writes it: the bot's own lines
/// at debug level (stricter than production), everything else at warn.
#[derive(Clone)]
pub struct Capture {
    lines: Arc<Mutex<Vec<u8>>>,
    dispatch: Dispatch,
}

thread_local! {
    /// The capture this thread logs into.
    static CAPTURE: OnceCell<Capture> = const { OnceCell::new() };
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn new() -> Capture {
        let lines: Arc<Mutex<Vec<u8>>> = Arc::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn,safeguarding_bot=debug"))
            .with_ansi(false)
            .with_writer(move || Writer(writer.clone()))
            .finish();
        Capture {
            lines,
            dispatch: Dispatch::new(subscriber),
        }
    }

    /// The calling thread logs into this capture from now until it ends.
    fn adopt(&self) {
        CAPTURE.with(|c| {
            let _ = c.set(self.clone());
        });
        // The guard would give the thread back its previous subscriber when
        // dropped; forgotten, this one stays the thread's until it ends.
        std::mem::forget(tracing::dispatcher::set_default(&self.dispatch));
    }

    /// Everything logged into it so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lines.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// The calling test's capture, made on first use (call it on the test's
/// own thread: in the test's body, not in a task it spawned).
pub fn this_test() -> Capture {
    CAPTURE.with(|c| c.get().cloned()).unwrap_or_else(|| {
        let capture = Capture::new();
        capture.adopt();
        capture
    })
}

/// Starts capturing this test's log, if it has not started yet.
pub fn init_log_capture() {
    this_test();
}

/// What this test's bots have logged so far.
pub fn captured_log() -> String {
    this_test().text()
}

/// Runs `bot` (the bot's `run`) as `tokio::spawn` would, but on a runtime
/// of its own whose every thread logs into this test's capture. Dropping
/// the handle stops that runtime and every task the bot left behind, as the
/// end of the test's own runtime would.
pub fn spawn_bot<F>(bot: F) -> BotTask<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let capture = this_test();
    let (done_tx, done) = oneshot::channel();
    let (dropped, dropped_rx) = oneshot::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let finished_here = finished.clone();
    std::thread::Builder::new()
        .name("the bot's runtime".into())
        .spawn(move || {
            capture.adopt();
            let on_start = capture.clone();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .on_thread_start(move || on_start.adopt())
                .build()
                .expect("the bot's runtime");
            let task = runtime.spawn(bot);
            let out = runtime.block_on(async move {
                tokio::select! {
                    out = task => Some(out),
                    _ = dropped_rx => None,
                }
            });
            finished_here.store(true, Ordering::SeqCst);
            if let Some(out) = out {
                let _ = done_tx.send(out);
            }
            runtime.shutdown_timeout(Duration::from_secs(10));
        })
        .expect("a thread for the bot's runtime");
    BotTask {
        done,
        finished,
        _dropped: dropped,
    }
}

/// The bot run by [`spawn_bot`]: awaited, what its task returned, as a
/// `JoinHandle` gives it.
pub struct BotTask<T> {
    done: oneshot::Receiver<Result<T, JoinError>>,
    finished: Arc<AtomicBool>,
    /// Dropped with the handle, which stops the bot's runtime.
    _dropped: oneshot::Sender<()>,
}

impl<T> BotTask<T> {
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
}

impl<T> Future for BotTask<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.done).poll(cx) {
            Poll::Ready(Ok(out)) => Poll::Ready(out),
            Poll::Ready(Err(_)) => panic!("the bot's runtime ended without its task's result"),
            Poll::Pending => Poll::Pending,
        }
    }
}
