//! librdkafka-style configuration: string keys and values, parsed once at the edge
//! into validated settings, then mapped to the typed configs of the lower crates.
//!
//! Every key is looked up in [`table::PROPERTIES`]; unknown keys, wrong types,
//! out-of-range values and properties of the other role are errors that name the
//! key and what it accepts. Keys in [`table::IGNORED`] are accepted with a warning.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub mod table;

pub use table::{Kind, Property, Role};

/// Why a configuration was refused. Every variant names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not a property this client knows.
    #[error("unknown configuration property `{key}`{}", hint.map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default())]
    UnknownKey {
        /// The key as given.
        key: String,
        /// A known key with a similar name.
        hint: Option<&'static str>,
    },
    /// The value does not fit the property's type or range.
    #[error("invalid value {value} for `{key}`: expected {expected}")]
    InvalidValue {
        /// The property's canonical name.
        key: &'static str,
        /// The value as given, quoted (or `***` for secrets).
        value: String,
        /// What the property accepts.
        expected: String,
    },
    /// A producer property given to a consumer, or the reverse.
    #[error("`{key}` is a {role} property and cannot configure a {used_as}")]
    WrongRole {
        /// The property's canonical name.
        key: &'static str,
        /// The role it belongs to.
        role: &'static str,
        /// What it was given to.
        used_as: &'static str,
    },
    /// A required property is missing.
    #[error("`{key}` is required{}", if alias.is_empty() { String::new() } else { format!(" (or `{alias}`)") })]
    Missing {
        /// The property's canonical name.
        key: &'static str,
        /// Its alias, if any.
        alias: &'static str,
    },
    /// A librdkafka property whose behaviour this client does not offer.
    #[error("`{key}` is not supported: {reason}")]
    Unsupported {
        /// The key as given.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// The same property was given twice (e.g. under a name and its alias).
    #[error("`{key}` is given twice (as `{first}` and `{second}`)")]
    Duplicate {
        /// The property's canonical name.
        key: &'static str,
        /// The first spelling.
        first: String,
        /// The second spelling.
        second: String,
    },
    /// Two properties contradict each other.
    #[error("`{key}` conflicts with `{other}`: {reason}")]
    Conflict {
        /// The property that has to change.
        key: &'static str,
        /// The property it conflicts with.
        other: &'static str,
        /// Why.
        reason: &'static str,
    },
}

impl ConfigError {
    /// Configuration errors never go away by retrying.
    pub fn is_retriable(&self) -> bool {
        false
    }
}

/// A validated configuration: canonical property names and their values.
#[derive(Clone)]
pub struct Config {
    role: Role,
    /// Canonical name → (value, the spelling the user gave).
    values: BTreeMap<&'static str, (String, String)>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, (value, _)) in &self.values {
            let secret = table::lookup(name).is_some_and(|p| p.kind == Kind::Secret);
            map.entry(name, &if secret { "***" } else { value.as_str() });
        }
        map.finish()
    }
}

