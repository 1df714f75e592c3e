//! CPU-heavy work inside async code.
//!
//! Signing, encrypting, decrypting and verifying a Direct message take from
//! about a millisecond (one RSA-2048 private-key operation) to a tenth of a
//! second (a 20 MiB message). Run inline on a runtime worker, that time is
//! taken from every other task queued on the same worker: an MLLP ACK, a DNS
//! answer or an SMTP reply waits behind it. [`run`] tells the multi-threaded
//! runtime first, so it hands this worker's queue to another thread while the
//! work runs (`tokio::task::block_in_place`). The closure borrows from its
//! caller, so a large message is not copied to reach another thread.
//!
//! On a current-thread runtime (most `#[tokio::test]`s) the work simply runs
//! inline: there is no other worker to hand the queue to, and
//! `block_in_place` would panic there. Outside any runtime, and on the thread
//! of a multi-threaded runtime's `block_on`, `block_in_place` itself just runs
//! the work. Do not call it from a `LocalSet` (hisp has none): that passes the
//! flavor check and then panics. [`run_for`] hands off only work on a large
//! input.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Inputs smaller than this are worked on inline, queue and all. The handoff
/// wakes another thread and takes the queue back after: for the few
/// milliseconds of a small message's RSA operations it cost more than it
/// saved (BENCHMARKS.md, "Session 16": the MLLP intake's rate fell by about
/// 7% with every alert's operations handed off).
pub const HAND_OFF_FROM: usize = 256 * 1024;

/// [`run`] for work on an input of `len` bytes: handed off from
/// [`HAND_OFF_FROM`] bytes, inline below.
pub fn run_for<T>(len: usize, work: impl FnOnce() -> T) -> T {
    if len >= HAND_OFF_FROM {
        run(work)
    } else {
        work()
    }
}

/// Run `work` on this thread, letting the runtime's other tasks go on
/// elsewhere meanwhile.
pub fn run<T>(work: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::{HAND_OFF_FROM, run, run_for};
    use std::sync::mpsc;
    use std::time::Duration;

    /// A bound on a wait that, with the fix, ends at once. Failing tests hit it.
    const PATIENCE: Duration = Duration::from_secs(20);

    /// The blocking wait a test hands to `run` or `run_for`.
    type Wait = Box<dyn FnOnce() -> Result<u32, mpsc::RecvTimeoutError>>;

    /// On a runtime with one worker, start a task, then block in `hand_off`
    /// for up to `wait` until that task has run: what the wait returned.
    fn task_ran_while_blocked(
        wait: Duration,
        hand_off: fn(Wait) -> Result<u32, mpsc::RecvTimeoutError>,
    ) -> Result<u32, mpsc::RecvTimeoutError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            tokio::spawn(async move {
                let (tx, rx) = mpsc::channel::<u32>();
                let other = tokio::spawn(async move {
                    let _ = tx.send(7);
                });
                let got = hand_off(Box::new(move || rx.recv_timeout(wait)));
                other.await.expect("other task");
                got
            })
            .await
            .expect("task")
        })
    }

    /// The work blocks until another task of the same runtime has run. With one
    /// worker, that task can run only if `run` handed the worker's queue away.
    #[test]
    fn other_tasks_run_while_the_work_blocks() {
        assert_eq!(
            task_ran_while_blocked(PATIENCE, run),
            Ok(7),
            "the other task did not run while the work blocked"
        );
        assert_eq!(
            task_ran_while_blocked(PATIENCE, |w| run_for(HAND_OFF_FROM, w)),
            Ok(7),
            "a large input's work was not handed off"
        );
    }

    /// Below the threshold the work keeps the queue: with one worker, the other
    /// task cannot run until the work is done.
    #[test]
    fn small_work_stays_inline() {
        assert_eq!(
            task_ran_while_blocked(Duration::from_millis(300), |w| run_for(
                HAND_OFF_FROM - 1,
                w
            )),
            Err(mpsc::RecvTimeoutError::Timeout),
            "a small input's work was handed off"
        );
    }

    #[test]
    fn inline_on_a_current_thread_runtime_and_outside_one() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(async { run(|| 2 + 2) }), 4);
        assert_eq!(run(|| "outside"), "outside");
    }
}
