//! One typed configuration: every setting of a search, its gates, the retraining, the data
//! and the run, each declared once ([`settings`]) with its default, its check and its help.
//!
//! Rust callers use the typed fields (`cfg.search.lambda = 1.0`) or the builder-style
//! [`Config::with`]; the prompt, script files and flags use the text form ([`Config::set`]);
//! `config.json` is [`Config::to_json`]. Typed fields are checked when the configuration is
//! used ([`Config::check`]), text at once.

mod derive;
pub(crate) mod section;
mod settings;
mod value;

pub use derive::decode_workers;
pub use section::Setting;
pub use settings::{DataSettings, GateSettings, RetrainSettings, RunSettings, SearchSettings};
pub use value::SettingValue;

use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// Every setting, by section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub search: SearchSettings,
    pub gates: GateSettings,
    pub retrain: RetrainSettings,
    pub data: DataSettings,
    pub run: RunSettings,
}

/// Asks each section in turn until one knows the setting.
macro_rules! each_section {
    ($self:expr, |$s:ident| $f:expr) => {{
        let c = $self;
        (|| {
            let $s = &mut c.search;
            if let Some(r) = $f {
                return Some(r);
            }
            let $s = &mut c.gates;
            if let Some(r) = $f {
                return Some(r);
            }
            let $s = &mut c.retrain;
            if let Some(r) = $f {
                return Some(r);
            }
            let $s = &mut c.data;
            if let Some(r) = $f {
                return Some(r);
            }
            let $s = &mut c.run;
            $f
        })()
    }};
}

impl Config {
    /// Every setting in order: search, gates, retrain, data, run.
    pub fn settings() -> Vec<Setting> {
        let mut all = SearchSettings::settings();
        all.extend(GateSettings::settings());
        all.extend(RetrainSettings::settings());
        all.extend(DataSettings::settings());
        all.extend(RunSettings::settings());
        all
    }

    /// Sets one setting from its text; an error names the setting and what it accepts, and
    /// changes nothing.
    pub fn set(&mut self, name: &str, text: &str) -> Result<()> {
        let found = each_section!(&mut *self, |s| s.set_text(name, text));
        Self::outcome(name, text, found)
    }

    /// [`Config::set`] taking `self` and returning it, for building one in an expression:
    /// `Config::default().with("lambda", "1")?.with("steps", "200")?`.
    pub fn with(mut self, name: &str, text: &str) -> Result<Config> {
        self.set(name, text)?;
        Ok(self)
    }

    /// Sets a setting from the values of a repeated flag (all of them for a list setting,
    /// the last one otherwise).
    pub fn set_items(&mut self, name: &str, items: &[String]) -> Result<()> {
        let found = each_section!(&mut *self, |s| s.set_items(name, items));
        Self::outcome(name, &items.join(" "), found)
    }

    fn outcome(name: &str, text: &str, found: Option<std::result::Result<(), String>>) -> Result<()> {
        match found {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(Error::config(name, format!("`{text}` is not valid: {why}"))),
            None => Err(no_setting(name)),
        }
    }

    /// One setting's value as JSON.
    pub fn get(&self, name: &str) -> Result<Value> {
        (self.search.get(name))
            .or_else(|| self.gates.get(name))
            .or_else(|| self.retrain.get(name))
            .or_else(|| self.data.get(name))
            .or_else(|| self.run.get(name))
            .ok_or_else(|| no_setting(name))
    }

    /// Every setting as JSON, name → value, in [`Config::settings`]' order (the prompt's
    /// `get --json`).
    pub fn to_flat_json(&self) -> Value {
        let mut m = Map::new();
        for s in Self::settings() {
            m.insert(s.name.to_string(), self.get(s.name).unwrap_or(Value::Null));
        }
        Value::Object(m)
    }

    /// `config.json`'s form: section → name → value.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for s in Self::settings() {
            let sec = out.entry(s.section).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = sec {
                m.insert(s.name.to_string(), self.get(s.name).unwrap_or(Value::Null));
            }
        }
        Value::Object(out)
    }

    /// Reads [`Config::to_json`]'s form; a setting left out keeps its default, an unknown
    /// one or a bad value is an error naming it.
    pub fn from_json(v: &Value) -> Result<Config> {
        let mut c = Config::default();
        let sections = v.as_object().ok_or_else(|| Error::config("config", "expected an object of sections"))?;
        for (section, entries) in sections {
            let entries = entries
                .as_object()
                .ok_or_else(|| Error::config("config", format!("section `{section}` is not an object")))?;
            for (name, value) in entries {
                let found = each_section!(&mut c, |s| s.set_json(name, value));
                Self::outcome(name, &value.to_string(), found)?;
            }
        }
        Ok(c)
    }

    /// Checks every typed field (set in Rust without the text form's checks); the error
    /// names each refused setting.
    pub fn check(&self) -> Result<()> {
        let mut bad = self.search.refused();
        bad.extend(self.gates.refused());
        bad.extend(self.retrain.refused());
        bad.extend(self.data.refused());
        bad.extend(self.run.refused());
        match bad.split_first() {
            None => Ok(()),
            Some(((name, why), rest)) => {
                let more = rest.iter().map(|(n, w)| format!("; {n}: {w}")).collect::<String>();
                let value = self.get(name).map(|v| v.to_string()).unwrap_or_default();
                Err(Error::config(*name, format!("{value} is not valid: {why}{more}")))
            }
        }
    }

    /// `name: old → new` for every setting that differs from `other`, in settings order.
    pub fn differences(&self, other: &Config) -> Vec<(&'static str, Value, Value)> {
        Self::settings()
            .into_iter()
            .filter_map(|s| {
                let (a, b) = (self.get(s.name).ok()?, other.get(s.name).ok()?);
                (a != b).then_some((s.name, a, b))
            })
            .collect()
    }
}

/// The error for a setting that does not exist, listing those that do.
pub(crate) fn no_setting(name: &str) -> Error {
    let names: Vec<&str> = Config::settings().iter().map(|s| s.name).collect();
    Error::config(name, format!("no such option; options: {}", names.join(", ")))
}

#[cfg(test)]
mod tests;