impl Config {
    /// Validates `pairs` for a producer or consumer (`role`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first offending key.
    pub fn parse<I, K, V>(pairs: I, role: Role) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut values: BTreeMap<&'static str, (String, String)> = BTreeMap::new();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref().trim(), value.as_ref().trim());
            if let Some((_, why)) = table::UNSUPPORTED.iter().find(|(k, _)| *k == key) {
                return Err(ConfigError::Unsupported {
                    key: key.to_owned(),
                    reason: why,
                });
            }
            if let Some((_, why)) = table::IGNORED.iter().find(|(k, _)| *k == key) {
                tracing::warn!(key, reason = why, "configuration property ignored");
                continue;
            }
            let property = table::lookup(key).ok_or_else(|| ConfigError::UnknownKey {
                key: key.to_owned(),
                hint: closest(key),
            })?;
            check_role(property, role)?;
            let normalized = validate(property, value)?;
            if let Some((_, first)) = values.get(property.name) {
                return Err(ConfigError::Duplicate {
                    key: property.name,
                    first: first.clone(),
                    second: key.to_owned(),
                });
            }
            values.insert(property.name, (normalized, key.to_owned()));
        }
        let config = Config { role, values };
        config.require("bootstrap.servers", "metadata.broker.list")?;
        if role == Role::Consumer {
            config.require("group.id", "")?;
        }
        Ok(config)
    }

    /// Whether the user set `name` (rather than leaving its default).
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The value of `name`, or its default. Enum values are lower-cased (except
    /// `sasl.mechanism`, which keeps librdkafka's upper case).
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some((value, _)) => Some(value),
            None => table::lookup(name).and_then(|p| p.default),
        }
    }

    /// A boolean property (validated at parse time; unknown names read as false).
    pub fn bool(&self, name: &str) -> bool {
        self.str(name).is_some_and(|v| parse_bool(v) == Some(true))
    }

    /// An integer property (validated at parse time; unknown names read as 0).
    pub fn int(&self, name: &str) -> i64 {
        self.str(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// A millisecond property as a [`Duration`] (negative values read as zero).
    pub fn millis(&self, name: &str) -> Duration {
        Duration::from_millis(self.int(name).max(0) as u64)
    }

    /// Producer or consumer.
    pub fn role(&self) -> Role {
        self.role
    }

    fn require(&self, key: &'static str, alias: &'static str) -> Result<(), ConfigError> {
        match self.values.get(key) {
            Some((value, _)) if !value.is_empty() => Ok(()),
            _ => Err(ConfigError::Missing { key, alias }),
        }
    }
}

fn check_role(property: &Property, role: Role) -> Result<(), ConfigError> {
    let name = |r: Role| match r {
        Role::Producer => "producer",
        Role::Consumer => "consumer",
        Role::Both => "client",
    };
    if property.role == Role::Both || property.role == role {
        return Ok(());
    }
    Err(ConfigError::WrongRole {
        key: property.name,
        role: name(property.role),
        used_as: name(role),
    })
}

/// Checks `value` against the property's kind; returns the normalized value.
fn validate(property: &Property, value: &str) -> Result<String, ConfigError> {
    let invalid = |expected: String| ConfigError::InvalidValue {
        key: property.name,
        value: if property.kind == Kind::Secret {
            "***".into()
        } else {
            format!("{value:?}")
        },
        expected,
    };
    match property.kind {
        Kind::Str | Kind::Secret => Ok(value.to_owned()),
        Kind::Bool => parse_bool(value)
            .map(|b| b.to_string())
            .ok_or_else(|| invalid("true or false".into())),
        Kind::Int { min, max } => match value.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            _ => Err(invalid(format!("an integer from {min} to {max}"))),
        },
        Kind::Enum(words) => {
            let word = words
                .iter()
                .find(|w| w.eq_ignore_ascii_case(value))
                .ok_or_else(|| invalid(format!("one of {}", words.join(", "))))?;
            Ok(if property.name == "sasl.mechanism" {
                word.to_string()
            } else {
                word.to_ascii_lowercase()
            })
        }
        Kind::List(words) => {
            let mut out = Vec::new();
            for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let word = words
                    .iter()
                    .find(|w| w.eq_ignore_ascii_case(item))
                    .ok_or_else(|| {
                        invalid(format!("a comma-separated list of {}", words.join(", ")))
                    })?;
                out.push(*word);
            }
            if out.is_empty() {
                return Err(invalid(format!(
                    "a comma-separated list of {}",
                    words.join(", ")
                )));
            }
            Ok(out.join(","))
        }
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A known name within edit distance 3 of `key`, for "did you mean".
fn closest(key: &str) -> Option<&'static str> {
    table::PROPERTIES
        .iter()
        .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()))
        .map(|name| (edit_distance(key, name), name))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| table::lookup(name).map_or(name, |p| p.name))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The configuration reference page, generated from the table.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\nGenerated from `crates/flame-kafka/src/config/table.rs` \
         (`cargo run -p flame-kafka --example gen_config_docs`). Keys and values follow \
         librdkafka's CONFIGURATION.md.\n\n| property | aliases | role | type | default | description |\n|---|---|---|---|---|---|\n",
    );
    for p in table::PROPERTIES {
        let kind = match p.kind {
            Kind::Str => "string".to_owned(),
            Kind::Secret => "secret string".to_owned(),
            Kind::Bool => "bool".to_owned(),
            Kind::Int { min, max } => format!("int {min}..{max}"),
            Kind::Enum(words) => words.join(" \\| "),
            Kind::List(words) => format!("list of {}", words.join(", ")),
        };
        let role = match p.role {
            Role::Both => "both",
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        };
        out.push_str(&format!(
            "| `{}` | {} | {role} | {kind} | {} | {} |\n",
            p.name,
            p.aliases
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", "),
            p.default.map(|d| format!("`{d}`")).unwrap_or_default(),
            p.doc
        ));
    }
    out.push_str("\n## Accepted and ignored (a warning is logged)\n\n");
    for (key, why) in table::IGNORED {
        out.push_str(&format!("- `{key}`: {why}\n"));
    }
    out.push_str("\n## Refused\n\n");
    for (key, why) in table::UNSUPPORTED {
        out.push_str(&format!("- `{key}`: {why}\n"));
    }
    out
}

#[cfg(test)]
mod tests;
