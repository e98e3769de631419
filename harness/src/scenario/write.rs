//! Every scenario file mynatap writes (generated lives, shrunk failures, imported captures),
//! written from the loader's own serde model: what is written is what `run` reads.
//!
//! The model is serialized to a YAML value, then laid out in the style of the suite's own
//! files: the file, its world, each person and each step as block mappings; everything else
//! (a card, a tap, an expectation, a list of ids) in flow style on one line; digit strings
//! (PINs, insurer numbers, status words, hex) always in double quotes.

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use super::raw::{RawScenario, RawWorld};

/// A scenario that could not be written (the serializer refused a value).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the scenario: {0}")]
pub struct WriteError(#[from] serde_yaml::Error);

/// Comment lines around a written scenario: above the file, and above each step.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    /// Comment lines at the top of the file.
    pub head: Vec<String>,
    /// One comment line above each step, in order (fewer: the rest have none).
    pub steps: Vec<String>,
}

/// Keys whose list is written one item a line (the others in flow style).
const BLOCK_LISTS: [&str; 3] = ["people", "terminals", "steps"];
/// Keys whose mapping, or whose list's mappings, are written in block style.
const BLOCK_MAPPINGS: [&str; 3] = ["world", "people", "steps"];
/// Keys whose text is always quoted: digits and hex that YAML would otherwise read as numbers.
const DIGIT_TEXT: [&str; 9] = ["contract", "pin", "card_info_pin", "security_code", "insurer", "sw", "data", "data_prefix", "send"];

/// Everything of a scenario file but its steps, in the file's order.
#[derive(Serialize)]
struct Head<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    contract: &'a Option<String>,
    id: &'a str,
    title: &'a str,
    covers: &'a [String],
    world: &'a RawWorld,
}

/// The scenario file's text.
pub(crate) fn scenario(file: &RawScenario) -> Result<String, WriteError> {
    scenario_with_notes(file, &Notes::default())
}

/// The scenario file's text with comment lines (their text cleaned of line breaks and control
/// characters, so no value can end a comment and be read as YAML).
pub(crate) fn scenario_with_notes(file: &RawScenario, notes: &Notes) -> Result<String, WriteError> {
    let mut out = String::with_capacity(512 + 96 * file.steps.len());
    for note in &notes.head {
        comment(&mut out, "", note);
    }
    let head = Head { contract: &file.contract, id: &file.id, title: &file.title, covers: &file.covers, world: &file.world };
    if let Value::Mapping(head) = serde_yaml::to_value(head)? {
        block_mapping(&mut out, 0, &head);
    }
    if file.steps.is_empty() {
        out.push_str("steps: []\n");
        return Ok(out);
    }
    out.push_str("steps:\n");
    for (index, step) in file.steps.iter().enumerate() {
        if let Some(note) = notes.steps.get(index) {
            comment(&mut out, "  ", note);
        }
        if let Value::Mapping(step) = serde_yaml::to_value(step)? {
            out.push_str("  - ");
            block_mapping_item(&mut out, 4, &step);
        }
    }
    Ok(out)
}

/// The entries a file shows: a field left unset (null, or an empty list) is left out, as a
/// person writing the file would; `covers` is always there.
fn shown(mapping: &Mapping) -> impl Iterator<Item = (&Value, &Value)> {
    mapping.iter().filter(|(key, value)| !unset(value) || key.as_str() == Some("covers"))
}

/// Null or an empty list: what the model's default leaves unsaid. A mapping always stands, even
/// of nothing (`consent: {}` expects no consent, where no `consent` checks none).
fn unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Sequence(items) => items.is_empty(),
        _ => false,
    }
}

/// A block mapping at `indent`, each entry on lines of its own.
fn block_mapping(out: &mut String, indent: usize, mapping: &Mapping) {
    for (key, value) in shown(mapping) {
        push_indent(out, indent);
        entry(out, indent, key, value);
    }
}

/// A block mapping that is a list item: its first entry follows the `- ` already written.
fn block_mapping_item(out: &mut String, indent: usize, mapping: &Mapping) {
    for (index, (key, value)) in shown(mapping).enumerate() {
        if index > 0 {
            push_indent(out, indent);
        }
        entry(out, indent, key, value);
    }
}

