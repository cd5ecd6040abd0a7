//! `figs pareto`: the FiGS vs width-multiplier vs MorphNet-γ experiment (figs::pareto),
//! resumable, point by point.

use crate::config_flags::{ConfigFlags, ParetoRecipe};
use anyhow::{bail, Result};
use clap::Args;
use figs::config::Config;
use figs::data::DataSource;
use figs::pareto::{parse_point, points, Method, Outcome, Point, Recipe, Sweep};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

#[derive(Args, Debug)]
pub struct ParetoArgs {
    /// The recipe's settings, as in `figs search` (the space's `width` parameter is the
    /// multiplier of the baseline; `--steps` are figs' and γ's search steps, `--epochs`
    /// every network's retraining).
    #[command(flatten)]
    settings: ConfigFlags<ParetoRecipe>,
    /// Use a small synthetic data set (`--data synthetic`; for smoke tests).
    #[arg(long, conflicts_with = "data")]
    synthetic: bool,
    /// Budgets as fractions of the seed network's MACs.
    #[arg(long, value_delimiter = ',', default_value = "0.4,0.5,0.6")]
    budgets: Vec<f64>,
    /// Number of seeds: 1..=N (seed 0 chose the defaults, so it is not reported).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Methods: figs, width, gamma, seed.
    #[arg(long, value_delimiter = ',', default_value = "figs,width,gamma,seed")]
    methods: Vec<Method>,
    /// FiGS' initial λ in target mode (it adapts). The sweep's own, not `figs search`'s
    /// default: every table in docs/RESULTS.md was run at 0.5.
    #[arg(long, default_value_t = 0.5)]
    lambda: f64,
    /// Momentum-SGD learning rate of the γ search (MorphNet trains γ with momentum SGD).
    #[arg(long, default_value_t = 0.05)]
    gamma_lr: f64,
    /// λ of the γ search, held fixed (MorphNet's procedure; adapting it collapses γ).
    #[arg(long, default_value_t = 0.5)]
    gamma_lambda: f64,
    /// Space parameter of the width baseline only (KEY=VALUE, repeatable). Default for
    /// spaces that have them: round_nearest=1 and head_scales=true, a continuous
    /// multiplier that reaches every budget.
    #[arg(long = "width-param", value_name = "KEY=VALUE")]
    width_params: Vec<String>,
    /// Results directory (config.json, results.jsonl, summary.md, pareto.svg/png).
    #[arg(long, default_value = "runs/pareto")]
    out: PathBuf,
    /// Run only these points (METHOD:BUDGET:SEED, repeatable): one process per point on a
    /// cluster, all writing to the same --out.
    #[arg(long, value_name = "METHOD:BUDGET:SEED")]
    only: Vec<String>,
    /// Print the points not done yet (one per line, for --only) and run nothing.
    #[arg(long)]
    list: bool,
    /// Only redraw the table and chart from the results there are.
    #[arg(long)]
    report: bool,
}

