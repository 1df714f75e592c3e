//! hisp: a Direct secure-messaging and encounter-notification gateway (a HISP).
//!
//! # Layout
//!
//! - [`config`]: `hisp.toml`, typed and strict, with `HISP_*` overrides.
//! - [`clock`]: the injected clock; the only reader of the wall clock.
//! - [`cpu`]: CPU-heavy work (S/MIME) inside async code, off the worker's queue.
//! - [`store`]: the sqlx pool (SQLite or PostgreSQL), migrations, one file per
//!   table family, and sealing of keys and PHI under the master key.
//! - [`audit`]: the append-only, hash-chained audit log.
//! - [`pki`]: the built-in CA: roots, certificate profiles, CRLs, imports.
//! - [`direct`]: the Direct security and trust agent: S/MIME, trust, discovery, MDN/DSN.
//! - [`dns`]: the authoritative DNS responder (CERT records for our users).
//! - [`hl7`]: HL7 v2 without I/O: ER7 parsing, escapes, MLLP framing, ACKs.
//! - [`ops`]: admin operations, each one transaction with its audit entry,
//!   shared by the CLI and (later) the portal and API.
//! - [`web`]: the axum router (`/healthz`, `/metrics`, `/pki/…`).
//! - [`server`]: `serve`: listeners, background workers, graceful shutdown.
//! - [`telemetry`]: tracing setup and Prometheus metrics.
//! - [`cli`]: the command line, one file per noun.

pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cpu;
pub mod direct;
pub mod dns;
pub mod hl7;
pub mod mailbox;
pub mod notify;
pub mod ops;
pub mod pki;
pub mod server;
pub mod smtp;
pub mod store;
pub mod telemetry;
pub mod web;