/// One `key: value` of a block mapping at `indent` (the indent already written).
fn entry(out: &mut String, indent: usize, key: &Value, value: &Value) {
    let name = key.as_str().unwrap_or_default();
    scalar(out, "", key, Context::Block);
    match value {
        Value::Mapping(inner) if BLOCK_MAPPINGS.contains(&name) => {
            out.push_str(":\n");
            block_mapping(out, indent + 2, inner);
        }
        Value::Sequence(items) if BLOCK_LISTS.contains(&name) && !items.is_empty() => {
            out.push_str(":\n");
            for item in items {
                push_indent(out, indent + 2);
                out.push_str("- ");
                match item {
                    Value::Mapping(inner) if BLOCK_MAPPINGS.contains(&name) => block_mapping_item(out, indent + 4, inner),
                    other => {
                        flow(out, name, other);
                        out.push('\n');
                    }
                }
            }
        }
        Value::Mapping(_) | Value::Sequence(_) => {
            out.push_str(": ");
            flow(out, name, value);
            out.push('\n');
        }
        scalar_value => {
            out.push_str(": ");
            scalar(out, name, scalar_value, Context::Block);
            out.push('\n');
        }
    }
}

/// A value on one line: `{ a: 1, b: x }`, `[a, b]`, or a scalar (`key` names the scalar's field).
fn flow(out: &mut String, key: &str, value: &Value) {
    match value {
        Value::Mapping(mapping) if shown(mapping).next().is_none() => out.push_str("{}"),
        Value::Mapping(mapping) => {
            out.push_str("{ ");
            for (index, (inner_key, inner)) in shown(mapping).enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                scalar(out, "", inner_key, Context::Flow);
                out.push_str(": ");
                flow(out, inner_key.as_str().unwrap_or_default(), inner);
            }
            out.push_str(" }");
        }
        Value::Sequence(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                flow(out, key, item);
            }
            out.push(']');
        }
        other => scalar(out, key, other, Context::Flow),
    }
}

/// Where a scalar stands: in flow style `,[]{}` end it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Block,
    Flow,
}

/// A scalar, plain where YAML reads it back as the same value in flow and block context,
/// otherwise a double-quoted string (JSON escapes are YAML's).
fn scalar(out: &mut String, key: &str, value: &Value, context: Context) {
    match value {
        Value::String(text) if DIGIT_TEXT.contains(&key) || !plain_is_safe(text, context) => {
            out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
        }
        Value::String(text) => out.push_str(text),
        Value::Null => out.push_str("null"),
        Value::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number.to_string()),
        // Not in the model: written as the serializer would.
        other => out.push_str(serde_yaml::to_string(other).unwrap_or_default().trim_end()),
    }
}

/// Whether `text` unquoted reads back as this very string where it stands.
fn plain_is_safe(text: &str, context: Context) -> bool {
    let reads_back = matches!(serde_yaml::from_str::<Value>(text), Ok(Value::String(read)) if read == text);
    // What another YAML reader (1.1: `yes`, `0755`, `1_000`) would take for a number or a boolean.
    // (A date such as 2030-05-12 stays plain, as in every scenario file of the suite.)
    let number_like = text.parse::<f64>().is_ok() || text.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let boolean_like = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"].contains(&text.to_ascii_lowercase().as_str());
    let flow_indicator = context == Context::Flow && text.contains([',', '[', ']', '{', '}']);
    let breaks_a_line = text.contains(['#', '\n', '\r', '\t']) || text.contains(": ") || text.ends_with(':');
    let starts_an_indicator = text.starts_with(['-', '?', ':', '!', '&', '*', '|', '>', '\'', '"', '%', '@', '`']);
    let quoted_for_another_reason = number_like || boolean_like || flow_indicator || breaks_a_line || starts_an_indicator;
    reads_back && text.trim() == text && !quoted_for_another_reason
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn comment(out: &mut String, indent: &str, text: &str) {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    out.push_str(indent);
    out.push_str("# ");
    out.push_str(&clean);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_only_where_it_reads_back() {
        for safe in ["hanako", "2026-04-01T09:00:00+09:00", "2030-05-12", "a generated life", "髙橋 𠮷"] {
            assert!(plain_is_safe(safe, Context::Flow), "{safe}");
        }
        for unsafe_text in ["1.3", "0000", "1_000", "true", "Yes", "off", "null", "", " x", "a: b", "a, b", "[x]", "#x", "- x", "~", "x\ny", "{a}"] {
            assert!(!plain_is_safe(unsafe_text, Context::Flow), "{unsafe_text}");
        }
        // A comma or a bracket ends a plain scalar only in flow style.
        assert!(plain_is_safe("a life, expectations from the model", Context::Block));
        assert!(!plain_is_safe("a life, expectations from the model", Context::Flow));
    }
}
