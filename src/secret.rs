//! Secrets that must never be printed: SMTP passwords, and whatever key a
//! later feature reads from the environment.
//!
//! [`Secret`] holds the value and prints as `Secret(***)` in `Debug`, so a
//! struct that carries one can derive `Debug` safely; the value comes out
//! only through [`Secret::expose`], at the one place that sends it.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A secret from the environment: `NAME`, else the file named by
/// `NAME_FILE` (its trailing line break dropped). Empty values count as
/// unset. The error names the variable, never the value.
pub fn from_env(name: &str) -> Result<Option<Secret>, crate::error::InputError> {
    if let Ok(value) = std::env::var(name)
        && !value.is_empty()
    {
        return Ok(Some(Secret(value)));
    }
    let file_var = format!("{name}_FILE");
    match std::env::var(&file_var) {
        Ok(path) if !path.is_empty() => {
            let value = std::fs::read_to_string(&path).map_err(|e| {
                crate::error::InputError(format!("cannot read {file_var} {path}: {e}"))
            })?;
            Ok(Some(Secret(
                value.trim_end_matches(['\r', '\n']).to_string(),
            )))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
