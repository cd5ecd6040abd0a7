//! The configuration's settings as command-line flags: figs::config declares each setting
//! once (name, default, check, help); this file only spells them for clap. A flag has no
//! default of its own — an absent flag leaves the configuration's value — so a flag's
//! default cannot differ from the session's.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use figs::config::{Config, Setting};

/// Which settings a command takes as flags.
pub trait Selection {
    fn takes(s: &Setting) -> bool;
}

/// Every setting (`figs search`).
#[derive(Debug, Clone)]
pub struct All;
impl Selection for All {
    fn takes(_: &Setting) -> bool {
        true
    }
}

/// What `init` starts a search with: the search's and the gates' settings (not the space
/// or the regularizer, which `supernet build` and `regularizer` choose), seed and device.
#[derive(Debug, Clone)]
pub struct InitSettings;
impl Selection for InitSettings {
    fn takes(s: &Setting) -> bool {
        match s.section {
            "search" => !matches!(s.name, "space" | "param" | "regularizer" | "reg-param"),
            "gates" => true,
            "run" => matches!(s.name, "seed" | "device" | "threads" | "memory-format" | "precision"),
            _ => false,
        }
    }
}

/// What a Pareto recipe shares with the job (`figs pareto`).
#[derive(Debug, Clone)]
pub struct ParetoRecipe;
impl Selection for ParetoRecipe {
    fn takes(s: &Setting) -> bool {
        PARETO.contains(&s.name)
    }
}

const PARETO: [&str; 14] = [
    "space",
    "param",
    "data",
    "train-limit",
    "test-limit",
    "steps",
    "lr",
    "gate-lr",
    "width-multiple",
    "compact",
    "batch-size",
    "epochs",
    "device",
    "threads",
];

/// Short forms, kept from the flags these settings had.
const SHORT: [(&str, char); 3] = [("param", 'p'), ("regularizer", 'r'), ("reg-param", 'R')];

/// The settings given on the command line, in the order of the configuration.
#[derive(Debug, Clone)]
pub struct ConfigFlags<S> {
    pub given: Vec<(&'static str, Vec<String>)>,
    _selection: std::marker::PhantomData<S>,
}

fn arg(s: &Setting) -> Arg {
    let help = match s.default.as_str() {
        "" | "off" if s.list || s.default.is_empty() => upper_first(s.help),
        d => format!("{} [default: {d}]", upper_first(s.help)),
    };
    let mut a = Arg::new(s.name).long(s.name).help(help).value_name(s.name.to_uppercase().replace('-', "_"));
    if let Some((_, c)) = SHORT.iter().find(|(n, _)| *n == s.name) {
        a = a.short(*c);
    }
    if s.switch {
        a.num_args(0..=1).default_missing_value("true").action(ArgAction::Set).value_name("BOOL")
    } else if s.list {
        a.action(ArgAction::Append)
    } else {
        a.action(ArgAction::Set)
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

impl<S: Selection> ConfigFlags<S> {
    fn settings() -> Vec<Setting> {
        Config::settings().into_iter().filter(|s| S::takes(s)).collect()
    }

    /// Sets every given setting in `c`; the first bad value is an error naming its flag.
    pub fn apply(&self, c: &mut Config) -> anyhow::Result<()> {
        for (name, values) in &self.given {
            c.set_items(name, values).map_err(|e| anyhow::anyhow!("--{name}: {}", without_setting(&e)))?;
        }
        Ok(())
    }

    /// The given flags whose value differs from `c`'s, as `--name saved → given`.
    pub fn differing(&self, c: &Config) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for (name, values) in &self.given {
            let mut changed = c.clone();
            changed.set_items(name, values).map_err(|e| anyhow::anyhow!("--{name}: {}", without_setting(&e)))?;
            let (was, now) = (c.get(name)?, changed.get(name)?);
            if was != now {
                out.push(format!("--{name} {now} (the run has {was})"));
            }
        }
        Ok(out)
    }
}

/// A configuration error's message without the "invalid setting `x`:" its flag replaces.
fn without_setting(e: &figs::Error) -> String {
    match e {
        figs::Error::Config { message, .. } => message.clone(),
        e => e.to_string(),
    }
}

impl<S: Selection> FromArgMatches for ConfigFlags<S> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for s in Self::settings() {
            if m.value_source(s.name) == Some(ValueSource::CommandLine) {
                let values: Vec<String> = m.get_many::<String>(s.name).into_iter().flatten().cloned().collect();
                given.push((s.name, values));
            }
        }
        Ok(ConfigFlags { given, _selection: std::marker::PhantomData })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl<S: Selection> Args for ConfigFlags<S> {
    fn augment_args(cmd: Command) -> Command {
        Self::settings().iter().fold(cmd, |cmd, s| cmd.arg(arg(s)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(allow_negative_numbers = true)]
    struct Cli {
        #[command(flatten)]
        flags: ConfigFlags<All>,
    }

    /// Every flag's value when absent is the configuration's (and so the session's) default:
    /// the flags carry no default of their own, and the help shows the declared one.
    #[test]
    fn no_flag_means_the_configuration_default() {
        let cli = Cli::try_parse_from(["figs"]).unwrap();
        assert!(cli.flags.given.is_empty());
        let mut c = Config::default();
        cli.flags.apply(&mut c).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c, figs::session::Session::new().config().clone(), "the session starts from the same defaults");
        let help = Cli::command_for_help();
        for s in Config::settings() {
            let a = help.get_arguments().find(|a| a.get_id() == s.name).unwrap_or_else(|| panic!("no --{}", s.name));
            assert!(a.get_default_values().is_empty(), "--{} has a clap default of its own", s.name);
            if !s.list && s.default != "off" {
                let text = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(text.contains(&format!("[default: {}]", s.default)), "--{}: {text}", s.name);
            }
        }
    }

    #[test]
    fn flags_set_their_settings() {
        let cli = Cli::try_parse_from([
            "figs",
            "--lambda",
            "1.5",
            "-p",
            "width=0.5",
            "-p",
            "depth=2",
            "--straight-through",
            "--data",
            "synthetic",
        ])
        .unwrap();
        let mut c = Config::default();
        cli.flags.apply(&mut c).unwrap();
        assert_eq!(c.search.lambda, 1.5);
        assert_eq!(c.search.param, ["width=0.5", "depth=2"]);
        assert!(c.gates.straight_through);
        assert_eq!(c.data.data, "synthetic");
        let e = Cli::try_parse_from(["figs", "--lambda", "-1"]).unwrap().flags.apply(&mut c).unwrap_err();
        assert!(e.to_string().contains("--lambda") && e.to_string().contains("≥ 0"), "{e}");
    }

    impl Cli {
        fn command_for_help() -> Command {
            <Cli as clap::CommandFactory>::command()
        }
    }
}
