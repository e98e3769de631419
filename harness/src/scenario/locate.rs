//! Line and column of every node of a YAML document, by path (`steps[2].tap.phone`), so that
//! errors found after deserialising (unknown ids, two action keys) still point into the file.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

#[derive(Debug)]
enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

/// Positions of a document's nodes. A key's position stands for its value's.
#[derive(Debug, Default)]
pub struct Locator {
    positions: HashMap<String, Position>,
    /// False when the document is not well-formed YAML (the index covers what came before).
    pub well_formed: bool,
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    positions: HashMap<String, Position>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

impl Walker {
    /// Called at the start of every node; returns its path, or `None` when the node is a key.
    fn node(&mut self, scalar: Option<&str>, mark: Marker) -> Option<String> {
        let position = Position { line: mark.line(), column: mark.col() + 1 };
        let path = match self.stack.last_mut() {
            None => String::new(),
            Some(Frame::Map { path, key }) => match key.take() {
                Some(key) => join(path, &key),
                None => {
                    let key = scalar.unwrap_or("?").to_owned();
                    self.positions.entry(join(path, &key)).or_insert(position);
                    if let Some(Frame::Map { key: slot, .. }) = self.stack.last_mut() {
                        *slot = Some(key);
                    }
                    return None;
                }
            },
            Some(Frame::Seq { path, next }) => {
                *next += 1;
                format!("{path}[{}]", *next - 1)
            }
        };
        self.positions.entry(path.clone()).or_insert(position);
        Some(path)
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) => {
                self.node(Some(&value), mark);
            }
            Event::Alias(_) => {
                self.node(None, mark);
            }
            Event::SequenceStart(..) => {
                if let Some(path) = self.node(None, mark) {
                    self.stack.push(Frame::Seq { path, next: 0 });
                }
            }
            Event::MappingStart(..) => {
                if let Some(path) = self.node(None, mark) {
                    self.stack.push(Frame::Map { path, key: None });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl Locator {
    /// Indexes `source`; a document that does not parse gives an empty index (serde reports it).
    pub fn new(source: &str) -> Self {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(source);
        let well_formed = parser.load(&mut walker, false).is_ok();
        Self { positions: walker.positions, well_formed }
    }

    /// The position of exactly `path`, if the document has that node.
    pub fn exact(&self, path: &str) -> Option<Position> {
        self.positions.get(path).copied()
    }

    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Position {
        let mut path = path.to_owned();
        loop {
            if let Some(position) = self.positions.get(&path) {
                return *position;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path.truncate(cut),
                None => return Position { line: 1, column: 1 },
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_nodes() {
        let source = "id: x\nsteps:\n  - tap: { phone: a }\n  - add_phone:\n      person: b\n";
        let locator = Locator::new(source);
        assert_eq!(locator.find("steps[0].tap.phone"), Position { line: 3, column: 12 });
        assert_eq!(locator.find("steps[1].add_phone.person"), Position { line: 5, column: 7 });
        assert_eq!(locator.find("steps[1]").line, 4);
        assert_eq!(locator.find("steps[1].add_phone.missing"), locator.find("steps[1].add_phone"));
    }
}
