//! `regularizer`, `init`, `step`, `eval`, `status`: the search session step by step.

use crate::format::{bar, human_unit, kv, step_message};
use crate::session::Session;
use anyhow::{bail, Result};
use clap::Args;
use figs::gate::GateConfig;
use figs::regularizer::Regularizer;
use figs::search::{Search, SearchConfig};
use figs::space::parse_kv;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct JsonArg {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RegularizerArgs {
    /// Regularizer plugin: flops, model_size, latency, gamma_flops …; none shows the current.
    name: Option<String>,
    /// Regularizer parameter as name=value (repeatable), e.g. `-R hardware=cpu`.
    #[arg(long = "reg-param", short = 'R', value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Penalty strength λ (applies at once to a running search).
    #[arg(long)]
    lambda: Option<f64>,
    /// Target cost in the regularizer's unit (`2M`, `40us`), or `off`.
    #[arg(long)]
    target: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Adam learning rate of the weights (default: `get lr`).
    #[arg(long)]
    lr: Option<f64>,
    /// Adam learning rate of the gate logits.
    #[arg(long)]
    gate_lr: Option<f64>,
    /// Examples per step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Planned steps (τ anneals over them).
    #[arg(long)]
    steps: Option<u64>,
    /// Seed.
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Args, Debug)]
pub struct StepArgs {
    /// Number of steps.
    #[arg(default_value_t = 1)]
    n: u64,
    /// Run this many epochs of the training split instead (fractions allowed).
    #[arg(long, conflicts_with = "n")]
    epochs: Option<f64>,
    /// Print the last step's metrics as JSON (no progress bar).
    #[arg(long)]
    json: bool,
}

pub fn regularizer(s: &mut Session, a: RegularizerArgs) -> Result<()> {
    // Everything is checked before anything changes: a failing call leaves the session as it was.
    let new = match &a.name {
        Some(name) => {
            let reg = crate::format::find_regularizer(name)?;
            let params = parse_kv(&a.params)?;
            // Bind once to check the parameters now rather than at `init`.
            if let Some(g) = &s.supernet {
                reg.bind(g, &params)?;
            }
            Some((reg, params))
        }
        None if !a.params.is_empty() => {
            bail!("give the regularizer's name with its parameters: `regularizer NAME -R name=value`")
        }
        None => None,
    };
    let mut opts = s.opts.clone();
    if let Some(l) = a.lambda {
        opts.set("lambda", &l.to_string())?;
    }
    if let Some(t) = &a.target {
        opts.set("target", t)?;
    }
    let (reg, params) = match new.clone() {
        Some(r) => r,
        None => s.regularizer_or_default()?,
    };
    let unit = reg.unit().to_string();
    let target = opts.target_value(&unit, &reg.info().name)?;
    if let Some(search) = s.search.as_mut() {
        // The running search keeps its own regularizer; only its unit counts for a live target.
        let live_unit = search.regularizer().1.to_string();
        let live_target = opts.target_value(&live_unit, search.regularizer().0)?;
        if a.lambda.is_some() {
            search.set_lambda(opts.lambda)?;
        }
        if a.target.is_some() {
            search.set_target(live_target)?;
        }
        if new.is_some() && !a.json {
            println!("(a regularizer change takes effect at the next `init`)");
        }
    }
    s.opts = opts;
    s.regularizer = Some((reg.clone(), params.clone()));
    let lambda = s.search.as_ref().map(|x| x.lambda()).unwrap_or(s.opts.lambda);
    if a.json {
        let v = json!({"regularizer": reg.info().name, "source": reg.source().as_str(), "unit": unit,
            "params": params, "lambda": lambda, "target": target,
            "applies_at_next_init": new.is_some() && s.search.is_some()});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let p: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "regularizer {} (source {}, cost in {unit}){}; λ {lambda}; target {}",
        reg.info().name,
        reg.source().as_str(),
        if p.is_empty() { String::new() } else { format!(" with {}", p.join(" ")) },
        target.map(|t| human_unit(t, &unit)).unwrap_or_else(|| "off".into())
    );
    Ok(())
}

