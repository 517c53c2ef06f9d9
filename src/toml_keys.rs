//! Unknown-key detection for TOML documents, with spans.
//!
//! serde's `deny_unknown_fields` stops at the first stray key and cannot
//! suggest a fix. Walking the parsed document against a schema finds every
//! unknown key at once, with its line and the nearest known key, so `terms
//! check` and the config loader can report them all.
//!
//! The schema is not written out by hand: [`schema_of`] reads it from the
//! very structs the document is deserialized into, so a key added to a
//! struct is known at once and the two can never disagree.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer as _, Visitor};
use toml::de::{DeTable, DeValue};

/// The keys allowed in one table; a key with `Some(children)` is a table (or
/// an array of tables) whose own keys are checked against `children`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    pub keys: Vec<(&'static str, Option<Schema>)>,
}

/// The keys of `T`, and of every struct inside it, as serde derives them.
pub fn schema_of<T: DeserializeOwned>() -> Schema {
    let mut schema = None;
    // The probe answers every request with a valid value, so deserializing
    // cannot fail for the plain structs this is used on; if it ever did,
    // the tests below would say so.
    let _ = T::deserialize(Probe { out: &mut schema }).map(|_: T| ());
    schema.unwrap_or_default()
}

/// A deserializer that offers every field a struct asks for, with a
/// placeholder value, and records the field names on the way.
struct Probe<'a> {
    out: &'a mut Option<Schema>,
}

type ProbeError = de::value::Error;

/// toml's `Spanned<T>` deserializes as a struct with these private fields;
/// it is transparent here.
const SPANNED: &str = "$__serde_spanned_private_Spanned";

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_bool(false)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_bool(false)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u8(0)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u8(0)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u8(0)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u8(0)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u8(0)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u8(0)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u8(0)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_u8(0)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_f64(0.0)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_f64(0.0)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_char('x')
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_str("")
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_str("")
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_bytes(&[])
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_bytes(&[])
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_some(self)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, ProbeError> {
        v.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, ProbeError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_seq(OneElement {
            out: Some(self.out),
        })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, ProbeError> {
        self.deserialize_seq(v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value, ProbeError> {
        self.deserialize_seq(v)
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_map(de::value::MapDeserializer::new(std::iter::empty::<(
            &str,
            bool,
        )>()))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ProbeError> {
        if name == SPANNED {
            return v.visit_map(Fields {
                fields,
                children: Vec::new(),
                transparent: Some(self.out),
            });
        }
        let mut fields_map = Fields {
            fields,
            children: Vec::new(),
            transparent: None,
        };
        let value = v.visit_map(&mut fields_map)?;
        *self.out = Some(Schema {
            keys: fields.iter().copied().zip(fields_map.children).collect(),
        });
        Ok(value)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ProbeError> {
        Err(de::Error::custom("the key probe does not take enums"))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_str("")
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
        v.visit_unit()
    }
}

/// A sequence of one probed element: an array of tables is one table.
struct OneElement<'a> {
    out: Option<&'a mut Option<Schema>>,
}

impl<'de> de::SeqAccess<'de> for OneElement<'_> {
    type Error = ProbeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ProbeError> {
        match self.out.take() {
            Some(out) => seed.deserialize(Probe { out }).map(Some),
            None => Ok(None),
        }
    }
}

/// Every field of a struct, each with a probed value. For `Spanned`, only
/// the wrapped value is probed, into the parent's slot.
struct Fields<'a> {
    fields: &'static [&'static str],
    children: Vec<Option<Schema>>,
    transparent: Option<&'a mut Option<Schema>>,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        match self.fields.get(self.children.len()) {
            Some(name) => seed
                .deserialize(de::value::BorrowedStrDeserializer::new(name))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        let is_last = self.children.len() + 1 == self.fields.len();
        let mut child = None;
        let value = match (&mut self.transparent, is_last) {
            // Spanned's start and end offsets, then its value.
            (Some(_), false) => seed.deserialize(0u64.into_deserializer()),
            (Some(out), true) => seed.deserialize(Probe { out }),
            (None, _) => seed.deserialize(Probe { out: &mut child }),
        };
        self.children.push(child);
        value
    }
}

/// An unknown key: where it is (byte offset in the document), its dotted
/// name, and the message to show.
pub struct UnknownKey {
    pub offset: usize,
    pub message: String,
}

pub fn unknown_keys(table: &DeTable<'_>, schema: &Schema, prefix: &str) -> Vec<UnknownKey> {
    let mut out = Vec::new();
    walk(table, schema, prefix, None, &mut out);
    out
}

/// `label`: how to name the table in a message when it is one entry of an
/// array of tables (`[[relay]] "ses"`), rather than by its dotted path.
fn walk(
    table: &DeTable<'_>,
    schema: &Schema,
    prefix: &str,
    label: Option<&str>,
    out: &mut Vec<UnknownKey>,
) {
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
                let message = match label {
                    Some(label) => format!("unknown field `{name}` in {label}; {hint}"),
                    None => format!("unknown field `{dotted}`; {hint}"),
                };
                out.push(UnknownKey {
                    offset: key.span().start,
                    message,
                });
            }
            Some((_, Some(child))) => match value.get_ref() {
                DeValue::Table(inner) => walk(inner, child, &dotted, None, out),
                DeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let DeValue::Table(inner) = item.get_ref() {
                            let label = match inner.get("name").map(|n| n.get_ref()) {
                                Some(DeValue::String(name)) => format!("[[{dotted}]] {name:?}"),
                                _ => format!("[[{dotted}]] number {}", i + 1),
                            };
                            walk(inner, child, &dotted, Some(&label), out);
                        }
                    }
                }
                _ => {}
            },
            Some((_, None)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use toml::Spanned;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        a: Option<String>,
        b: u32,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: Option<Spanned<String>>,
        count: Option<Spanned<u64>>,
        rate: f64,
        value: Option<Spanned<toml::Value>>,
        #[serde(default)]
        one: Option<Inner>,
        #[serde(default)]
        many: Vec<Spanned<Inner>>,
        list: Vec<String>,
    }

    #[test]
    fn the_schema_is_read_from_the_structs_themselves() {
        let inner = Schema {
            keys: vec![("a", None), ("b", None)],
        };
        assert_eq!(
            schema_of::<Outer>(),
            Schema {
                keys: vec![
                    ("name", None),
                    ("count", None),
                    ("rate", None),
                    ("value", None),
                    ("one", Some(inner.clone())),
                    ("many", Some(inner)),
                    ("list", None),
                ]
            }
        );
    }
}