pub fn run(base: &Config, a: ParetoArgs) -> Result<()> {
    if a.budgets.iter().any(|b| !(*b > 0.0 && *b <= 1.0)) {
        bail!("--budgets are fractions of the seed network's MACs, in (0, 1]; got {:?}", a.budgets);
    }
    let mut c = base.clone();
    a.settings.apply(&mut c)?;
    if a.synthetic {
        c.set("data", "synthetic")?;
    }
    c.check()?;
    if a.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    if !(a.lambda > 0.0 && a.lambda.is_finite()) {
        bail!("--lambda must be positive, got {}", a.lambda);
    }
    c.search.lambda = a.lambda;
    if !(a.gamma_lambda > 0.0 && a.gamma_lambda.is_finite()) {
        bail!("--gamma-lambda must be positive, got {}", a.gamma_lambda);
    }
    if c.run.threads > 0 {
        tch::set_num_threads(c.run.threads);
    }
    // One data set for every point: the synthetic one is always drawn with seed 0.
    let source = DataSource::parse(&c.data.data).map_err(|e| anyhow::anyhow!("--data: {e}"))?;
    let data = source.load(&figs::data::LoadOptions { seed: 0, ..c.load_options()? }, &mut |_| {})?;
    let (_, space_params, _) = figs::session::build_space(&c.search.space, &c.search.param, Some(&data.train))?;
    let recipe = Recipe::from_config(
        &c,
        space_params,
        format!("{} (train {}, test {})", source.name(), data.train.len(), data.test.len()),
        (a.gamma_lr, a.gamma_lambda),
        width_params(&c.search.space, &a.width_params)?,
    );
    let sweep = Sweep::open(&a.out, recipe)?;
    let seeds: Vec<u64> = (1..=a.seeds).collect();
    let todo_all: Vec<Point> = if a.only.is_empty() {
        points(&a.budgets, &seeds, &a.methods)
    } else {
        a.only.iter().map(|s| parse_point(s)).collect::<figs::Result<_>>()?
    };
    let (results, bad) = sweep.results()?;
    if bad > 0 {
        eprintln!("warning: {bad} line(s) of results.jsonl do not parse and were skipped");
    }
    let todo: Vec<&Point> = todo_all.iter().filter(|p| !Sweep::done(&results, p)).collect();
    if a.list {
        for p in &todo {
            println!("{}", p.key());
        }
        return Ok(());
    }
    let mut failed: Vec<String> = Vec::new();
    if !a.report {
        println!(
            "figs pareto: {} points, {} done, {} to run; results in {}",
            todo_all.len(),
            todo_all.len() - todo.len(),
            todo.len(),
            a.out.join("results.jsonl").display()
        );
        let cancel = crate::interrupt::fresh();
        for (i, p) in todo.iter().enumerate() {
            let started = std::time::Instant::now();
            println!("[{}/{}] {}", i + 1, todo.len(), p.key());
            // Other processes may share this directory: skip what they did or are doing.
            if Sweep::done(&sweep.results()?.0, p) {
                println!("    done by another process meanwhile");
                continue;
            }
            let _claim = match figs::pareto::claim::claim(&sweep.dir, &p.key())? {
                figs::pareto::claim::Claimed::Mine(c) => c,
                figs::pareto::claim::Claimed::Taken { holder, path } => {
                    println!("    being run by {holder} ({}; delete it if that process is gone)", path.display());
                    continue;
                }
            };
            // One failing point (a diverging γ search, say) must not end an unattended
            // sweep: it is reported, not recorded, and tried again by the next run.
            let r = match sweep.run_point(p, &data, &cancel, |m| println!("    {m}")) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("    point {} failed, not recorded: {e}", p.key());
                    failed.push(p.key());
                    continue;
                }
            };
            match r {
                Outcome::Done(r) => println!(
                    "    {} params, {} MACs ({:.1}% of the seed), test {} {:.4}, {:.0} s",
                    crate::format::human(r.params as f64),
                    crate::format::human(r.macs as f64),
                    100.0 * r.macs_fraction,
                    r.metric,
                    r.test_accuracy,
                    started.elapsed().as_secs_f64()
                ),
                Outcome::Infeasible(why) => println!("    skipped: {why}"),
                Outcome::Cancelled => {
                    println!("stopped by Ctrl-C; {} is not recorded, the points before it are", p.key());
                    break;
                }
            }
            if cancel.load(Ordering::SeqCst) {
                break;
            }
        }
    }
    report(&sweep)?;
    if !failed.is_empty() {
        bail!(
            "{} point(s) failed and were not recorded: {}; run the same command again to retry them",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The width baseline's extra space parameters: as given, else the continuous-multiplier
/// settings where the space has them.
fn width_params(space: &str, given: &[String]) -> Result<BTreeMap<String, String>> {
    if !given.is_empty() {
        return given
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => bail!("--width-param takes KEY=VALUE, got `{kv}`"),
            })
            .collect();
    }
    let known: Vec<String> =
        figs::space::SearchSpace::params(&figs::plugin::find(space)?).into_iter().map(|p| p.name).collect();
    Ok([("round_nearest", "1"), ("head_scales", "true")]
        .into_iter()
        .filter(|(k, _)| known.iter().any(|n| n == k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// Writes summary.md and the chart from every result in the directory, and shows them.
fn report(sweep: &Sweep) -> Result<()> {
    match sweep.write_report()? {
        None => println!("no results yet"),
        Some(r) => {
            println!("\n{}", r.table);
            println!("wrote {}", r.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
        }
    }
    Ok(())
}
