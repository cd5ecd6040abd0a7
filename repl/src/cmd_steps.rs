//! `regularizer`, `init`, `step`, `eval`, `status`: the search step by step, formatted.

use crate::config_flags::{ConfigFlags, InitSettings};
use crate::format::{human_unit, kv, step_message};
use crate::progress::Bars;
use crate::shell::Shell;
use anyhow::Result;
use clap::Args;
use figs::session::RegularizerChange;

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
    /// Settings for this search (default: the session's, `get NAME`), kept if it starts.
    #[command(flatten)]
    settings: ConfigFlags<InitSettings>,
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

pub fn regularizer(sh: &mut Shell, a: RegularizerArgs) -> Result<()> {
    let change = RegularizerChange { name: a.name, params: a.params, lambda: a.lambda, target: a.target };
    let info = if change == RegularizerChange::default() {
        sh.core.regularizer_info()?
    } else {
        sh.core.configure_regularizer(change)?
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    if info.applies_at_next_init {
        println!("(a regularizer change takes effect at the next `init`)");
    }
    // Every parameter is shown with its value, defaults included; an empty one (a file
    // not given: `latency`'s own table) says nothing.
    let p: Vec<String> = info.params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "regularizer {} (source {}, cost in {}){}; λ {}; target {}",
        info.regularizer,
        info.source,
        info.unit,
        if p.is_empty() { String::new() } else { format!(" with {}", p.join(" ")) },
        info.lambda,
        info.target.map(|t| human_unit(t, &info.unit)).unwrap_or_else(|| "off".into())
    );
    Ok(())
}

pub fn init(sh: &mut Shell, a: InitArgs) -> Result<()> {
    // Overrides are kept only if the search starts.
    let mut c = sh.core.config().clone();
    a.settings.apply(&mut c)?;
    let r = sh.core.init_with(c)?;
    println!(
        "search initialised: {} on {}, regularizer {} (supernet cost {}), {} train / {} validation images, {} steps per epoch",
        r.supernet,
        r.device,
        r.regularizer,
        human_unit(r.initial_cost, &r.unit),
        r.train,
        r.validation,
        r.steps_per_epoch
    );
    sh.quit_warned = false;
    Ok(())
}

pub fn step(sh: &mut Shell, a: StepArgs) -> Result<()> {
    sh.core.set_cancel(crate::interrupt::fresh());
    let bars = Bars::attach(&mut sh.core, a.json);
    let r = match a.epochs {
        Some(e) => sh.core.step_epochs(e),
        None => sh.core.step(a.n),
    };
    bars.finish();
    sh.quit_warned = false;
    let r = r?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    if r.stopped_by_ctrl_c {
        println!(
            "stopped by Ctrl-C after {} of {} steps; the search is at step {}",
            r.steps_run, r.steps_asked, r.step
        );
    }
    if let Some(m) = &r.last_step {
        println!("step {}: {}", r.step, step_message(m, r.initial_cost));
    }
    Ok(())
}

pub fn eval(sh: &mut Shell, json: bool) -> Result<()> {
    let r = sh.core.evaluate()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let ev = &r.eval;
    println!(
        "step {}: val {}{}, val loss {:.4}, cost of the export {} ({:.1}% of supernet){}",
        ev.step,
        ev.headline(),
        ev.more_text(),
        ev.loss,
        human_unit(ev.cost, &r.unit),
        100.0 * ev.cost / r.initial_cost,
        r.target.map(|t| format!("; target {}", landing(ev.cost, t, &r.unit))).unwrap_or_default()
    );
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

pub fn status(sh: &mut Shell, json: bool) -> Result<()> {
    let st = sh.core.status()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(());
    }
    let mut rows = vec![
        ("step".to_string(), format!("{} (epoch {})", st.step, st.epoch)),
        ("regularizer".into(), format!("{}, λ {:.4}", st.regularizer, st.lambda)),
        (
            "cost of the export".into(),
            format!("{} ({:.1}% of supernet)", human_unit(st.cost, &st.unit), 100.0 * st.cost / st.initial_cost),
        ),
        ("alive channels".into(), format!("{} / {}", st.alive_channels, st.searchable_channels)),
        ("not exported".into(), format!("{} steps", st.unexported_steps)),
    ];
    if let Some(tg) = st.target {
        rows.insert(3, ("target".into(), landing(st.cost, tg, &st.unit)));
    }
    if let Some(m) = &st.last_step {
        rows.push((
            "last step".into(),
            format!("loss {:.4}, batch acc {:.3}, τ {:.3}", m.task_loss, m.batch_accuracy, m.tau),
        ));
    }
    if let Some(e) = &st.last_eval {
        rows.push(("last eval".into(), format!("step {}: val {}", e.step, e.headline())));
    }
    println!("{}", kv(&rows));
    Ok(())
}