/// Pushes an option that takes effect at once: λ and the target of a running search, and
/// libtorch's thread count.
pub fn apply_live(s: &mut Session, name: &str) -> Result<()> {
    if name == "threads" && s.opts.threads > 0 {
        tch::set_num_threads(s.opts.threads);
    }
    let (lambda, opts) = (s.opts.lambda, s.opts.clone());
    if let Some(search) = s.search.as_mut() {
        match name {
            "lambda" => search.set_lambda(lambda)?,
            "target" => {
                let (reg, unit) = search.regularizer();
                let t = opts.target_value(unit, reg)?;
                search.set_target(t)?
            }
            _ => {}
        }
    }
    Ok(())
}

pub fn init(s: &mut Session, a: InitArgs) -> Result<()> {
    // Overrides are kept only if the search starts.
    let mut o = s.opts.clone();
    for (name, v) in [
        ("lr", a.lr.map(|v| v.to_string())),
        ("gate-lr", a.gate_lr.map(|v| v.to_string())),
        ("batch-size", a.batch_size.map(|v| v.to_string())),
        ("steps", a.steps.map(|v| v.to_string())),
        ("seed", a.seed.map(|v| v.to_string())),
    ] {
        if let Some(v) = v {
            o.set(name, &v)?;
        }
    }
    let graph = s.supernet()?.clone();
    let train = s.data()?.train.clone();
    let (reg, params) = s.regularizer_or_default()?;
    let target = o.target_value(reg.unit(), &reg.info().name)?;
    if o.threads > 0 {
        tch::set_num_threads(o.threads);
    }
    let cfg = SearchConfig {
        seed: o.seed,
        device: o.device,
        batch_size: o.batch_size,
        steps: o.steps,
        lr: o.lr,
        gate_lr: o.gate_lr,
        lambda: o.lambda,
        regularizer_params: params.clone(),
        gamma_threshold: o.gamma_threshold,
        gate: GateConfig {
            tau: o.tau,
            tau_final: (o.tau_final != o.tau).then_some(o.tau_final),
            ..GateConfig::default()
        },
        target,
        ..SearchConfig::default()
    };
    let unit = reg.unit().to_string();
    let search = Search::new(&graph, &train, cfg, Arc::new(reg.clone()))?;
    let (tr, va) = search.split_sizes();
    println!(
        "search initialised: {} on {}, regularizer {} (supernet cost {}), {tr} train / {va} validation images, {} steps per epoch",
        graph.name,
        figs::device::device_name(search.device()),
        search.regularizer().0,
        human_unit(search.initial_cost(), &unit),
        search.steps_per_epoch()
    );
    s.search = Some(search);
    s.regularizer.get_or_insert((reg, params));
    s.opts = o;
    s.found = None;
    s.found_weights = None;
    s.unsaved_steps = 0;
    s.quit_warned = false;
    Ok(())
}

