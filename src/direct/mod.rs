//! The Direct security and trust agent. So far: the address and domain newtypes
//! every other module takes.

pub mod address;

pub use address::{AddressError, DirectAddress, Domain};
