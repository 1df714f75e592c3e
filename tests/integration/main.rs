//! Integration tests: one binary, a module per area, real databases (SQLite
//! always, PostgreSQL when `HISP_TEST_POSTGRES_URL` is set), real OpenSSL, real
//! sockets on port 0, and a test PKI made by code.

mod agent;
mod audit;
mod cli;
mod directory;
mod discovery;
mod dns;
mod fileserver;
mod harness;
mod hl7;
mod http;
mod matching;
mod notice_fixtures;
mod notice_robustness;
mod notify;
mod notify_disabled;
mod notify_encounters;
mod notify_features;
mod notify_identity;
mod notify_intake;
mod notify_race;
mod notify_review;
mod notify_roster;
mod notify_sensitive;
mod portal;
mod setup;
mod slapd;
mod smtp;
mod store;
mod store_mail;
mod store_writer;
mod testpki;
