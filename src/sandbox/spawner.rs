//! One thread that starts child processes, created before codebox confines itself.
//!
//! Landlock is per thread and inherited by children. codebox landlocks its own threads (the async workers, the
//! blocking pool) at start, but the sandbox helper must still be able to build a mount namespace, which landlock
//! forbids to a confined process. So every spawn goes through this thread, which stays unconfined, and the
//! helper then applies the command's own, stricter, landlock ruleset.

use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};

type Job = Box<dyn FnOnce() + Send>;

pub(super) struct Spawner {
    tx: Mutex<Sender<Job>>,
}

impl Spawner {
    pub(super) fn start() -> Spawner {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("codebox-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("cannot start the spawner thread");
        Spawner { tx: Mutex::new(tx) }
    }

    /// Runs `f` on the spawner thread and returns its result.
    pub(super) fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let (rtx, rrx) = channel();
        let job: Job = Box::new(move || {
            let _ = rtx.send(f());
        });
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).send(job).expect("the spawner thread is gone");
        rrx.recv().expect("the spawner thread dropped a job")
    }
}
