//! The main job, end to end, for every front end: `figs search`, the prompt's `search`,
//! a notebook cell and each point of `figs pareto` run a [`Job`]. It owns the run
//! directory — its marker and lock, `config.json`, `supernet.json`, `metrics.jsonl`,
//! checkpoints, the export (`arch.json`, `arch.safetensors`, `model.py`), the plot,
//! `summary.json` and `run.log` — and its life: create, resume, replace, search, export,
//! plot, retrain the seed and the found network, compare. Front ends parse settings into a
//! [`Config`] and show the [`JobEvent`]s; they print nothing of their own.
//!
//! ```no_run
//! # fn main() -> figs::Result<()> {
//! use figs::config::Config;
//! use figs::job::Job;
//! let mut cfg = Config::default();
//! cfg.search.steps = 200;
//! cfg.run.out = Some("runs/notebook".into());
//! let report = Job::new(cfg).run(|_| {})?;
//! println!("{}", report.text());
//! # Ok(())
//! # }
//! ```

mod metrics;
mod report;
mod resume;

pub use report::{JobReport, NetworkRow};
pub use resume::saved_config;

use crate::checkpoint;
use crate::collective::Collective;
use crate::config::Config;
use crate::count::count;
use crate::error::{Error, Result};
use crate::run_dir::{self, RunDir};
use crate::search::Search;
use crate::session::{PlotKind, Progress, RegularizerChange, RetrainSpec, Session};
use crate::table::table;
use crate::units::{human, human_unit};
use metrics::Metrics;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What a running job tells its front end.
#[derive(Debug, Clone, Copy)]
pub enum JobEvent<'a> {
    /// A line of the report (also kept in `run.log`).
    Line(&'a str),
    /// A warning or an error note for stderr (not in `run.log`).
    Note(&'a str),
    /// Progress of the search or of a retraining.
    Progress(Progress<'a>),
    /// A phase (the search, one retraining) ended: a progress bar can go.
    PhaseEnd,
}

/// The front end's side of the job's events.
type Sink = Arc<Mutex<Box<dyn for<'a> FnMut(JobEvent<'a>) + Send>>>;

/// One run of the main job.
pub struct Job {
    config: Config,
    resume: bool,
    force: bool,
    cancel: Arc<AtomicBool>,
    stop_cause: Arc<dyn Fn() -> &'static str + Send + Sync>,
    group: Option<Arc<dyn Collective>>,
    target_macs: Option<f64>,
    data: Option<(String, crate::data::TrainTest)>,
    retrain_seed: bool,
}

impl Job {
    /// A new run with `config`; `config.run.out` names its directory (default: a new
    /// `runs/search-<unix time>`).
    pub fn new(config: Config) -> Job {
        Job {
            config,
            resume: false,
            force: false,
            cancel: Arc::new(AtomicBool::new(false)),
            stop_cause: Arc::new(|| "Ctrl-C"),
            group: None,
            target_macs: None,
            data: None,
            retrain_seed: true,
        }
    }

    /// Continue the run in `config.run.out` (true) instead of starting one; its settings
    /// are the caller's to take from [`saved_config`].
    pub fn resuming(mut self, on: bool) -> Job {
        self.resume = on;
        self
    }

    /// Replace the run already in the directory (only figs' own files are removed).
    pub fn force(mut self, on: bool) -> Job {
        self.force = on;
        self
    }

    /// Stop the running phase after the current step once `flag` is raised; `cause` names
    /// who raised it (`Ctrl-C`, `SIGTERM`) in the report.
    pub fn stop_on(mut self, flag: Arc<AtomicBool>, cause: impl Fn() -> &'static str + Send + Sync + 'static) -> Job {
        self.cancel = flag;
        self.stop_cause = Arc::new(cause);
        self
    }

    /// One rank of a data-parallel search: rank 0 leads (writes the run directory, prints,
    /// evaluates, exports), the others take part in every step and write nothing.
    pub fn collective(mut self, group: Arc<dyn Collective>) -> Job {
        self.group = Some(group);
        self
    }

    /// The target as the user gave it in MACs, for the report's "landed at" line.
    pub fn target_macs(mut self, macs: Option<f64>) -> Job {
        self.target_macs = macs;
        self
    }

    /// Runs on `data` (called `name` in the report) instead of loading the `data` setting:
    /// a data set loaded once for many jobs, or made in a notebook.
    pub fn with_data(mut self, name: &str, data: crate::data::TrainTest) -> Job {
        self.data = Some((name.to_string(), data));
        self
    }

    /// Whether the seed network is retrained too (true), to compare the found network with;
    /// a sweep that retrains the seed network once per seed turns it off.
    pub fn retrain_seed(mut self, on: bool) -> Job {
        self.retrain_seed = on;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The run directory this job writes.
    pub fn out(&self) -> PathBuf {
        self.config.run.out.clone().unwrap_or_else(|| {
            let t =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            PathBuf::from(format!("runs/search-{t}"))
        })
    }

    /// Runs the job; `events` gets its report lines, notes and progress. Returns the
    /// comparison of the seed and the found network, also written to `summary.json`.
    pub fn run(mut self, events: impl for<'a> FnMut(JobEvent<'a>) + Send + 'static) -> Result<JobReport> {
        self.config.check()?;
        let out = self.out();
        self.config.run.out = Some(out.clone());
        let mut ctx = Ctx { events: Arc::new(Mutex::new(Box::new(events))), log: Arc::default() };
        self.run_with(&mut ctx, &out)
    }
}

/// `run.log` (from the moment the run directory is held) and the lines before it.
#[derive(Default)]
struct Log {
    pending: Vec<String>,
    file: Option<std::fs::File>,
}

struct Ctx {
    events: Sink,
    log: Arc<Mutex<Log>>,
}

impl Ctx {
    fn emit(&self, e: JobEvent<'_>) {
        let mut sink = self.events.lock().unwrap_or_else(|e| e.into_inner());
        (*sink)(e);
    }

    fn say(&self, text: &str) {
        say(&self.events, &self.log, text)
    }

    fn note(&self, text: &str) {
        self.emit(JobEvent::Note(text));
    }

    fn log_to(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io("cannot write", path, e))?;
        for l in log.pending.drain(..) {
            writeln!(f, "{l}").map_err(|e| Error::io("cannot write", path, e))?;
        }
        log.file = Some(f);
        Ok(())
    }
}

