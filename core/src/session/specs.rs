//! The arguments of the session's calls that have several parts: which data set, which
//! network to retrain, which regularizer change.

use crate::data::DataSource;
use crate::train::Init;
use std::path::PathBuf;

/// Which data set [`Session::data`] loads.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// `fashion-mnist` (Debian's package, or `dir`), `mnist`/`idx` DIR, `cifar10` DIR,
    /// `imagefolder` DIR, `synthetic`.
    pub kind: String,
    pub dir: Option<PathBuf>,
    /// Only the first N training / test images (0 = all).
    pub train_limit: usize,
    pub test_limit: usize,
    /// Synthetic: training images (28×28, 10 classes; test gets a quarter as many).
    pub size: usize,
}

impl DataSpec {
    pub fn new(kind: &str) -> DataSpec {
        DataSpec { kind: kind.to_string(), dir: None, train_limit: 0, test_limit: 0, size: 2048 }
    }
    /// Read the files from `dir`.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> DataSpec {
        self.dir = Some(dir.into());
        self
    }
    /// Keep only the first `train` / `test` images (0 = all).
    pub fn limit(mut self, train: usize, test: usize) -> DataSpec {
        self.train_limit = train;
        self.test_limit = test;
        self
    }
    /// Synthetic data of this many training images.
    pub fn size(mut self, size: usize) -> DataSpec {
        self.size = size;
        self
    }

    /// The `data` setting's text form ([`DataSource`]).
    pub(crate) fn text(&self) -> crate::Result<String> {
        let text = match (self.kind.as_str(), &self.dir) {
            ("synthetic", _) => format!("synthetic:{}", self.size),
            ("fashion-mnist" | "fmnist" | "mnist" | "idx" | "cifar10" | "cifar-10" | "imagefolder" | "coco", Some(d)) => {
                format!("{}:{}", self.kind, d.display())
            }
            ("fashion-mnist" | "fmnist", None) => self.kind.clone(),
            ("mnist" | "idx" | "cifar10" | "cifar-10" | "imagefolder" | "coco", None) => {
                return Err(crate::Error::Session(format!(
                    "`data {}` needs a directory: `data {} DIR`",
                    self.kind, self.kind
                )))
            }
            (other, _) => {
                return Err(crate::Error::Session(format!(
                    "unknown data set `{other}`; use fashion-mnist, mnist DIR, idx DIR, cifar10 DIR, imagefolder DIR, coco DIR or synthetic"
                )))
            }
        };
        let source = DataSource::parse(&text).map_err(|e| crate::Error::config("data", e))?;
        Ok(source.text())
    }
}

/// Which network [`Session::retrain`] trains.
#[derive(Debug, Clone, PartialEq)]
pub enum Network {
    /// The last export (made now if there is none).
    Found,
    /// The supernet without gates.
    Seed,
    /// An architecture file (`arch.json`).
    File(PathBuf),
    /// A network built from a search space, e.g. the seed at another width.
    Space { space: String, params: Vec<String> },
}

/// What to retrain and how; the recipe (batch, lr, seed, device) is the session's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainSpec {
    pub network: Network,
    pub epochs: f64,
    pub init: Init,
    /// Name in `compare` and the Pareto chart (default: what was retrained).
    pub label: Option<String>,
    /// Draw it on the Pareto chart's baseline curve (the seed always is).
    pub baseline: bool,
}

impl RetrainSpec {
    fn of(network: Network) -> RetrainSpec {
        RetrainSpec { network, epochs: 1.0, init: Init::Scratch, label: None, baseline: false }
    }
    pub fn found() -> RetrainSpec {
        Self::of(Network::Found)
    }
    pub fn seed() -> RetrainSpec {
        Self::of(Network::Seed)
    }
    pub fn file(path: impl Into<PathBuf>) -> RetrainSpec {
        Self::of(Network::File(path.into()))
    }
    pub fn space(space: &str, params: &[&str]) -> RetrainSpec {
        Self::of(Network::Space { space: space.into(), params: params.iter().map(|p| p.to_string()).collect() })
    }
    pub fn epochs(mut self, epochs: f64) -> RetrainSpec {
        self.epochs = epochs;
        self
    }
    pub fn init(mut self, init: Init) -> RetrainSpec {
        self.init = init;
        self
    }
    pub fn label(mut self, label: &str) -> RetrainSpec {
        self.label = Some(label.to_string());
        self
    }
    pub fn baseline(mut self) -> RetrainSpec {
        self.baseline = true;
        self
    }
    pub(crate) fn default_label(&self) -> String {
        match &self.network {
            Network::Found => "found".into(),
            Network::Seed => "seed".into(),
            Network::File(p) => p.display().to_string(),
            Network::Space { space, params } => format!("{space} {}", params.join(" ")).trim().to_string(),
        }
    }
}

/// A change of the regularizer and its settings, applied whole or not at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegularizerChange {
    /// A regularizer plugin by name (with `params`); None keeps the current one.
    pub name: Option<String>,
    /// `name=value` parameters of the new regularizer.
    pub params: Vec<String>,
    /// λ, applied at once to a running search.
    pub lambda: Option<f64>,
    /// A target in the regularizer's unit (`2M`, `40us`) or `off`, applied at once.
    pub target: Option<String>,
}
