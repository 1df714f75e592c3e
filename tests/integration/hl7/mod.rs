//! The sans-I/O HL7 v2 layer: ER7 parsing over the shared corpus
//! (`../shared/corpus/hl7`, read at test time, never copied), escapes, MLLP
//! framing, ACKs, and robustness against truncated and mutated input.

mod ack;
mod corpus;
mod er7;
mod escape;
mod mllp;
mod robustness;
mod support;
