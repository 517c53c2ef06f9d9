//! Unknown-key detection for TOML documents, with spans.
//!
//! serde's `deny_unknown_fields` stops at the first stray key and cannot
//! suggest a fix. Walking the parsed document against a small schema finds
//! every unknown key at once, with its line and the nearest known key, so
//! `terms check` and the config loader can report them all.

use toml::de::{DeTable, DeValue};

/// The keys allowed in one table; a key with `Some(children)` is a table (or
/// an array of tables) whose own keys are checked against `children`.
pub struct Schema {
    pub keys: &'static [(&'static str, Option<&'static Schema>)],
}

/// An unknown key: where it is (byte offset in the document), its dotted
/// name, and the message to show.
pub struct UnknownKey {
    pub offset: usize,
    pub message: String,
}

pub fn unknown_keys(table: &DeTable<'_>, schema: &Schema, prefix: &str) -> Vec<UnknownKey> {
    let mut out = Vec::new();
    walk(table, schema, prefix, &mut out);
    out
}

fn walk(table: &DeTable<'_>, schema: &Schema, prefix: &str, out: &mut Vec<UnknownKey>) {
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let dotted = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        match schema.keys.iter().find(|(known, _)| *known == name) {
            None => {
                let known = schema.keys.iter().map(|(k, _)| *k);
                let hint = match crate::error::nearest(name, known.clone()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!(
                        "known keys here: {}",
                        known
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                out.push(UnknownKey {
                    offset: key.span().start,
                    message: format!("unknown field `{dotted}`; {hint}"),
                });
            }
            Some((_, Some(child))) => match value.get_ref() {
                DeValue::Table(inner) => walk(inner, child, &dotted, out),
                DeValue::Array(items) => {
                    for item in items.iter() {
                        if let DeValue::Table(inner) = item.get_ref() {
                            walk(inner, child, &dotted, out);
                        }
                    }
                }
                _ => {}
            },
            Some((_, None)) => {}
        }
    }
}
