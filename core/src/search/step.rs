//! The search step without waiting for the device.
//!
//! A step queues its work and keeps everything it measured on the device: the alive counts,
//! the penalty and the cost (through the regularizer's device form), target mode's
//! comparison and λ, the divergence watch, and whether the step may be applied. The update
//! is masked on the device ([`crate::optim::Optim::step_masked`]), so a step whose loss is
//! not finite, or explodes, changes nothing, and the flag is sticky: every later step of the
//! same window is refused too. [`Search::run`] brings a window's metrics to the host in one
//! copy ([`WINDOW`] steps, or fewer at the end), raises the first refused step's error there
//! and rewinds the step counter, the data position and the optimizer's step count to it
//! (docs/MATH.md, "A refused step").
//!
//! Why one file of ~480 lines: the window that queues steps, the step that fills it and the
//! read that empties it share their invariants (what is on the device, which step a refused
//! flag belongs to); apart, each would hide half of them.

use super::{mix, Search, StepMetrics};
use crate::error::{Error, Result};
use crate::gate::{self, RegSource};
use crate::regularizer::{check_cost, check_penalty_form, penalty_not_finite, Source};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tch::{Device, Kind, Tensor};

/// Steps whose metrics come to the host together (the last window of a run is shorter).
pub const WINDOW: u64 = 25;

/// Device → host reads made by searches in this process. Every read of the step path goes
/// through [`read_host`]; a test counts them.
static HOST_READS: AtomicU64 = AtomicU64::new(0);

/// How many times a search has read values back from its device so far (in this process).
pub fn host_reads() -> u64 {
    HOST_READS.load(Ordering::Relaxed)
}

/// Brings `t` to the host as float64 values: the one place where the step path waits for
/// the device.
pub(super) fn read_host(t: &Tensor) -> Result<Vec<f64>> {
    HOST_READS.fetch_add(1, Ordering::Relaxed);
    Ok(Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).to_device(Device::Cpu).flatten(0, -1))?)
}

// The columns of a step's row of metrics (float64 on the device).
const LOSS: usize = 0;
const TASK: usize = 1;
const REG: usize = 2;
const COST: usize = 3;
const ALIVE: usize = 4;
const ACC: usize = 5;
const LAMBDA: usize = 6;
const LAMBDA_NEXT: usize = 7;
const AVG_NEXT: usize = 8;
const BEST_NEXT: usize = 9;
const BEST_BEFORE: usize = 10;
const APPLIED: usize = 11;
const FINITE: usize = 12;
const GRAD_FINITE: usize = 13;
const COLUMNS: usize = 14;

/// What the host knows about a queued step.
struct Queued {
    /// The step's index, the optimizer's step count before it, its τ, and where the data
    /// was after its batch (epoch, position): what a refused step rewinds to.
    step: u64,
    opt_steps: u64,
    tau: f64,
    epoch: u64,
    batch_pos: usize,
}

/// The steps of the current window: their rows of metrics and the device state they carry
/// from step to step.
#[derive(Default)]
pub(super) struct Window {
    rows: Vec<Tensor>,
    queued: Vec<Queued>,
    /// Every step so far in this window was applied (boolean scalar).
    ok: Option<Tensor>,
    /// λ, and the divergence watch's running average and best average (float64 scalars;
    /// `watch` is None before the search's first step).
    lambda: Option<Tensor>,
    watch: Option<(Tensor, Tensor)>,
}

/// Constants of the step on the search's device, made once.
pub(super) struct StepConsts {
    /// The groups whose channels are searched (gated, or with BN γ), as indices.
    searched: Vec<usize>,
    searched_idx: Tensor,
    /// Every group's full width (float64).
    widths: Tensor,
    /// Channels searched in the supernet the search started from (compaction does not
    /// change it, so the alive fraction stays comparable over a run).
    searched_width: f64,
}