pub fn step(s: &mut Session, a: StepArgs) -> Result<()> {
    let eval_every = s.opts.eval_every;
    let search = s.search()?;
    let n = match a.epochs {
        Some(e) if e > 0.0 && e.is_finite() => ((e * search.steps_per_epoch() as f64).round() as u64).max(1),
        Some(e) => bail!("--epochs must be positive, got {e}"),
        None => a.n,
    };
    if n == 0 {
        bail!("the number of steps must be at least 1");
    }
    let cancel = crate::interrupt::fresh();
    let cost0 = search.initial_cost();
    let pb = if a.json { indicatif::ProgressBar::hidden() } else { bar(n, "step") };
    let start = search.steps_done();
    let mut result: Result<()> = Ok(());
    while search.steps_done() - start < n {
        let left = n - (search.steps_done() - start);
        let chunk = if eval_every > 0 && n > eval_every { eval_every.min(left) } else { left };
        let r = search.run(chunk, &cancel, |m| {
            pb.inc(1);
            pb.set_message(step_message(m, cost0));
        });
        if let Err(e) = r {
            result = Err(e.into());
            break;
        }
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        if eval_every > 0 && n > eval_every {
            match search.evaluate() {
                Ok(_) if a.json => {}
                Ok(ev) => {
                    let line = format!("  step {:>5}: val acc {:.4}  val loss {:.4}", ev.step, ev.accuracy, ev.loss);
                    pb.suspend(|| println!("{line}"));
                }
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            }
        }
    }
    pb.finish_and_clear();
    let done = search.steps_done() - start;
    let total = search.steps_done();
    s.unsaved_steps += done;
    s.quit_warned = false;
    let stopped = cancel.load(Ordering::SeqCst);
    if stopped && !a.json {
        println!("stopped by Ctrl-C after {done} of {n} steps; the search is at step {total}");
    }
    result?;
    let last = s.search()?.history().last().cloned();
    if a.json {
        let v = json!({"step": total, "steps_run": done, "steps_asked": n, "stopped_by_ctrl_c": stopped,
            "initial_cost": cost0, "last_step": last});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if let Some(m) = last {
        println!("step {total}: {}", step_message(&m, cost0));
    }
    Ok(())
}

pub fn eval(s: &mut Session, json: bool) -> Result<()> {
    let search = s.search()?;
    let unit = search.regularizer().1.to_string();
    let cost0 = search.initial_cost();
    let target = search.config().target;
    let ev = search.evaluate()?;
    if json {
        let v = json!({"eval": ev, "initial_cost": cost0, "unit": unit, "target": target});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "step {}: val acc {:.4}, val loss {:.4}, cost of the export {} ({:.1}% of supernet){}",
            ev.step,
            ev.accuracy,
            ev.loss,
            human_unit(ev.cost, &unit),
            100.0 * ev.cost / cost0,
            target.map(|t| format!("; target {}", landing(ev.cost, t, &unit))).unwrap_or_default()
        );
    }
    Ok(())
}

/// How close the export's cost is to the target: `1.00 M FLOPs; export at 99.99% of it
/// (under)`. Two decimals, so that just under and just over do not both print as 100.0%.
fn landing(cost: f64, target: f64, unit: &str) -> String {
    let side = if cost < target {
        "under"
    } else if cost > target {
        "over"
    } else {
        "exactly"
    };
    format!("{}; export at {:.2}% of it ({side})", human_unit(target, unit), 100.0 * cost / target)
}

pub fn status(s: &mut Session, json: bool) -> Result<()> {
    let unsaved = s.unsaved_steps;
    let search = s.search()?;
    let (reg, unit) = search.regularizer();
    let (reg, unit) = (reg.to_string(), unit.to_string());
    let cost0 = search.initial_cost();
    let cost = search.current_cost();
    let alive = search.alive();
    let (a, t) = alive.iter().filter(|g| g.gated).fold((0, 0), |(a, t), g| (a + g.alive, t + g.width));
    let last = search.history().last().cloned();
    let eval = search.evals().last().cloned();
    let target = search.config().target;
    if json {
        let v = json!({"step": search.steps_done(), "epoch": search.epoch(), "lambda": search.lambda(),
            "regularizer": reg, "unit": unit, "initial_cost": cost0, "cost": cost,
            "alive_channels": a, "searchable_channels": t, "last_step": last, "last_eval": eval,
            "unexported_steps": unsaved, "target": target});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut rows = vec![
        ("step".to_string(), format!("{} (epoch {})", search.steps_done(), search.epoch())),
        ("regularizer".into(), format!("{reg}, λ {:.4}", search.lambda())),
        (
            "cost of the export".into(),
            format!("{} ({:.1}% of supernet)", human_unit(cost, &unit), 100.0 * cost / cost0),
        ),
        ("alive channels".into(), format!("{a} / {t}")),
        ("not exported".into(), format!("{unsaved} steps")),
    ];
    if let Some(tg) = target {
        rows.insert(3, ("target".into(), landing(cost, tg, &unit)));
    }
    if let Some(m) = last {
        rows.push((
            "last step".into(),
            format!("loss {:.4}, batch acc {:.3}, τ {:.3}", m.task_loss, m.batch_accuracy, m.tau),
        ));
    }
    if let Some(e) = eval {
        rows.push(("last eval".into(), format!("step {}: val acc {:.4}", e.step, e.accuracy)));
    }
    println!("{}", kv(&rows));
    Ok(())
}
