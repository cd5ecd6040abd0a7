//! The search-space interface: parameters in, [`Graph`] out — pure data, no tensors.
//! Concrete spaces live in `plugins/`; nothing in the core knows one.

use crate::error::Result;
use crate::graph::Graph;
use std::collections::BTreeMap;

/// One parameter a search space accepts, with its default and help text.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub default: String,
    pub help: String,
}

impl ParamSpec {
    pub fn new(name: &str, default: &str, help: &str) -> ParamSpec {
        ParamSpec { name: name.into(), default: default.into(), help: help.into() }
    }
}

/// The parameters every image-classification space takes, with ImageNet defaults:
/// `resolution`, `channels`, `classes`, `width` (multiplier). `figs search` fills the first
/// three from the data set unless they are given.
pub fn input_params() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("resolution", "224", "input height = width in pixels"),
        ParamSpec::new("channels", "3", "input image channels"),
        ParamSpec::new("classes", "1000", "number of output classes"),
        ParamSpec::new("width", "1.0", "width multiplier applied to every layer"),
    ]
}

/// A family of networks, built from string parameters (`width=0.5`, `classes=10`).
pub trait SearchSpace {
    /// Short name, e.g. `mobilenet_v2`.
    fn name(&self) -> &str;
    /// The parameters this space accepts.
    fn params(&self) -> Vec<ParamSpec>;
    /// Builds the supernet graph. Unknown parameter names and bad values are errors.
    fn build(&self, params: &BTreeMap<String, String>) -> Result<Graph>;
}

/// Typed access to a space's string parameters, with defaults from its [`ParamSpec`]s and
/// errors that name the space, the parameter and the accepted names.
pub struct Params<'a> {
    space: &'a str,
    specs: Vec<ParamSpec>,
    given: &'a BTreeMap<String, String>,
}

impl<'a> Params<'a> {
    /// Fails on a parameter name that `specs` does not list.
    pub fn new(space: &'a str, specs: Vec<ParamSpec>, given: &'a BTreeMap<String, String>) -> Result<Self> {
        for k in given.keys() {
            if !specs.iter().any(|s| &s.name == k) {
                let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                let knows = if known.is_empty() {
                    "it takes none".to_string()
                } else {
                    format!("it knows {}", known.join(", "))
                };
                return Err(crate::Error::config(k, format!("`{space}` has no parameter `{k}`; {knows}")));
            }
        }
        Ok(Params { space, specs, given })
    }

    /// The raw value (given or default).
    pub fn raw(&self, name: &str) -> &str {
        match self.given.get(name) {
            Some(v) => v,
            None => self.specs.iter().find(|s| s.name == name).map(|s| s.default.as_str()).unwrap_or(""),
        }
    }

    /// The value parsed as `T`.
    pub fn get<T: std::str::FromStr>(&self, name: &str) -> Result<T> {
        let raw = self.raw(name);
        raw.parse().map_err(|_| {
            let help = self.specs.iter().find(|s| s.name == name).map(|s| s.help.as_str()).unwrap_or("");
            crate::Error::config(name, format!("`{raw}` is not valid for `{}` ({help})", self.space))
        })
    }
}

/// The values of the [`input_params`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputValues {
    pub resolution: usize,
    pub channels: usize,
    pub classes: usize,
    pub width: f64,
}

impl Params<'_> {
    /// Reads the [`input_params`].
    pub fn input(&self) -> Result<InputValues> {
        Ok(InputValues {
            resolution: self.get("resolution")?,
            channels: self.get("channels")?,
            classes: self.get("classes")?,
            width: self.get("width")?,
        })
    }

    /// Reads a preset parameter `name` whose values are `imagenet`, `small` or `auto`
    /// (`small` below 64 px): true for the ImageNet variant.
    pub fn imagenet_preset(&self, name: &str, resolution: usize) -> Result<bool> {
        match self.raw(name) {
            "imagenet" => Ok(true),
            "small" | "cifar" => Ok(false),
            "auto" => Ok(resolution >= 64),
            other => Err(crate::Error::config(
                name,
                format!("unknown {name} `{other}` for `{}`; use imagenet, small or auto", self.space),
            )),
        }
    }
}

/// Parses `k=v` strings into a parameter map; a missing `=` is an error naming the item.
pub fn parse_kv(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for it in items {
        let Some((k, v)) = it.split_once('=') else {
            return Err(crate::Error::config("param", format!("`{it}` is not of the form name=value")));
        };
        m.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(m)
}

/// torchvision's `_make_divisible(v, divisor)`: round to a multiple of `divisor`, never
/// down by more than 10 % (its MobileNets' channel rounding).
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new_v = (((v + d / 2.0) as usize) / divisor * divisor).max(divisor);
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}
