//! What the network is trained to do. A [`Task`] owns the loss, the evaluation metrics and
//! their names: the search step, retraining and evaluation ask it instead of assuming
//! cross-entropy and accuracy, and a network's outputs (one or several, see
//! [`crate::graph::TaskKind`]) reach it as a slice. [`Classification`] (cross-entropy,
//! top-1 and top-5 accuracy) and detection ([`crate::detect::task::Detection`]: SSD's loss,
//! COCO mAP, whose metrics are not sums over batches, hence [`Evaluation`]).

use crate::error::{Error, Result};
use crate::graph::{Graph, TaskKind};
use std::fmt::Debug;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// A training objective and its evaluation.
pub trait Task: Send + Sync + Debug {
    /// Its name in reports (`classification`).
    fn name(&self) -> &str;

    /// The loss of a batch: a scalar, the mean over its examples.
    fn loss(&self, outputs: &[Tensor], target: &Tensor) -> Tensor;

    /// The headline metric on one batch, as a float64 scalar on the outputs' device (the
    /// step's progress line; a cheap stand-in where the real metric needs the whole set).
    fn batch_metric(&self, outputs: &[Tensor], target: &Tensor) -> Tensor;

    /// The headline metric's name in reports and charts (`accuracy`).
    fn metric_name(&self) -> &str;

    /// A fresh accumulator of the evaluation metrics over a whole set.
    fn evaluation(&self, device: Device) -> Box<dyn Evaluation>;
}

/// Metrics accumulated batch by batch over an evaluation set.
pub trait Evaluation {
    fn add(&mut self, outputs: &[Tensor], target: &Tensor) -> Result<()>;

    /// The metrics as (name, value), the headline ([`Task::metric_name`]) first.
    fn finish(self: Box<Self>) -> Result<Vec<(String, f64)>>;
}

/// One label per example, one logit per class (the first output): cross-entropy, top-1
/// accuracy, and top-5 accuracy where there are more than five classes.
#[derive(Debug, Clone, Copy)]
pub struct Classification {
    pub classes: usize,
}

impl Classification {
    fn top5(&self) -> bool {
        self.classes > 5
    }
}

impl Task for Classification {
    fn name(&self) -> &str {
        "classification"
    }

    fn loss(&self, outputs: &[Tensor], target: &Tensor) -> Tensor {
        outputs[0].cross_entropy_for_logits(target)
    }

    fn batch_metric(&self, outputs: &[Tensor], target: &Tensor) -> Tensor {
        top1_hits(&outputs[0], target).mean(Kind::Double)
    }

    fn metric_name(&self) -> &str {
        "accuracy"
    }

    fn evaluation(&self, device: Device) -> Box<dyn Evaluation> {
        let k = if self.top5() { 2 } else { 1 };
        Box::new(Counts { task: *self, sums: Tensor::zeros([k], (Kind::Double, device)), n: 0 })
    }
}

/// 1.0 where the highest logit is the label, else 0.0 (float64), per example.
fn top1_hits(logits: &Tensor, target: &Tensor) -> Tensor {
    logits.argmax(-1, false).eq_tensor(target).to_kind(Kind::Double)
}

/// Correct top-1 (and top-5) counts, kept on the device and read once at the end.
struct Counts {
    task: Classification,
    sums: Tensor,
    n: usize,
}

impl Evaluation for Counts {
    fn add(&mut self, outputs: &[Tensor], target: &Tensor) -> Result<()> {
        let logits = &outputs[0];
        let top1 = top1_hits(logits, target).sum(Kind::Double);
        let row = if self.task.top5() {
            let (_, idx) = logits.topk(5, -1, true, true);
            let top5 = idx.eq_tensor(&target.unsqueeze(-1)).any_dim(-1, false).to_kind(Kind::Double).sum(Kind::Double);
            Tensor::stack(&[top1, top5], 0)
        } else {
            top1.unsqueeze(0)
        };
        self.sums += row;
        self.n += target.size()[0] as usize;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<(String, f64)>> {
        if self.n == 0 {
            return Err(Error::config("data", "evaluation set is empty"));
        }
        let sums = Vec::<f64>::try_from(self.sums.to_device(Device::Cpu))?;
        let names = ["accuracy", "top5"];
        Ok(names.iter().zip(sums).map(|(name, s)| (name.to_string(), s / self.n as f64)).collect())
    }
}

/// The headline metric's name where a record predates naming it.
pub fn accuracy_name() -> String {
    "accuracy".into()
}

/// A headline metric's name in tables and progress lines (`acc`, `mAP`).
pub fn short_name(metric: &str) -> &str {
    if metric == "accuracy" {
        "acc"
    } else {
        metric
    }
}

/// The column header of a headline metric in tables (`test acc`, `test mAP`).
pub fn column(metric: &str) -> String {
    format!("test {}", short_name(metric))
}

/// Metrics beyond the headline as text, each after `sep` (`, top5 0.9987`); empty when
/// there are none.
pub fn more_text(more: &std::collections::BTreeMap<String, f64>, sep: &str) -> String {
    more.iter().map(|(k, v)| format!("{sep}{k} {v:.4}")).collect()
}

/// The task a network is trained for, as its graph names it.
pub fn of(graph: &Graph) -> Result<Arc<dyn Task>> {
    Ok(match graph.task {
        TaskKind::Classification => Arc::new(Classification { classes: graph.classes }),
        TaskKind::Detection => Arc::new(crate::detect::task::Detection::for_graph(graph)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(t: &Classification, out: &Tensor, y: &Tensor) -> Vec<(String, f64)> {
        let mut e = t.evaluation(Device::Cpu);
        e.add(&[out.shallow_clone()], y).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn classification_is_cross_entropy_and_top1_accuracy() {
        let out = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 1.0, 0.0, 3.0]).view([2, 3]);
        let y = Tensor::from_slice(&[0i64, 1]);
        let t = Classification { classes: 3 };
        assert_eq!(eval(&t, &out, &y), vec![("accuracy".to_string(), 0.5)], "no top-5 with 3 classes");
        assert_eq!(f64::try_from(t.batch_metric(&[out.shallow_clone()], &y)).unwrap(), 0.5);
        let ce = f64::try_from(t.loss(&[out.shallow_clone()], &y)).unwrap();
        let want = f64::try_from(out.cross_entropy_for_logits(&y)).unwrap();
        assert_eq!(ce, want);
    }

    #[test]
    fn top5_counts_a_label_among_the_five_highest_logits() {
        // Labels rank 1st, 5th and 6th among 7 logits: top-1 1/3, top-5 2/3.
        let row = [6.0f32, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0];
        let out = Tensor::from_slice(&[row, row, row].concat()).view([3, 7]);
        let y = Tensor::from_slice(&[0i64, 4, 5]);
        let got = eval(&Classification { classes: 7 }, &out, &y);
        assert_eq!(got, vec![("accuracy".to_string(), 1.0 / 3.0), ("top5".to_string(), 2.0 / 3.0)]);
    }

    #[test]
    fn extra_outputs_do_not_enter_the_loss() {
        let logits = Tensor::from_slice(&[2.0f32, 0.0, 1.0, 3.0]).view([2, 2]);
        let feats = Tensor::from_slice(&[f32::NAN; 6]).view([2, 3]);
        let y = Tensor::from_slice(&[0i64, 1]);
        let t = Classification { classes: 2 };
        let one = f64::try_from(t.loss(&[logits.shallow_clone()], &y)).unwrap();
        let two = f64::try_from(t.loss(&[logits, feats], &y)).unwrap();
        assert_eq!(one, two);
    }
}
