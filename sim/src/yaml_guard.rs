//! A linear pre-check of untrusted YAML before the parser sees it: nesting depth, anchors,
//! aliases and tags, and the byte-order mark.
//!
//! Why: libyaml (under serde_yaml) is quadratic in flow nesting (a 1 MB file of `[` took 822 s of
//! CPU), and serde_yaml expands aliases into copies, so a 800 KB file can ask for gigabytes. No file
//! mynatap reads (scenarios, statements, waivers, profiles) needs anchors, aliases or tags, so
//! they are refused where they stand, and nesting past [`MAX_DEPTH`] is refused before parsing.
//!
//! The scan follows just enough of YAML's token rules to tell where a node starts (only there do
//! `&`, `*`, `!`, quotes, `|`/`>` and `[`/`{` mean what they mean): one pass, no allocation but the
//! indentation stack, whose size is bounded by the depth limit.

/// Deepest nesting read: blocks, sequence entries on one line and flow brackets together. The
/// deepest shipped file nests 7 levels.
pub const MAX_DEPTH: usize = 32;

/// Why a YAML text was refused, and where (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct YamlRefusal {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// The text without a leading UTF-8 byte-order mark (editors on Windows write one).
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Checks `text` (its BOM already stripped) and returns it when the parser may read it.
pub fn check(text: &str) -> Result<(), YamlRefusal> {
    Scanner::default().scan(text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Single,
    Double,
}

#[derive(Debug, Default)]
struct Scanner {
    /// Indentation of the enclosing block nodes.
    indents: Vec<usize>,
    flow_depth: usize,
    /// Inside a quoted scalar (which may span lines).
    quote: Option<Quote>,
    /// Inside a block scalar (`|` or `>`) started on a line indented this much.
    block_scalar_parent: Option<usize>,
}

fn refusal(line: usize, column: usize, message: impl Into<String>) -> YamlRefusal {
    YamlRefusal { line, column, message: message.into() }
}

impl Scanner {
    fn scan(mut self, text: &str) -> Result<(), YamlRefusal> {
        for (index, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            // YAML holds text: a control character (a NUL from a binary file, an escape) is
            // named where it is, not where the parser gives up.
            if let Some((at, control)) = line.char_indices().find(|(_, c)| c.is_control() && *c != '\t') {
                let column = line.get(..at).map_or(1, |before| before.chars().count() + 1);
                return Err(refusal(index + 1, column, format!("a control character (U+{:04X}) in the file: YAML files hold text", u32::from(control))));
            }
            self.scan_line(index + 1, line)?;
        }
        Ok(())
    }

    fn scan_line(&mut self, number: usize, line: &str) -> Result<(), YamlRefusal> {
        let chars: Vec<(usize, char)> = line.chars().enumerate().collect();
        let indent = line.chars().take_while(|&c| c == ' ').count();
        let blank = line.trim().is_empty();
        if let Some(parent) = self.block_scalar_parent {
            if blank || indent > parent {
                return Ok(());
            }
            self.block_scalar_parent = None;
        }
        let mut at = 0;
        let mut expect_node = false;
        if self.quote.is_none() && self.flow_depth == 0 {
            if blank || line.trim_start().starts_with('#') {
                return Ok(());
            }
            if line.starts_with("---") || line.starts_with("...") {
                return Ok(());
            }
            while self.indents.last().is_some_and(|&top| top >= indent) {
                self.indents.pop();
            }
            self.indents.push(indent);
            at = indent;
            expect_node = true;
        }
        let mut line_depth = 0;
        while let Some(&(column, c)) = chars.get(at) {
            let next = chars.get(at + 1).map(|&(_, c)| c);
            let spaced = next.is_none_or(|c| c == ' ' || c == '\t');
            if let Some(quote) = self.quote {
                match (quote, c) {
                    (Quote::Double, '\\') => at += 1,
                    (Quote::Single, '\'') if next == Some('\'') => at += 1,
                    (Quote::Double, '"') | (Quote::Single, '\'') => self.quote = None,
                    _ => {}
                }
                at += 1;
                continue;
            }
            let in_flow = self.flow_depth > 0;
            match c {
                ' ' | '\t' => {}
                '#' if at == 0 || chars.get(at - 1).is_some_and(|&(_, p)| p == ' ' || p == '\t') => return Ok(()),
                '&' | '*' | '!' if expect_node => {
                    let what = match c {
                        '&' => "an anchor (`&`)",
                        '*' => "an alias (`*`)",
                        _ => "a tag (`!`)",
                    };
                    return Err(refusal(
                        number,
                        column + 1,
                        format!(
                            "{what} starts a value here: anchors, aliases and tags are not read; write the value out (quote it if the character is meant as text)"
                        ),
                    ));
                }
                '"' if expect_node => {
                    self.quote = Some(Quote::Double);
                    expect_node = false;
                }
                '\'' if expect_node => {
                    self.quote = Some(Quote::Single);
                    expect_node = false;
                }
                '|' | '>' if expect_node && !in_flow => {
                    self.block_scalar_parent = Some(indent);
                    return Ok(());
                }
                '[' | '{' if expect_node || in_flow => {
                    self.flow_depth += 1;
                    expect_node = true;
                }
                ']' | '}' if in_flow => {
                    self.flow_depth -= 1;
                    expect_node = false;
                }
                ',' if in_flow => expect_node = true,
                '-' | '?' if expect_node && spaced && !in_flow => line_depth += 1,
                ':' if spaced || (in_flow && next.is_some_and(|c| matches!(c, ',' | ']' | '}'))) => expect_node = true,
                _ => expect_node = false,
            }
            let depth = self.indents.len() + line_depth + self.flow_depth;
            if depth > MAX_DEPTH {
                return Err(refusal(number, column + 1, format!("nested more than {MAX_DEPTH} levels deep; no file mynatap reads needs that")));
            }
            at += 1;
        }
        Ok(())
    }
}

/// The deserializer's message in the words of the file's reader, not of the Rust types behind
/// it: `expected struct RawFault` becomes "a map of fields", `expected u64` "a whole number, 0 or
/// more", and a list where one fault stands says "one fault per tap".
pub fn plain_words(message: &str) -> String {
    if message.contains("invalid type: sequence, expected struct RawFault") {
        return "one fault per tap: `fault` is one map (`{ kind: ..., ... }`), not a list".into();
    }
    let mut text = message.to_owned();
    for (rust, plain) in [
        ("u8", "a whole number, 0 or more"),
        ("u16", "a whole number, 0 or more"),
        ("u32", "a whole number, 0 or more"),
        ("u64", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f64", "a number"),
        ("a boolean", "true or false"),
    ] {
        if let Some(stripped) = text.strip_suffix(&format!("expected {rust}")) {
            text = format!("{stripped}expected {plain}");
        }
    }
    // `expected struct RawTap` (and the like): what stands there must be a map.
    if let Some(at) = text.find("expected struct ") {
        let rest = &text[at + "expected struct ".len()..];
        let name_end = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
        text = format!("{}expected a map of fields{}", &text[..at], &rest[name_end..]);
    }
    let text = text.replace(" as u128", " (too large)").replace("invalid type: ", "wrong kind of value: ");
    // "wrong kind of value: X, expected Y" reads better as "expected Y, got X".
    match text.strip_prefix("wrong kind of value: ").and_then(|rest| rest.split_once(", expected ")) {
        Some((got, expected)) => format!("expected {expected}, got {got}"),
        None => text,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rust_type_names_become_the_files_words() {
        assert_eq!(plain_words("invalid type: sequence, expected struct RawFault"), "one fault per tap: `fault` is one map (`{ kind: ..., ... }`), not a list");
        assert_eq!(plain_words("invalid type: integer `3`, expected struct RawTap"), "expected a map of fields, got integer `3`");
        assert_eq!(plain_words("invalid type: integer `-1`, expected usize"), "expected a whole number, 0 or more, got integer `-1`");
        assert_eq!(plain_words("invalid type: string \"x\", expected i64"), "expected a whole number, got string \"x\"");
        assert_eq!(
            plain_words("invalid type: integer `99999999999999999999` as u128, expected u64"),
            "expected a whole number, 0 or more, got integer `99999999999999999999` (too large)"
        );
        assert_eq!(plain_words("unknown field `x`, expected one of `a`"), "unknown field `x`, expected one of `a`");
    }

    #[test]
    fn a_control_character_is_named_where_it_is() {
        let refused = check("id: x\ntitle: \"a\u{0}b\"\n").unwrap_err();
        assert_eq!((refused.line, refused.column), (2, 10), "{refused:?}");
        assert!(refused.message.contains("U+0000"), "{refused:?}");
        assert_eq!(check("id: x\r\ntitle:\tt\n"), Ok(()), "CR LF and tabs are text");
    }

    #[test]
    fn plain_text_with_ampersands_and_stars_is_read() {
        let text = "title: Tom & Jerry * 2\ncovers: [FLOW-1, Q13]\nsteps:\n  - tap: {phone: a, pin: \"1*2\"}\n    note: 'it''s & fine'\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn block_scalars_are_text() {
        let text = "description: |\n  *not an alias* & [[[[ \"\n  ! neither\nnext: 1\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn anchors_aliases_and_tags_are_refused_where_they_stand() {
        assert_eq!(check("title: &big hello\n").unwrap_err().column, 8);
        let alias = check("a: 1\ncovers: [x, *big]\n").unwrap_err();
        assert_eq!((alias.line, alias.column), (2, 13));
        assert!(alias.message.contains("alias"));
        assert!(check("- !custom 1\n").unwrap_err().message.contains("tag"));
        assert!(check("k: \"&quoted\"\n").is_ok());
        assert!(check("k: v # &comment\n").is_ok());
    }

    #[test]
    fn deep_flow_and_block_nesting_is_refused_at_once() {
        let flow = "[".repeat(1_000_000);
        let start = std::time::Instant::now();
        let refused = check(&flow).unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // The document itself is the first level.
        assert_eq!((refused.line, refused.column), (1, MAX_DEPTH));
        let block: String = (0..40).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect();
        assert!(check(&block).unwrap_err().message.contains("nested"));
        let dashes = format!("{}a\n", "- ".repeat(40));
        assert!(check(&dashes).is_err());
        let fine: String = (0..10).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect();
        assert_eq!(check(&fine), Ok(()));
    }

    #[test]
    fn the_bom_is_dropped() {
        assert_eq!(strip_bom("\u{feff}title: x"), "title: x");
        assert_eq!(strip_bom("title: x"), "title: x");
    }
}
