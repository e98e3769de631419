//! The JSON Schema of the scenario format (`mynatap schema`), generated from the very types the
//! loader reads, with the value sets the loader checks (keys, reasons, faults, ...) taken from the
//! same constants, so an editor's validator accepts what `mynatap run` accepts.
//!
//! What a schema cannot say (a PIN of four digits only where a keypad types it, a step that names
//! a phone of the world, the contract version a field needs) the loader still checks, with a
//! file:line:column message.

use schemars::{Schema, SchemaGenerator, json_schema};

use mynatap_sim::backend::QualificationValidity;
use mynatap_sim::card::surface::Forgery;
use mynatap_sim::contract::Contract;
use mynatap_sim::pki::KeyAlgorithm;
use mynatap_sim::terminal::Reason;
use mynatap_sim::transport::CommandKind;

/// Every `fault.kind`: the device faults, then the back-end faults.
pub const FAULT_KINDS: &[&str] = &[
    "remove_after",
    "corrupt_response",
    "wrong_status",
    "delay",
    "crl_unavailable",
    "crl_stale",
    "crl_bad_signature",
    "eligibility_unavailable",
    "eligibility_malformed",
    "backend_delay",
    "crl_other_key",
    "crl_unknown_critical_extension",
    "crl_unknown_critical_entry_extension",
    "crl_without_number",
];

/// The schema of the whole file.
pub fn scenario_schema() -> Schema {
    schemars::schema_for!(super::RawScenario)
}

fn optional_one_of(values: Vec<&str>) -> Schema {
    let mut values: Vec<serde_json::Value> = values.into_iter().map(Into::into).collect();
    values.push(serde_json::Value::Null);
    json_schema!({ "enum": values })
}

/// PINs, insurer numbers, security codes, status words and hex: text, or a whole number YAML
/// read from unquoted digits (the loader takes its digits).
pub(super) fn digits(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "anyOf": [{ "type": "string" }, { "type": "integer", "minimum": 0 }, { "type": "null" }] })
}

/// Hex that must be there (`apdu.send`).
pub(super) fn required_digits(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "anyOf": [{ "type": "string" }, { "type": "integer", "minimum": 0 }] })
}

pub(super) fn contract_version(_: &mut SchemaGenerator) -> Schema {
    let versions: Vec<&str> = Contract::ALL.iter().map(|version| version.as_str()).collect();
    let numbers: Vec<f64> = versions.iter().filter_map(|version| version.parse().ok()).collect();
    json_schema!({ "anyOf": [{ "enum": versions }, { "enum": numbers }, { "type": "null" }] })
}

pub(super) fn key(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(KeyAlgorithm::ALL.iter().map(|key| key.name()).collect())
}

pub(super) fn auth(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(vec!["pin", "face"])
}

pub(super) fn arrives(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(vec!["before_request", "after_request"])
}

pub(super) fn fault_kind(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": FAULT_KINDS })
}

pub(super) fn command_kind(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(CommandKind::ALL.iter().map(|kind| kind.name()).collect())
}

pub(super) fn service(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(vec!["crl", "eligibility"])
}

pub(super) fn outcome(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(vec!["verified", "rejected", "not_offered"])
}

pub(super) fn reason(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(Reason::ALL.iter().map(|reason| reason.as_str()).collect())
}

pub(super) fn error_code(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(super::ERROR_CODES.to_vec())
}

pub(super) fn forgery(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(Forgery::ALL.iter().map(|forgery| forgery.name()).collect())
}

pub(super) fn certificate_fault(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(mynatap_sim::pki::CertificateFault::ALL.iter().map(|fault| fault.name()).collect())
}

pub(super) fn qualification(_: &mut SchemaGenerator) -> Schema {
    optional_one_of(QualificationValidity::ALL.iter().map(|status| status.name()).collect())
}
