//! Building a search: the gated supernet, the regularizer bound to it, the optimizer, the
//! train / validation split.

use super::*;

impl Search {
    /// Builds the gated supernet of `graph`, binds `regularizer` to it (with
    /// `config.regularizer_params`) and splits `train` into train / validation.
    pub fn new(
        graph: &Graph,
        train: &Dataset,
        mut config: SearchConfig,
        regularizer: Arc<dyn Regularizer>,
    ) -> Result<Search> {
        config.validate()?;
        config.regularizer = regularizer.name().to_string();
        config.regularizer_params = crate::regularizer::with_defaults(&regularizer.params(), config.regularizer_params);
        let analysis = graph.analyze()?;
        crate::data::check_fits(train, graph)?;
        let device = config.device.resolve()?;
        let data = train.fingerprint()?;
        tch::manual_seed(config.seed as i64);
        let (train_split, val) = train.split(config.val_fraction, config.seed)?;
        crate::data::check_batch(config.batch_size, train_split.len(), "the training split")?;
        // On an accelerator, a training split that fits lives there: batches are gathered on
        // the device with no copy from the host per step.
        let train_split = train_split.to_device_within(device, DATA_ON_DEVICE_BYTES);
        let vs = nn::VarStore::new(device);
        let mut net = Net::new(&vs.root(), graph)?;
        net.set_channels_last(config.memory_format.channels_last(device));
        net.set_precision(config.precision);
        let bound = regularizer.bind(graph, &config.regularizer_params)?;
        let full: Vec<f64> = analysis.groups.iter().map(|g| g.width as f64).collect();
        let cost0 = check_cost(regularizer.name(), bound.reported(&full)?)?;
        if cost0 <= 0.0 {
            return Err(Error::Regularizer {
                name: regularizer.name().into(),
                message:
                    "the supernet's cost is 0, so λ has nothing to scale; does the graph have any conv or linear layer?"
                        .into(),
            });
        }
        let source = regularizer.source();
        let k = config.gate.width_multiple;
        let flat = (source == Source::Gates)
            .then(|| {
                let gated = |g: usize| analysis.groups[g].gated;
                let block = |g: usize| gates::block_of(analysis.groups[g].width, k);
                gates::FlatGates::new(&vs.root(), &analysis, gated, block, config.gate.init_logit)
            })
            .flatten();
        if k > 1 && source != Source::Gates {
            return Err(Error::config(
                "width-multiple",
                format!(
                    "`{}` ranks channels by BN γ, one by one, and has no gates to join into blocks; use width-multiple 1",
                    regularizer.name()
                ),
            ));
        }
        let gammas = if source == Source::BnGamma { gamma_producers(graph, &analysis) } else { Vec::new() };
        if config.compact_below.is_some() && source != Source::Gates {
            return Err(Error::config(
                "compact",
                format!(
                    "compaction cuts channels by their gate logits and `{}` has none; turn it off",
                    regularizer.name()
                ),
            ));
        }
        let opt = optimizer(&vs, &config);
        let searched: Vec<usize> = (0..analysis.groups.len())
            .filter(|&g| match source {
                Source::Gates => flat.as_ref().is_some_and(|f| f.logits(g).is_some()),
                Source::BnGamma => gammas.get(g).is_some_and(|v| !v.is_empty()),
            })
            .collect();
        if let Some(t) = config.target {
            let least = |g: usize| flat.as_ref().map_or(1, |f| f.block(g));
            target::check_reachable(t, cost0, &searched, &analysis, &least, bound.as_ref(), regularizer.unit())?;
        }
        let widths: Vec<usize> = analysis.groups.iter().map(|g| g.width).collect();
        let consts = step::StepConsts::new(&widths, searched, device, None);
        Ok(Search {
            consts,
            supernet: graph.clone(),
            supernet_analysis: analysis.clone(),
            kept: widths.iter().map(|&w| (0..w).collect()).collect(),
            id: crate::run_dir::new_id(),
            data,
            window: None,
            lambda: config.lambda,
            loss_avg: None,
            best_avg: None,
            config,
            graph: graph.clone(),
            analysis,
            net,
            vs,
            opt,
            gates: flat,
            task: crate::task::of(graph)?,
            regularizer,
            bound,
            gammas,
            cost0,
            train: train_split,
            val,
            device,
            batches: None,
            step: 0,
            epoch: 0,
            history: Vec::new(),
            evals: Vec::new(),
            collective: None,
            resumed_world: None,
        })
    }
}

/// The optimizer of the trainable variables in `vs`: gate logits with their own learning
/// rate and no weight decay. Sorted names fix the update order, so a resumed search
/// repeats it.
pub(super) fn optimizer(vs: &nn::VarStore, config: &SearchConfig) -> Optim {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let params = vars
        .into_iter()
        .map(|(name, t)| {
            let gate = name == gates::FLAT;
            let (lr, wd) = if gate { (config.gate_lr, 0.0) } else { (config.lr, config.weight_decay) };
            (name, t, lr, wd)
        })
        .collect();
    Optim::new(config.optimizer, config.momentum, params)
}

/// For a BN-γ search: per channel group, the (node, channel offset, width) of every 2-d batch
/// norm whose output carries channels of that group.
pub(super) fn gamma_producers(graph: &Graph, analysis: &Analysis) -> Vec<Vec<(usize, usize, usize)>> {
    let mut out = vec![Vec::new(); analysis.groups.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        if !matches!(node.op, crate::graph::Op::BatchNorm) || analysis.shapes[i].flat {
            continue;
        }
        let mut offset = 0;
        for seg in &analysis.channels[i] {
            if analysis.groups[seg.group].gated {
                out[seg.group].push((i, offset, seg.width));
            }
            offset += seg.width;
        }
    }
    out
}
