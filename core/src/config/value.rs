//! How one setting's value reads from text (a flag, `set NAME VALUE`, a script line) and
//! from and to JSON (`config.json`, `get --json`), and the checks settings share.

use crate::device::{DeviceChoice, MemoryFormat};
use crate::gate::RegSource;
use crate::precision::Precision;
use crate::search::Optimizer;
use crate::train::Init;
use serde_json::Value;
use std::path::PathBuf;

/// A type a setting can have. Errors are the reason alone ("expected a number"); the
/// configuration adds the setting's name and the value given.
pub trait SettingValue: Sized {
    /// From its text form.
    fn parse_text(text: &str) -> Result<Self, String>;
    /// Its JSON form.
    fn to_json(&self) -> Value;
    /// From the JSON form; numbers and strings go through the text form.
    fn from_json(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) => Self::parse_text(s),
            Value::Null => Self::parse_text("off"),
            other => Self::parse_text(&other.to_string()),
        }
    }
    /// The text form (help's defaults, `get`): what `parse_text` reads back.
    fn to_text(&self) -> String {
        match self.to_json() {
            Value::String(s) => s,
            Value::Null => "off".into(),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>()
                .join(" "),
            v => v.to_string(),
        }
    }
    /// From the values of a repeated flag (`-p a=1 -p b=2`): the last one, unless the type
    /// is a list.
    fn from_items(items: &[String]) -> Result<Self, String> {
        Self::parse_text(items.last().map(String::as_str).unwrap_or(""))
    }
    /// Whether the flag takes no value (`--straight-through`).
    const SWITCH: bool = false;
    /// Whether the flag may repeat.
    const LIST: bool = false;
}

macro_rules! number {
    ($t:ty, $what:literal) => {
        impl SettingValue for $t {
            fn parse_text(text: &str) -> Result<Self, String> {
                text.trim().parse().map_err(|_| $what.to_string())
            }
            fn to_json(&self) -> Value {
                serde_json::json!(*self)
            }
        }
    };
}
number!(u64, "expected a whole number");
number!(usize, "expected a whole number");
number!(i32, "expected a whole number");

impl SettingValue for f64 {
    fn parse_text(text: &str) -> Result<Self, String> {
        text.trim().parse().map_err(|_| "expected a number".to_string())
    }
    fn to_json(&self) -> Value {
        // JSON has no inf or NaN; the checks refuse them before they get here.
        serde_json::Number::from_f64(*self).map(Value::Number).unwrap_or(Value::Null)
    }
}

impl SettingValue for bool {
    fn parse_text(text: &str) -> Result<Self, String> {
        match text.trim() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            _ => Err("expected true or false".into()),
        }
    }
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
    const SWITCH: bool = true;
}

impl SettingValue for String {
    fn parse_text(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl SettingValue for PathBuf {
    fn parse_text(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("expected a path".into());
        }
        Ok(PathBuf::from(text))
    }
    fn to_json(&self) -> Value {
        Value::String(self.display().to_string())
    }
}

/// `off` (or `none`) for no value.
impl<T: SettingValue> SettingValue for Option<T> {
    fn parse_text(text: &str) -> Result<Self, String> {
        match text.trim() {
            "off" | "none" => Ok(None),
            t => T::parse_text(t).map(Some),
        }
    }
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_json)
    }
    fn from_json(v: &Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_json(v).map(Some),
        }
    }
}

/// `name=value` items (space parameters, regularizer parameters): separated by spaces in
/// text, one per flag on the command line (a value may hold commas: fbnet's `blocks`).
impl SettingValue for Vec<String> {
    fn parse_text(text: &str) -> Result<Self, String> {
        let items: Vec<String> = match text.trim() {
            "off" | "none" | "" => Vec::new(),
            t => t.split_whitespace().map(str::to_string).collect(),
        };
        Self::from_items(&items)
    }
    fn to_json(&self) -> Value {
        Value::Array(self.iter().cloned().map(Value::String).collect())
    }
    fn from_json(v: &Value) -> Result<Self, String> {
        match v {
            Value::Array(a) => {
                Self::from_items(&a.iter().map(|i| i.as_str().unwrap_or_default().to_string()).collect::<Vec<_>>())
            }
            Value::Null => Ok(Vec::new()),
            _ => Err("expected a list of name=value items".into()),
        }
    }
    fn from_items(items: &[String]) -> Result<Self, String> {
        match items.iter().find(|kv| !matches!(kv.split_once('='), Some((k, _)) if !k.trim().is_empty())) {
            Some(bad) => Err(format!("`{bad}` is not of the form name=value")),
            None => Ok(items.to_vec()),
        }
    }
    const LIST: bool = true;
}

