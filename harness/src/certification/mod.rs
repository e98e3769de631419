//! Certifying a reader program (docs/certification.md): the adapter contract, the back ends
//! over loopback HTTP, the wire rules, the reference reader, and what makes a result worth
//! handing on: the conformance statement, waivers, the graded verdict and the signed bundle.

pub mod adapter;
pub mod bundle;
pub mod http_backend;
#[cfg(feature = "pcsc")]
pub mod program;
#[cfg(feature = "pcsc")]
pub mod reference_reader;
pub mod statement;
pub mod verdict;
pub mod waivers;
pub mod wire_rules;

/// The wire rules, with their ids (docs/certification.md).
pub use wire_rules::rules;
