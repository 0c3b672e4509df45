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
        Workers::with_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    fn with_threads(count: usize) -> io::Result<Workers> {
        let workers = (0..count.max(1)).map(Worker::start).collect::<io::Result<Vec<_>>>()?;
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
        // The access lines a thread writes wait until it has nothing else to do (see `logs`).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(crate::logs::flush_gathered)
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<Duration>();
        let thread = std::thread::Builder::new().name(format!("sharelock-serve-{index}")).spawn(move || {
            crate::logs::gather_on_this_thread();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_string()
    }

    #[test]
    fn each_connection_goes_to_the_thread_serving_the_fewest() {
        let workers = Workers::with_threads(2).unwrap();
        let names = Arc::new(Mutex::new(Vec::new()));
        let (release, released) = tokio::sync::watch::channel(false);
        for _ in 0..4 {
            let (names, mut released) = (names.clone(), released.clone());
            workers.serve(move || async move {
                names.lock().unwrap().push(thread_name());
                let _ = released.wait_for(|r| *r).await;
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while names.lock().unwrap().len() < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut names = names.lock().unwrap().clone();
        names.sort();
        assert_eq!(names, ["sharelock-serve-0", "sharelock-serve-0", "sharelock-serve-1", "sharelock-serve-1"]);
        release.send(true).unwrap();
        workers.stop(Duration::from_secs(5));
    }

    #[test]
    fn stopping_lets_what_a_response_left_running_finish_within_the_linger() {
        let workers = Workers::with_threads(1).unwrap();
        let settled = Arc::new(AtomicBool::new(false));
        let flag = settled.clone();
        workers.serve(move || async move {
            // As a limited download's settling is spawned when its body drops.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                flag.store(true, Ordering::SeqCst);
            });
        });
        workers.stop(Duration::from_secs(10));
        assert!(settled.load(Ordering::SeqCst), "the task left running was dropped");
    }

    #[test]
    fn stopping_does_not_wait_past_the_linger() {
        let workers = Workers::with_threads(1).unwrap();
        workers.serve(|| async {
            tokio::time::sleep(Duration::from_secs(600)).await;
        });
        let started = Instant::now();
        workers.stop(Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(60), "stop waited {:?}", started.elapsed());
    }
}
