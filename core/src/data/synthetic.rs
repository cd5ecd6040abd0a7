//! Small learnable synthetic data sets for tests: for classification each class is a fixed
//! random template plus Gaussian noise, so a network can reach high accuracy in a few
//! steps; for detection, boxes filled with their class's level on noise.

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

/// `n_train` + `n_test` detection examples of `c`×`h`×`w`: one or two boxes per image (at
/// least a quarter of the side each), filled with a level that tells their class
/// (`1..classes`, 0 being the background) on Gaussian noise. Targets `[N, 2, 5]` rows
/// `(label, x1, y1, x2, y2)` in pixels, a missing second box padded with a label-0 row.
pub fn synthetic_detection(
    n_train: usize,
    n_test: usize,
    (c, h, w): (usize, usize, usize),
    classes: usize,
    seed: u64,
) -> TrainTest {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut make = |n: usize| {
        let mut pixels = vec![0f32; n * c * h * w];
        let mut rows = vec![0f32; n * 2 * 5];
        for i in 0..n {
            for p in &mut pixels[i * c * h * w..(i + 1) * c * h * w] {
                *p = rng.gen_range(-0.5f32..0.5);
            }
            for k in 0..rng.gen_range(1..=2usize) {
                let label = rng.gen_range(1..classes.max(2));
                let (bw, bh) = (rng.gen_range(w.div_ceil(4)..=w), rng.gen_range(h.div_ceil(4)..=h));
                let (x1, y1) = (rng.gen_range(0..=w - bw), rng.gen_range(0..=h - bh));
                let level = 1.0 + 2.0 * label as f32 / classes as f32;
                for ch in 0..c {
                    for y in y1..y1 + bh {
                        let row = ((i * c + ch) * h + y) * w;
                        pixels[row + x1..row + x1 + bw].fill(level);
                    }
                }
                let at = (i * 2 + k) * 5;
                rows[at..at + 5].copy_from_slice(&[
                    label as f32,
                    x1 as f32,
                    y1 as f32,
                    (x1 + bw) as f32,
                    (y1 + bh) as f32,
                ]);
            }
        }
        let images = Tensor::from_slice(&pixels).view([n as i64, c as i64, h as i64, w as i64]);
        Dataset::new(images, Tensor::from_slice(&rows).view([n as i64, 2, 5]), classes)
    };
    TrainTest { train: make(n_train), test: make(n_test) }
}
