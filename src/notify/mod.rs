//! Notify: HL7 v2 ADT feeds over MLLP in, encounter alerts out as Direct
//! messages. `mllp.rs` (the listener: dedup, commit, ACK), `adt.rs` (ADT to
//! an encounter event, and the encounter state machine), `process.rs` (the
//! worker: consent, sensitivity, roster matching, alerts), `alert.rs`
//! (rendering), `roster.rs` (feeds, rosters, consent operations), `mpi.rs`
//! (patient matching), `roster_csv.rs` (the panel upload parser), `digest.rs` (the daily digest),
//! `review.rs` (deciding near-miss matches), `opt_out.rs` (what an opt-out
//! removes).

pub mod adt;
pub mod alert;
pub mod allow;
pub mod digest;
pub mod mllp;
pub mod mpi;
mod opt_out;
pub mod pins;
pub mod process;
pub mod retention;
pub mod review;
pub mod roster;
pub mod roster_csv;
pub mod sensitive;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::smtp::Gateway;

/// Everything the MLLP listener and the notify worker share.
#[derive(Clone, Debug)]
pub struct Notifier {
    /// The outbound Direct path (and the hisp behind it).
    pub gw: Gateway,
    /// Wakes the worker when an ADT message is committed.
    pub ready: Arc<Notify>,
    /// Received messages waiting for their group commit.
    intake: Arc<mllp::Intake>,
    /// Time and connection limits of the MLLP listener.
    pub mllp_limits: mllp::Limits,
}

impl Notifier {
    /// A notifier sending through `gw`.
    pub fn new(gw: Gateway) -> Self {
        Self {
            gw,
            ready: Arc::new(Notify::new()),
            intake: Arc::default(),
            mllp_limits: mllp::Limits::DEFAULT,
        }
    }

    /// ADT messages received over MLLP and waiting for a commit turn (those
    /// taken into the commit under way are no longer counted): the
    /// `hisp_mllp_intake_pending` gauge.
    pub fn intake_pending(&self) -> usize {
        self.intake.len()
    }
}