/// Directories or files, `:`-separated in text (as PATH is).
impl SettingValue for Vec<PathBuf> {
    fn parse_text(text: &str) -> Result<Self, String> {
        Ok(match text {
            "off" | "none" | "" => Vec::new(),
            v => std::env::split_paths(v).filter(|p| !p.as_os_str().is_empty()).collect(),
        })
    }
    fn to_json(&self) -> Value {
        if self.is_empty() {
            return Value::Null;
        }
        Value::String(self.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"))
    }
}

/// Settings whose type reads itself (`FromStr`) and names itself.
macro_rules! named {
    ($t:ty, |$v:ident| $text:expr) => {
        impl SettingValue for $t {
            fn parse_text(text: &str) -> Result<Self, String> {
                text.trim().parse::<$t>().map_err(|e| match e {
                    crate::Error::Config { message, .. } => message,
                    e => e.to_string(),
                })
            }
            fn to_json(&self) -> Value {
                let $v = self;
                Value::String($text)
            }
        }
    };
}
named!(DeviceChoice, |d| crate::device::device_str(*d));
named!(MemoryFormat, |m| m.as_str().to_string());
named!(Precision, |p| p.as_str().to_string());
named!(Optimizer, |o| o.as_str().to_string());
named!(RegSource, |r| r.as_str().to_string());
named!(Init, |i| i.as_str().to_string());

// The checks: `Err` says what the setting accepts.

pub(crate) fn any<T>(_: &T) -> Result<(), String> {
    Ok(())
}

pub(crate) fn positive(x: &f64) -> Result<(), String> {
    (*x > 0.0 && x.is_finite()).then_some(()).ok_or_else(|| "expected a positive number".into())
}

pub(crate) fn finite(x: &f64) -> Result<(), String> {
    x.is_finite().then_some(()).ok_or_else(|| "expected a finite number".into())
}

pub(crate) fn non_negative(x: &f64) -> Result<(), String> {
    (*x >= 0.0 && x.is_finite()).then_some(()).ok_or_else(|| "expected a finite number ≥ 0".into())
}

pub(crate) fn positive_or_off(x: &Option<f64>) -> Result<(), String> {
    x.as_ref().map_or(Ok(()), |v| positive(v).map_err(|_| "expected a positive number, e.g. 2, or `off`".into()))
}

pub(crate) fn at_least_one_u64(n: &u64) -> Result<(), String> {
    (*n >= 1).then_some(()).ok_or_else(|| "expected a count ≥ 1".into())
}

pub(crate) fn at_least_one(n: &usize) -> Result<(), String> {
    (*n >= 1).then_some(()).ok_or_else(|| "expected a count ≥ 1".into())
}

pub(crate) fn fraction(x: &f64) -> Result<(), String> {
    (*x > 0.0 && *x < 1.0).then_some(()).ok_or_else(|| "expected a fraction in (0, 1)".into())
}

pub(crate) fn quantity_or_off(t: &Option<String>) -> Result<(), String> {
    t.as_ref().map_or(Ok(()), |t| crate::units::parse_quantity(t).map(|_| ()))
}

pub(crate) fn name(s: &String) -> Result<(), String> {
    (!s.trim().is_empty()).then_some(()).ok_or_else(|| "expected a name".into())
}

pub(crate) fn threads(n: &i32) -> Result<(), String> {
    crate::device::check_threads(*n as i64)
}

pub(crate) fn keep(n: &usize) -> Result<(), String> {
    crate::checkpoint::check_keep(*n)
}

pub(crate) fn epochs(x: &f64) -> Result<(), String> {
    (*x > 0.0 && x.is_finite())
        .then_some(())
        .ok_or_else(|| "expected a positive number of epochs, e.g. 1 or 0.5".into())
}

pub(crate) fn data(spec: &String) -> Result<(), String> {
    crate::data::DataSource::parse(spec).map(|_| ())
}