impl StepConsts {
    /// `supernet_width`: the searched channels of the uncompacted supernet (None: these
    /// `widths` are that supernet's).
    pub(super) fn new(
        widths: &[usize],
        searched: Vec<usize>,
        device: Device,
        supernet_width: Option<f64>,
    ) -> StepConsts {
        let idx: Vec<i64> = searched.iter().map(|&g| g as i64).collect();
        let w: Vec<f64> = widths.iter().map(|&w| w as f64).collect();
        StepConsts {
            searched_width: supernet_width.unwrap_or_else(|| searched.iter().map(|&g| w[g]).sum()),
            searched,
            searched_idx: Tensor::from_slice(&idx).to_device(device),
            widths: Tensor::from_slice(&w).to_device(device),
        }
    }

    /// The searched channels of the uncompacted supernet.
    pub(super) fn supernet_width(&self) -> f64 {
        self.searched_width
    }

    /// Scalars per searched group as one tensor (None when no group is searched).
    fn stack(&self, counts: &[Tensor]) -> Option<Tensor> {
        (!counts.is_empty()).then(|| Tensor::stack(counts, 0))
    }

    /// Counts per group in a `[groups]` float64 tensor: `counts[i]` for the i-th searched
    /// group, the full width for the others.
    fn per_group(&self, counts: &Option<Tensor>) -> Tensor {
        match counts {
            Some(c) => self.widths.index_copy(0, &self.searched_idx, &c.to_kind(Kind::Double)),
            None => self.widths.shallow_clone(),
        }
    }
}

fn scalar(v: f64, device: Device) -> Tensor {
    // A fill kernel, not a copy from the host (which would wait for the device on CUDA).
    Tensor::full([], v, (Kind::Double, device))
}

impl Search {
    /// One optimisation step of weights and gate logits, with its metrics. (Each call reads
    /// the metrics back; [`Search::run`] reads once per window.)
    pub fn step(&mut self) -> Result<StepMetrics> {
        self.queue_step()?;
        let (mut done, err) = self.flush();
        match (err, done.pop()) {
            (Some(e), _) => Err(e),
            (None, Some(m)) => {
                self.compact_if_due()?;
                Ok(m)
            }
            (None, None) => Err(Error::Session("the step recorded no metrics".into())),
        }
    }

