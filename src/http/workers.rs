//! The threads that serve connections: one per core, each running a single-threaded runtime,
//! and each connection served from start to end by one of them.
//!
//! Why not tokio's multi-threaded runtime, which the rest of the process uses: its workers
//! steal tasks from each other and wake each other up to do so. For small downloads that is most
//! of the cost beyond the work itself: the profile of the small-GET benchmark had about a fifth
//! of its time in futex wake-ups and context switches between the workers (BENCHMARKS.md). nginx
//! keeps each connection on one worker process for the same reason. A connection that stays on
//! its thread never hands a task across, and the accept loop gives each new connection to the
//! thread serving the fewest, so the load stays even without stealing.
//!
//! Blocking work still goes to the blocking pool (each runtime has its own), and anything a
//! request leaves running after its response (a limited download's settling, a lingering body's
//! drain) runs on its connection's thread. Stopping waits for those for a short while before the
//! threads end (see [`Workers::stop`]).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The serving threads.
#[derive(Debug)]
pub struct Workers {
    workers: Vec<Worker>,
}

#[derive(Debug)]
struct Worker {
    runtime: Handle,
    /// Connections this thread is serving.
    load: Arc<AtomicUsize>,
    stop: oneshot::Sender<Duration>,
    thread: std::thread::JoinHandle<()>,
}

impl Workers {
    /// Starts one thread per core the process may use.
    pub fn start() -> io::Result<Workers> {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = (0..count).map(Worker::start).collect::<io::Result<Vec<_>>>()?;
        Ok(Workers { workers })
    }

    /// Runs `connection` on the thread serving the fewest connections. `connection` is called on
    /// that thread, so what it makes (sockets, timers) belongs to that thread's runtime.
    pub fn serve<F, Fut>(&self, connection: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let worker = self.workers.iter().min_by_key(|w| w.load.load(Ordering::Relaxed)).expect("at least one worker");
        let load = Served::new(worker.load.clone());
        // A current-thread runtime runs its tasks on its own thread only.
        worker.runtime.spawn(async move {
            let _load = load;
            connection().await;
        });
    }

    /// Ends the threads. Tasks a response left behind (see the module's comment) get up to
    /// `linger` to finish; the connections themselves must have ended already.
    pub fn stop(self, linger: Duration) {
        let threads: Vec<_> = self
            .workers
            .into_iter()
            .map(|w| {
                let _ = w.stop.send(linger);
                w.thread
            })
            .collect();
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("a serving thread panicked");
            }
        }
    }
}

impl Worker {
    fn start(index: usize) -> io::Result<Worker> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<Duration>();
        let thread = std::thread::Builder::new().name(format!("sharelock-serve-{index}")).spawn(move || {
            runtime.block_on(async {
                let linger = stopped.await.unwrap_or_default();
                // Tasks run only while the thread drives them: let what the last responses left
                // running finish, within bounds, before the runtime drops them.
                let deadline = tokio::time::Instant::now() + linger;
                let metrics = Handle::current().metrics();
                while metrics.num_alive_tasks() > 0 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        })?;
        Ok(Worker { runtime: handle, load: Arc::default(), stop, thread })
    }
}

/// Counts a connection against its thread while it lives.
struct Served(Arc<AtomicUsize>);

impl Served {
    fn new(load: Arc<AtomicUsize>) -> Served {
        load.fetch_add(1, Ordering::Relaxed);
        Served(load)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
