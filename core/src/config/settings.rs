//! Every setting of figs, declared once: field, type, default, name, check, help. The
//! flags of `figs search` and `figs pareto`, the prompt's `set`/`get`, script files,
//! notebooks (typed fields), `config.json` and the search's checkpoint manifest are views of
//! these lines. docs/MATH.md explains the defaults.

use super::section::section;
use super::value::*;
use crate::device::{DeviceChoice, MemoryFormat};
use crate::gate::RegSource;
use crate::precision::Precision;
use crate::search::Optimizer;
use crate::train::Init;
use std::path::PathBuf;

section! {
    /// The search: space, regularizer, penalty, optimizer, schedule.
    SearchSettings "search" {
        space: String = "mobilenet_v2".into(), "space", name,
            "search space plugin (`figs plugins` lists them)";
        param: Vec<String> = Vec::new(), "param", any,
            "space parameter NAME=VALUE (repeatable); resolution, channels and classes default to the data set's";
        regularizer: String = "latency".into(), "regularizer", name,
            "regularizer plugin: latency (roofline time, the default), flops, model_size, latency_table (figs profile), gamma_flops";
        reg_param: Vec<String> = Vec::new(), "reg-param", any,
            "regularizer parameter NAME=VALUE (repeatable), e.g. hardware=cpu";
        lambda: f64 = 0.7, "lambda", non_negative,
            "penalty strength λ relative to the supernet's cost (loss = CE + λ·reg/cost0)";
        target: Option<String> = None, "target", quantity_or_off,
            "target mode: the cost to land on in the regularizer's unit (2M FLOPs, 40us) or `off`";
        lambda_rate: f64 = 0.02, "lambda-rate", non_negative,
            "target mode: how fast λ adapts per step (0: fixed λ, MorphNet's procedure)";
        gamma_threshold: f64 = 0.01, "gamma-threshold", positive,
            "with gamma_flops: a channel is alive while its BN |γ| is above this";
        steps: u64 = 800, "steps", at_least_one_u64,
            "search steps (τ anneals over them)";
        batch_size: usize = 128, "batch-size", at_least_one,
            "examples per step (search and retraining)";
        lr: f64 = 2e-3, "lr", positive,
            "learning rate of the weights (search and retraining)";
        gate_lr: f64 = 0.05, "gate-lr", positive,
            "learning rate of the gate logits";
        optimizer: Optimizer = Optimizer::Adam, "optimizer", any,
            "search optimizer: adam, or sgd (momentum SGD, MorphNet's choice for γ: give it a larger lr, e.g. 0.05)";
        momentum: f64 = 0.9, "momentum", non_negative,
            "momentum of sgd";
        weight_decay: f64 = 0.0, "weight-decay", non_negative,
            "weight decay of the network weights during the search (never of gate logits)";
        val_fraction: f64 = 0.1, "val-fraction", fraction,
            "fraction of the training set held out for validation";
        bn_recalibration: usize = 30, "bn-recalibration", any,
            "training batches run forward with the evaluation gates to re-estimate BN statistics before each evaluation (0: off)";
        eval_every: u64 = 200, "eval-every", any,
            "evaluate at every multiple of this step (0: only at the planned last step)";
        compact: Option<f64> = None, "compact", positive_or_off,
            "every 100 steps remove gated channels whose logit is below −T from the supernet: T (e.g. 2) or `off`";
    }
}

section! {
    /// The Logistic-Sigmoid gates.
    GateSettings "gates" {
        tau: f64 = 1.0, "tau", positive,
            "gate temperature τ at the first step";
        tau_final: f64 = 0.1, "tau-final", positive,
            "τ at the planned last step (exponential annealing); equal to tau for a constant τ";
        straight_through: bool = false, "straight-through", any,
            "hard 0/1 gates forward, sigmoid gradient backward";
        reg_source: RegSource = RegSource::Prob, "reg-source", any,
            "what the regularizer sums per channel: prob (σ(a)) or sample (z)";
        init_logit: f64 = 2.5, "init-logit", finite,
            "initial gate logit a (2.5: p ≈ 0.92)";
        width_multiple: usize = 1, "width-multiple", at_least_one,
            "searched widths are multiples of K: a gate opens and closes K channels at once (8 suits CPU vector units and GPU tensor cores; 1: a gate per channel)";
    }
}

section! {
    /// Retraining the found and the seed network from scratch.
    RetrainSettings "retrain" {
        epochs: f64 = 1.0, "epochs", epochs,
            "epochs of retraining for the found and the seed network (same recipe for both)";
        lr: Option<f64> = None, "retrain-lr", positive_or_off,
            "learning rate of retraining (off: the search's lr)";
        init: Init = Init::Scratch, "init", any,
            "the found network's retraining starts from fresh weights (scratch, the FiGS protocol) or the search's (search)";
        no_retrain: bool = false, "no-retrain", any,
            "the job skips retraining (search, export and plot only)";
    }
}

section! {
    /// Which data.
    DataSettings "data" {
        data: String = "fashion-mnist".into(), "data", data,
            "data set: fashion-mnist, fashion-mnist:DIR, mnist:DIR, idx:DIR, cifar10:DIR, imagefolder:DIR, coco:DIR (or coco:IMAGES,ANNOTATIONS.json), synthetic[:N], or an IDX directory";
        train_limit: usize = 0, "train-limit", any,
            "use only the first N training images (0: all)";
        test_limit: usize = 0, "test-limit", any,
            "use only the first N test images (0: all)";
        test_fraction: f64 = 0.1, "test-fraction", fraction,
            "image folders without train/ and val/ (and coco:IMAGES,ANNOTATIONS.json): the share held out as the test set (the same files for every seed)";
        workers: usize = 0, "workers", any,
            "threads decoding image folders and COCO folders (0: the cores libtorch's threads leave, at least 1)";
    }
}

section! {
    /// Where and how it runs.
    RunSettings "run" {
        seed: u64 = 0, "seed", any,
            "seed of weight init, gate noise, dropout, data order and the validation split";
        device: DeviceChoice = DeviceChoice::Auto, "device", any,
            "cpu, cuda, cuda:N or auto";
        threads: i32 = 0, "threads", threads,
            "libtorch intra-op threads (0: libtorch's default)";
        memory_format: MemoryFormat = MemoryFormat::Auto, "memory-format", any,
            "layout of activations: auto (channels-last on the CPU, NCHW on CUDA), channels-last or contiguous";
        precision: Precision = Precision::Fp32, "precision", any,
            "training passes in fp32 or bf16 (convs, linears and activations in bfloat16; weights, loss and evaluation float32; for GPUs)";
        out: Option<PathBuf> = None, "out", any,
            "run directory (default: a new runs/<job>-<unix time>)";
        checkpoint_every: u64 = 200, "checkpoint-every", any,
            "save OUT/checkpoints/step-N at every multiple of this step, at the last step and at a stop (0: never)";
        keep_checkpoints: usize = 2, "keep-checkpoints", keep,
            "how many of the newest checkpoints to keep";
        plugin_path: Vec<PathBuf> = Vec::new(), "plugin-path", any,
            "plugin directories or files searched first, `:`-separated (`off`: none)";
    }
}