    /// Runs up to `n` steps, calling `on_step` for each once its window's metrics are on
    /// the host; stops early (between steps) when `cancel` becomes true. Returns the number
    /// of steps done. On an error, the steps before it are recorded and reported, and the
    /// search stands where the failed step started.
    pub fn run(&mut self, n: u64, cancel: &AtomicBool, mut on_step: impl FnMut(&StepMetrics)) -> Result<u64> {
        let mut done = 0;
        let mut stop = false;
        while done < n && !stop {
            // Windows end at multiples of WINDOW whatever `n` is, so the reads, the ranks'
            // stop agreement and compaction happen at the same steps for every caller.
            let chunk = (n - done).min(WINDOW - self.step % WINDOW);
            let mut failed = None;
            for _ in 0..chunk {
                // Ranks agree on a stop (a collective and a read) at the same absolute steps,
                // every WINDOW, however their callers split the run.
                let stop_now = match &self.collective {
                    Some(_) if self.step % WINDOW == 0 => self.stop_agreed(cancel),
                    Some(_) => Ok(false),
                    None => Ok(cancel.load(Ordering::Relaxed)),
                };
                match stop_now.and_then(|s| if s { Ok(true) } else { self.queue_step().map(|()| false) }) {
                    Ok(false) => {}
                    Ok(true) => {
                        stop = true;
                        break;
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let (steps, refused) = self.flush();
            for m in &steps {
                on_step(m);
            }
            done += steps.len() as u64;
            if let Some(e) = refused.or(failed) {
                return Err(e);
            }
            self.compact_if_due()?;
        }
        Ok(done)
    }

    /// Queues one step on the device; nothing is read back.
    fn queue_step(&mut self) -> Result<()> {
        // Gate noise and dropout come from libtorch's global generator, whose state tch
        // cannot read: seeding it from (seed, step) makes every step's draws reproducible
        // after a resume.
        tch::manual_seed((mix(self.config.seed, self.step) >> 1) as i64);
        let opt_steps = self.opt.steps();
        let (x, y) = self.next_batch()?;
        let batch_pos = self.batches.as_ref().map_or(0, |b| b.position());
        // Every rank walks the same global order and reads only its slice of each global
        // batch (`Batches::shard`, see `Search::epoch_batches`).
        let dev = self.device;
        let cfg = &self.config.gate;
        let tau = cfg.tau_at(self.step, self.config.steps);
        let gamma = self.source() == Source::BnGamma;
        // Gates: one draw over the flat logits (one per gate block), spread over the
        // channels, a view per group.
        let z_flat =
            self.gates.as_ref().map(|f| f.channels(&gate::sample(&f.flat, tau, cfg.straight_through, cfg.eps)));
        let z: Vec<Option<Tensor>> = match (&self.gates, &z_flat) {
            (Some(f), Some(zf)) => f.views(zf),
            _ => (0..self.analysis.groups.len()).map(|_| None).collect(),
        };
        // A training pass updates the BN running statistics in place: a refused step puts
        // them back (one NaN batch would otherwise poison every later evaluation).
        let bn_before: Vec<(Tensor, Tensor)> =
            tch::no_grad(|| self.net.bn_statistics().into_iter().map(|t| (t.copy(), t)).collect());
        // The γ baseline trains the plain network; FiGS multiplies the sampled gates in.
        let out = self.net.forward_outputs(&x, true, if gamma { None } else { Some(&z) })?;
        let task = self.task.loss(&out, &y);
        let mut r: Vec<Option<Tensor>> = (0..self.analysis.groups.len()).map(|_| None).collect();
        let open = match (&self.gates, &z_flat) {
            (Some(f), Some(zf)) if !gamma => {
                let value = match cfg.reg_source {
                    RegSource::Sample => zf.shallow_clone(),
                    RegSource::Prob => f.channels(&gate::probabilities(&f.flat)),
                };
                r = f.views(&value);
                Some(f.group_sums(&gate::open_in_sample(zf)))
            }
            _ => {
                let mut open = Vec::with_capacity(self.consts.searched.len());
                for &g in &self.consts.searched {
                    let v = self.gamma_vector(g).ok_or_else(|| Error::Session(format!("group {g} lost its BN γ")))?;
                    open.push(v.detach().gt(self.config.gamma_threshold).sum(Kind::Float));
                    r[g] = Some(v);
                }
                self.consts.stack(&open)
            }
        };
        let alive = self.consts.per_group(&open);
        let name = self.regularizer.name().to_string();
        let mut host_alive = None;
        let reg = match self.bound.penalty_on_device(&r, &alive) {
            Some(p) => {
                let p = p?;
                check_penalty_form(&name, &p, &r)?;
                p
            }
            None => {
                // A regularizer with only the host form: one read per step.
                let a = host_alive.insert(read_host(&alive)?);
                let p = self.bound.penalty(&r, a)?;
                check_penalty_form(&name, &p, &r)?;
                // The host form is checked at once, as it always was (a second read).
                if let Some(v) = read_host(&p)?.first().filter(|v| !v.is_finite()) {
                    return Err(penalty_not_finite(&name, *v));
                }
                p
            }
        };
        let reg = reg.to_device(dev).to_kind(Kind::Float);
        let cost = self.cost_on_device(&alive, &mut host_alive)?;
        let w = self.window.get_or_insert_with(Window::default);
        let lambda = w.lambda.get_or_insert_with(|| scalar(self.lambda, dev)).shallow_clone();
        // Target mode compares the cost of what export would keep (score > 0): the sampled
        // gates keep channels with a slightly below 0 alive, which would overshoot.
        let above = match self.config.target {
            Some(t) => {
                let counts = match &self.gates {
                    Some(f) => Some(f.group_sums(&f.channels(&f.flat.detach().gt(0.0)))),
                    None => {
                        let c: Vec<Tensor> = self
                            .consts
                            .searched
                            .iter()
                            .map(|&g| match self.score(g) {
                                Some(s) => s.gt(0.0).sum(Kind::Float),
                                None => Tensor::full([], self.analysis.groups[g].width as f64, (Kind::Float, dev)),
                            })
                            .collect();
                        self.consts.stack(&c)
                    }
                };
                let kept = self.consts.per_group(&counts);
                Some(self.cost_on_device(&kept, &mut None)?.gt(t))
            }
            None => None,
        };
        let applied_lambda = match &above {
            Some(a) => lambda.where_scalarother(a, 0.0),
            None => lambda.shallow_clone(),
        };
        let loss = &task + &reg * (&applied_lambda / self.cost0).to_kind(Kind::Float);
        let mut pair = Tensor::stack(&[loss.detach().to_kind(Kind::Double), task.detach().to_kind(Kind::Double)], 0);
        if let Some(c) = &self.collective {
            // The same numbers on every rank, so every rank refuses (or takes) the step.
            c.all_reduce_mean(&[&pair])?;
            pair = pair.to_device(dev);
        }
        let (loss_v, task_v) = (pair.get(0), pair.get(1));
        let finite = loss_v.isfinite();
        let w = self.window.get_or_insert_with(Window::default);
        // The divergence watch: a task loss above 10 and 100× the best running average so
        // far is refused (chance on 10 classes is 2.3, so this is no noisy batch).
        let watch = match (&w.watch, self.loss_avg, self.best_avg) {
            (Some((a, b)), _, _) => Some((a.shallow_clone(), b.shallow_clone())),
            (None, Some(a), Some(b)) => Some((scalar(a, dev), scalar(b, dev))),
            _ => None,
        };
        let (diverged, avg_new, best_before) = match &watch {
            Some((avg, best)) => {
                let ratio = &task_v / best.clamp_min(0.05);
                (task_v.gt(10.0).logical_and(&ratio.gt(100.0)), avg * 0.9 + &task_v * 0.1, best.shallow_clone())
            }
            None => (finite.zeros_like(), task_v.shallow_clone(), scalar(f64::NAN, dev)),
        };
        self.opt.backward(&loss);
        let grads = self.opt.grads();
        if let Some(c) = &self.collective {
            c.all_reduce_mean(&grads.iter().collect::<Vec<_>>())?;
        }
        // A finite loss can still have a non-finite gradient element; one sum per gradient
        // finds it (after the all-reduce, so every rank decides alike).
        let grad_finite = if grads.is_empty() {
            finite.ones_like()
        } else {
            let sums: Vec<Tensor> = grads.iter().map(|g| g.sum(Kind::Double)).collect();
            Tensor::stack(&sums, 0).sum(Kind::Double).isfinite()
        };
        let ok_before = w.ok.get_or_insert_with(|| finite.ones_like()).shallow_clone();
        let ok = ok_before.logical_and(&finite).logical_and(&diverged.logical_not()).logical_and(&grad_finite);
        let (avg_next, best_next) = match &watch {
            Some((avg, best)) => (avg_new.where_self(&ok, avg), best.minimum(&avg_new).where_self(&ok, best)),
            None => (avg_new.shallow_clone(), avg_new.shallow_clone()),
        };
        self.opt.step_masked(&ok);
        tch::no_grad(|| {
            for (before, mut now) in bn_before {
                let kept = now.where_self(&ok, &before);
                let _ = now.copy_(&kept);
            }
        });
        let lambda_next = match &above {
            Some(a) => {
                let rate = self.config.lambda_rate;
                let factor = scalar(1.0 + rate, dev).where_self(a, &scalar(1.0 - rate, dev));
                (&lambda * factor).clamp(1e-4, 1e4).where_self(&ok, &lambda)
            }
            None => lambda.shallow_clone(),
        };
        let acc = self.task.batch_metric(&out, &y);
        let alive_fraction = if self.consts.searched_width > 0.0 {
            alive.index_select(0, &self.consts.searched_idx).sum(Kind::Double) / self.consts.searched_width
        } else {
            scalar(1.0, dev)
        };
        let d = |t: &Tensor| t.detach().to_device(dev).to_kind(Kind::Double).reshape([1]);
        let mut row = [
            (LOSS, d(&loss_v)),
            (TASK, d(&task_v)),
            (REG, d(&reg)),
            (COST, d(&cost)),
            (ALIVE, d(&alive_fraction)),
            (ACC, d(&acc)),
            (LAMBDA, d(&applied_lambda)),
            (LAMBDA_NEXT, d(&lambda_next)),
            (AVG_NEXT, d(&avg_next)),
            (BEST_NEXT, d(&best_next)),
            (BEST_BEFORE, d(&best_before)),
            (APPLIED, d(&ok)),
            (FINITE, d(&finite)),
            (GRAD_FINITE, d(&grad_finite)),
        ];
        row.sort_by_key(|(column, _)| *column);
        let row: Vec<Tensor> = row.into_iter().map(|(_, t)| t).collect();
        let w = self.window.get_or_insert_with(Window::default);
        debug_assert_eq!(row.len(), COLUMNS);
        w.rows.push(Tensor::cat(&row, 0));
        w.queued.push(Queued { step: self.step, opt_steps, tau, epoch: self.epoch, batch_pos });
        w.ok = Some(ok);
        w.lambda = Some(lambda_next);
        w.watch = Some((avg_next, best_next));
        self.step += 1;
        Ok(())
    }

    /// The reported cost of `alive` (per group, on the device) as a float64 scalar on the
    /// device: the regularizer's device form, or its host form (one read per step, shared
    /// through `host_alive` with the penalty).
    fn cost_on_device(&self, alive: &Tensor, host_alive: &mut Option<Vec<f64>>) -> Result<Tensor> {
        let name = self.regularizer.name();
        if let Some(c) = self.bound.reported_on_device(alive) {
            return Ok(c?.to_device(self.device).to_kind(Kind::Double));
        }
        let a = match host_alive {
            Some(a) => a,
            None => host_alive.insert(read_host(alive)?),
        };
        Ok(scalar(check_cost(name, self.bound.reported(a)?)?, self.device))
    }

    /// Brings the window's metrics to the host in one read and records them. Returns the
    /// applied steps' metrics and, if a step was refused, its error, after rewinding the
    /// step counter, the data position and the optimizer's step count to that step (its
    /// parameters and moments were never changed).
    pub(super) fn flush(&mut self) -> (Vec<StepMetrics>, Option<Error>) {
        let Some(w) = self.window.take() else { return (Vec::new(), None) };
        if w.rows.is_empty() {
            return (Vec::new(), None);
        }
        let values = match read_host(&Tensor::stack(&w.rows, 0)) {
            Ok(v) => v,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut done = Vec::with_capacity(w.queued.len());
        for (q, row) in w.queued.iter().zip(values.chunks(COLUMNS)) {
            if row[APPLIED] > 0.5 {
                self.lambda = row[LAMBDA_NEXT];
                self.loss_avg = Some(row[AVG_NEXT]);
                self.best_avg = Some(row[BEST_NEXT]);
                let m = StepMetrics {
                    step: q.step + 1,
                    epoch: q.epoch,
                    task_loss: row[TASK],
                    reg: row[REG],
                    cost: row[COST],
                    alive_fraction: row[ALIVE],
                    tau: q.tau,
                    batch_accuracy: row[ACC],
                    lambda: row[LAMBDA],
                };
                self.history.push(m.clone());
                done.push(m);
                continue;
            }
            let error = if row[FINITE] < 0.5 {
                if !row[REG].is_finite() && row[TASK].is_finite() {
                    penalty_not_finite(self.regularizer.name(), row[REG])
                } else {
                    Error::NonFiniteLoss { step: q.step, value: row[LOSS], task: row[TASK], reg: row[REG] }
                }
            } else if row[GRAD_FINITE] < 0.5 {
                Error::NonFiniteGradient { step: q.step, loss: row[LOSS] }
            } else {
                let best = row[BEST_BEFORE];
                Error::Diverged { step: q.step, value: row[TASK], best, ratio: row[TASK] / best.max(0.05) }
            };
            self.rewind(q);
            return (done, Some(error));
        }
        (done, None)
    }

    /// Puts the step counter, the optimizer's step count and the data position back to
    /// where the refused step `q` left them (its batch counts as drawn, as it always has).
    fn rewind(&mut self, q: &Queued) {
        self.step = q.step;
        self.opt.set_steps(q.opt_steps);
        if self.epoch != q.epoch || self.batches.as_ref().map(|b| b.position()) != Some(q.batch_pos) {
            self.epoch = q.epoch;
            let mut b = self.epoch_batches(q.epoch);
            b.seek(q.batch_pos);
            self.batches = Some(b);
        }
    }
}
