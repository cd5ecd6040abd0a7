//! What the network is trained to do. A [`Task`] owns the loss, the evaluation metric and
//! its name: the search step, retraining and evaluation ask it instead of assuming
//! cross-entropy and accuracy. [`Classification`] (cross-entropy, top-1 accuracy) is the
//! only task yet; detection (SSD's loss, COCO mAP) is the next.

use std::fmt::Debug;
use std::sync::Arc;
use tch::{Kind, Tensor};

/// A training objective and its evaluation.
pub trait Task: Send + Sync + Debug {
    /// Its name in reports (`classification`).
    fn name(&self) -> &str;

    /// The loss of a batch: a scalar, the mean over its examples.
    fn loss(&self, output: &Tensor, target: &Tensor) -> Tensor;

    /// The metric summed over a batch (a float64 scalar on the output's device): an
    /// evaluation adds the sums of its batches and divides by the examples.
    fn metric_sum(&self, output: &Tensor, target: &Tensor) -> Tensor;

    /// The metric's mean over one batch (the step's progress line), as float64.
    fn metric_mean(&self, output: &Tensor, target: &Tensor) -> Tensor {
        self.metric_sum(output, target) / target.size()[0] as f64
    }

    /// The metric's name in reports and charts (`accuracy`).
    fn metric_name(&self) -> &str;
}

/// One label per example, one logit per class: cross-entropy, top-1 accuracy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Classification;

impl Task for Classification {
    fn name(&self) -> &str {
        "classification"
    }

    fn loss(&self, output: &Tensor, target: &Tensor) -> Tensor {
        output.cross_entropy_for_logits(target)
    }

    fn metric_sum(&self, output: &Tensor, target: &Tensor) -> Tensor {
        output.argmax(-1, false).eq_tensor(target).to_kind(Kind::Double).sum(Kind::Double)
    }

    fn metric_mean(&self, output: &Tensor, target: &Tensor) -> Tensor {
        output.argmax(-1, false).eq_tensor(target).to_kind(Kind::Double).mean(Kind::Double)
    }

    fn metric_name(&self) -> &str {
        "accuracy"
    }
}

/// The task of a network: every graph figs builds today classifies.
pub fn of(_graph: &crate::graph::Graph) -> Arc<dyn Task> {
    Arc::new(Classification)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_is_cross_entropy_and_top1_accuracy() {
        let out = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 1.0, 0.0, 3.0]).view([2, 3]);
        let y = Tensor::from_slice(&[0i64, 1]);
        let t = Classification;
        assert_eq!(f64::try_from(t.metric_sum(&out, &y)).unwrap(), 1.0);
        assert_eq!(f64::try_from(t.metric_mean(&out, &y)).unwrap(), 0.5);
        let ce = f64::try_from(t.loss(&out, &y)).unwrap();
        let want = f64::try_from(out.cross_entropy_for_logits(&y)).unwrap();
        assert_eq!(ce, want);
    }
}
