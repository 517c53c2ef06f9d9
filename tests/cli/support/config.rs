//! `digest.toml` for a test site, built key by key.
//!
//! ```ignore
//! let text = Config::for_send(&smtp.url())
//!     .send("bounce_after", 1)
//!     .dkim(&fixture("dkim/rsa.pem"))
//!     .text();
//! ```
//!
//! Sections come out in the order they were first used, keys in the order
//! they were set; setting a key again replaces its value in place.

use std::path::Path;

/// A value as TOML writes it.
pub trait Toml {
    fn toml(&self) -> String;
}

impl Toml for &str {
    fn toml(&self) -> String {
        let mut out = String::from('"');
        for c in self.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

impl Toml for &[&str] {
    fn toml(&self) -> String {
        let items: Vec<String> = self.iter().map(|s| s.toml()).collect();
        format!("[{}]", items.join(", "))
    }
}

impl Toml for String {
    fn toml(&self) -> String {
        self.as_str().toml()
    }
}

impl Toml for &String {
    fn toml(&self) -> String {
        self.as_str().toml()
    }
}

impl Toml for &Path {
    fn toml(&self) -> String {
        self.to_str().expect("a UTF-8 path").toml()
    }
}

impl Toml for std::path::PathBuf {
    fn toml(&self) -> String {
        self.as_path().toml()
    }
}

impl Toml for i64 {
    fn toml(&self) -> String {
        self.to_string()
    }
}

impl Toml for i32 {
    fn toml(&self) -> String {
        self.to_string()
    }
}

impl Toml for bool {
    fn toml(&self) -> String {
        self.to_string()
    }
}

/// The text of a `digest.toml`.
#[derive(Clone, Debug, Default)]
pub struct Config {
    sections: Vec<(String, Vec<(String, String)>)>,
    /// `[[relay]]` tables, written after the sections.
    relays: Vec<Vec<(String, String)>>,
}

impl Config {
    /// No section at all: every default.
    pub fn new() -> Config {
        Config::default()
    }

    /// What the send tests use: the newsletter's sender, public URL and
    /// postal address, the SMTP server at `url`, four connections, quick
    /// retries and three attempts.
    pub fn for_send(url: &str) -> Config {
        Config::new()
            .newsletter("from", "AI Glossary <digest@glossary.example>")
            .newsletter("public_url", "https://glossary.example/digest")
            .newsletter("postal_address", "1 Example Street")
            .smtp_url(url)
            .send("concurrency", 4)
            .send("retry_base_ms", 20)
            .send("max_attempts", 3)
    }

    /// What the relay tests use: [`Config::for_send`] without `[smtp]
    /// url`, each relay added with [`Config::relay`].
    pub fn for_relays() -> Config {
        Config::new()
            .newsletter("from", "AI Glossary <digest@glossary.example>")
            .newsletter("public_url", "https://glossary.example/digest")
            .newsletter("postal_address", "1 Example Street")
            .smtp("timeout_secs", 5)
            .send("concurrency", 2)
            .send("retry_base_ms", 20)
            .send("max_attempts", 3)
    }

    /// One more `[[relay]]` named `name` at `url`, with `keys`.
    pub fn relay(mut self, name: &str, url: &str, keys: &[(&str, &dyn Toml)]) -> Config {
        let mut table = vec![
            ("name".to_string(), name.toml()),
            ("url".to_string(), url.toml()),
        ];
        table.extend(keys.iter().map(|(k, v)| (k.to_string(), v.toml())));
        self.relays.push(table);
        self
    }

    /// `[section] key = value`.
    pub fn set(mut self, section: &str, key: &str, value: impl Toml) -> Config {
        let value = value.toml();
        let keys = match self.sections.iter_mut().find(|(name, _)| name == section) {
            Some((_, keys)) => keys,
            None => {
                self.sections.push((section.to_string(), Vec::new()));
                &mut self.sections.last_mut().unwrap().1
            }
        };
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => keys.push((key.to_string(), value)),
        }
        self
    }

    pub fn newsletter(self, key: &str, value: impl Toml) -> Config {
        self.set("newsletter", key, value)
    }

    /// `[smtp] url`, with a 5-second timeout so that a test against a
    /// server that does not answer fails quickly.
    pub fn smtp_url(self, url: &str) -> Config {
        self.smtp("url", url).smtp("timeout_secs", 5)
    }

    pub fn smtp(self, key: &str, value: impl Toml) -> Config {
        self.set("smtp", key, value)
    }

    pub fn send(self, key: &str, value: impl Toml) -> Config {
        self.set("send", key, value)
    }

    pub fn paths(self, key: &str, value: impl Toml) -> Config {
        self.set("paths", key, value)
    }

    /// `[dkim]` signing as `digest._domainkey.glossary.example` with this key.
    pub fn dkim(self, private_key_file: &Path) -> Config {
        self.set("dkim", "domain", "glossary.example")
            .set("dkim", "selector", "digest")
            .set("dkim", "private_key_file", private_key_file)
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, (name, keys)) in self.sections.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out += &format!("[{name}]\n");
            for (key, value) in keys {
                out += &format!("{key} = {value}\n");
            }
        }
        for table in &self.relays {
            out += "\n[[relay]]\n";
            for (key, value) in table {
                out += &format!("{key} = {value}\n");
            }
        }
        out
    }
}

impl Toml for f64 {
    fn toml(&self) -> String {
        format!("{self:?}")
    }
}
