//! Certifying a reader program (docs/certification.md): the adapter contract, the back ends
//! over loopback HTTP, the wire rules, the reference reader, and what makes a result worth
//! handing on: the conformance statement, waivers, the graded verdict and the signed bundle.

pub mod adapter;
pub mod bundle;
#[cfg(feature = "pcsc")]
pub mod card_moves;
#[cfg(feature = "pcsc")]
pub mod containment;
pub mod evidence_rules;
#[cfg(feature = "pcsc")]
mod holding;
pub mod http_backend;
pub mod judge;
mod peer;
#[cfg(feature = "pcsc")]
pub mod program;
#[cfg(feature = "pcsc")]
pub mod reference_reader;
#[cfg(feature = "pcsc")]
mod session;
pub mod statement;
pub mod verdict;
pub mod waivers;
mod wire;
pub mod wire_rules;

/// How a certification's reports name their transport.
pub const TRANSPORT: &str = "pcsc (vpcd) + http, reader program";

/// The wire rules, with their ids (docs/certification.md).
pub use wire_rules::rules;

/// Reads a small YAML file of the certifier's (statement, waivers) into `T`; the error says
/// where (`line:column: field: what`).
pub(crate) fn read_yaml<T: serde::de::DeserializeOwned>(text: &str, max_bytes: usize) -> Result<T, String> {
    if text.len() > max_bytes {
        return Err(format!("{} bytes; at most {max_bytes} are read", text.len()));
    }
    let text = mynatap_sim::yaml_guard::strip_bom(text);
    mynatap_sim::yaml_guard::check(text).map_err(|refused| refused.to_string())?;
    serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        let location = inner.location().map(|l| format!("{}:{}: ", l.line(), l.column())).unwrap_or_default();
        let message = inner.to_string();
        let message = mynatap_sim::yaml_guard::plain_words(message.split(" at line ").next().unwrap_or(&message));
        format!("{location}{}{message}", if at == "." { String::new() } else { format!("{at}: ") })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Any {
        #[allow(dead_code)]
        waivers: Vec<String>,
    }

    #[test]
    fn hostile_shapes_are_refused_at_once_with_a_place() {
        let started = std::time::Instant::now();
        let nested = read_yaml::<Any>(&"[".repeat(60_000), 64 * 1024).unwrap_err();
        assert!(nested.starts_with("1:32: nested more than 32 levels"), "{nested}");
        let aliases = format!("waivers: &w [a]\nmore: [{}]\n", vec!["*w"; 5_000].join(", "));
        assert!(read_yaml::<Any>(&aliases, 256 * 1024).unwrap_err().contains("anchor"));
        assert!(read_yaml::<Any>(&"x".repeat(300_000), 256 * 1024).unwrap_err().contains("at most 262144"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // A byte-order mark in front of a valid file is what an editor on Windows writes.
        assert_eq!(read_yaml::<Any>("\u{feff}waivers: [a]\n", 1024).unwrap().waivers, ["a"]);
    }
}
