//! A small learnable synthetic data set for tests: each class is a fixed random template
//! plus Gaussian noise, so a network can reach high accuracy in a few steps.

use super::{Dataset, TrainTest};
use tch::{Kind, Tensor};

/// `n_train` + `n_test` images of `c`×`h`×`w` in `classes` classes, from `seed`.
pub fn synthetic(
    n_train: usize,
    n_test: usize,
    (c, h, w): (usize, usize, usize),
    classes: usize,
    seed: u64,
) -> TrainTest {
    // Re-seeds libtorch's global generator: the same seed always gives the same data.
    tch::manual_seed(seed as i64);
    let shape = [classes as i64, c as i64, h as i64, w as i64];
    let templates = Tensor::randn(shape, (Kind::Float, tch::Device::Cpu));
    let make = |n: usize| {
        let labels = Tensor::randint(classes as i64, [n as i64], (Kind::Int64, tch::Device::Cpu));
        let noise = Tensor::randn([n as i64, c as i64, h as i64, w as i64], (Kind::Float, tch::Device::Cpu));
        let images = templates.index_select(0, &labels) + noise * 0.8;
        Dataset::new(images, labels, classes)
    };
    TrainTest { train: make(n_train), test: make(n_test) }
}
