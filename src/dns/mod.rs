//! The authoritative DNS responder: answers for every hisp domain from a
//! snapshot of the store, never recursing.

pub mod server;
pub mod wire;
pub mod zone;