/// A line of the report: to the front end and into `run.log` (kept until it is open).
fn say(events: &Sink, log: &Mutex<Log>, text: &str) {
    use std::io::Write;
    (*events.lock().unwrap_or_else(|e| e.into_inner()))(JobEvent::Line(text));
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    match log.file.as_mut() {
        Some(f) => {
            // run.log is a copy of what the front end shows; a failed write loses only it.
            let _ = writeln!(f, "{text}");
        }
        None => log.pending.push(text.to_string()),
    }
}

impl Job {
    fn run_with(&self, ctx: &mut Ctx, out: &Path) -> Result<JobReport> {
        let c = &self.config;
        if c.run.threads > 0 {
            tch::set_num_threads(c.run.threads);
        }
        // An unavailable device fails here, before anything is loaded or written.
        c.run.device.resolve()?;
        let lead = self.group.as_ref().is_none_or(|g| g.rank() == 0);
        let world = self.group.as_ref().map_or(1, |g| g.world());
        let mut s = Session::new();
        *s.config_mut() = c.clone();
        match &self.data {
            Some((name, data)) => s.set_data(name, data.clone())?,
            None => {
                // Listing a large image folder takes a while: its count goes to the front end.
                let events = ctx.events.clone();
                s.set_progress(move |p| (*events.lock().unwrap_or_else(|e| e.into_inner()))(JobEvent::Progress(p)));
                let info = s.load_data()?;
                ctx.emit(JobEvent::PhaseEnd);
                info
            }
        };
        let params: Vec<&str> = c.search.param.iter().map(String::as_str).collect();
        let seed_info = s.build_supernet(&c.search.space, &params)?;
        let reg = s.configure_regularizer(RegularizerChange {
            name: Some(c.search.regularizer.clone()),
            params: c.search.reg_param.clone(),
            ..RegularizerChange::default()
        })?;
        self.flush(ctx, &mut s);

        let ck_dir = checkpoint::dir(out);
        let holds_run = std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(false);
        // The lead holds the run directory's lock for the whole run: a second figs on the
        // same directory is refused instead of mixing its files with this run's.
        let mut held = None;
        if lead && self.resume && out.is_dir() {
            held = Some(RunDir::resume(out)?);
        }
        if lead && self.resume && checkpoint::list(&ck_dir).is_empty() {
            let fix = if run_dir::is_run(out) {
                format!("it stopped before its first checkpoint: start it again with --force --out {}", out.display())
            } else {
                "run without --resume".to_string()
            };
            return Err(Error::Job(format!(
                "--resume: {} has no checkpoint to continue from; {fix}",
                ck_dir.display()
            )));
        }
        if lead && holds_run && !self.resume && !self.force {
            if run_dir::is_run(out) {
                return Err(Error::Job(format!(
                    "{} holds a figs run; pass --resume {} to continue it, --force to replace it, or choose another --out",
                    out.display(),
                    out.display()
                )));
            }
            return Err(Error::Job(format!(
                "{} already holds files that are not a figs run; choose another --out",
                out.display()
            )));
        }
        // Every setting is checked (and the regularizer bound) before anything is written:
        // a bad value leaves no half-made run directory behind.
        let target = s.config().target_value(&reg.unit, &reg.regularizer)?;
        if self.resume {
            let (step, dir) = resume::load_newest_intact(&mut s, &ck_dir, world, lead, &mut |m| ctx.note(m))?;
            let search = s.search()?;
            let want = s.config().search_config(&search.config().regularizer, reg.params.clone(), target);
            if search.config() != &want {
                return Err(Error::Job(format!(
                    "--resume: the run in {} was started with other settings ({}); give the flags it was started with (its config.json)",
                    out.display(),
                    crate::settings_diff::settings_diff(search.config(), &want)
                )));
            }
            if lead {
                ctx.say(&format!("resuming {} from step {step} ({})", out.display(), dir.display()));
            }
        } else {
            s.init()?;
        }
        if let Some(g) = &self.group {
            s.search_mut()?.set_collective(g.clone())?;
            if !lead {
                return follow(ctx, s.search_mut()?, c.search.steps, &self.cancel).map(|_| JobReport::follower(out));
            }
            ctx.say(&format!(
                "data-parallel search: {world} ranks, {} examples per rank and step, global batch {}",
                c.search.batch_size,
                c.search.batch_size * world
            ));
        }
        if held.is_none() {
            // Only what figs wrote into a directory marked as its run is ever removed.
            held = Some(if self.force && holds_run { RunDir::replace(out)? } else { RunDir::create(out)? });
        }
        let _held = held;
        ctx.log_to(&out.join("run.log"))?;
        self.search_and_report(ctx, s, out, seed_info, reg, target)
    }

    fn flush(&self, ctx: &Ctx, s: &mut Session) {
        for w in s.take_warnings() {
            ctx.note(&format!("warning: {w}"));
        }
    }
}

/// A rank other than 0: takes its part in every step (the collectives need it), writes
/// nothing, and reports the checksum of its weights and gate logits.
fn follow(ctx: &mut Ctx, search: &mut Search, steps: u64, cancel: &AtomicBool) -> Result<()> {
    let todo = steps.saturating_sub(search.steps_done());
    let (rank, _) = search.rank_world();
    match search.run(todo, cancel, |_| {}) {
        // Every rank refused the same step (the loss is averaged first); rank 0 reports it
        // and exports its last checkpoint. Returning Ok keeps torchrun from killing rank 0
        // while it does.
        Err(e @ (Error::NonFiniteLoss { .. } | Error::NonFiniteGradient { .. } | Error::Diverged { .. })) => {
            ctx.say(&format!("rank {rank}: stopped with the others at step {}: {e}", search.steps_done()));
            return Ok(());
        }
        r => r?,
    };
    ctx.say(&format!(
        "rank {rank}: {} steps, weights and gate logits checksum {}",
        search.steps_done(),
        search.checksum()
    ));
    Ok(())
}

mod run;
