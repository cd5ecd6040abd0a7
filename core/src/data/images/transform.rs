//! torchvision's ImageNet transforms on decoded RGB images, up to normalisation (which
//! happens on the batch tensor, see [`super::ImageFolder`]):
//! - training: `RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3))` then
//!   `RandomHorizontalFlip()`, each draw from its own generator seeded by (key, index), so
//!   a resumed search sees the same crops;
//! - evaluation: `Resize(shorter side)` then `CenterCrop(size)`.
//!
//! Resizing is antialiased bilinear (the separable triangle filter widened by the scale
//! factor when shrinking), which is what PIL's `BILINEAR` and torchvision's
//! `antialias=True` compute; fast_image_resize implements it after Pillow, with SIMD.

use super::decode::Rgb;
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// RandomResizedCrop's defaults, as torchvision has them.
pub const SCALE: (f64, f64) = (0.08, 1.0);
pub const RATIO: (f64, f64) = (3.0 / 4.0, 4.0 / 3.0);

/// A crop box in source pixels: top, left, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

/// What one training example drew: its crop and whether it is flipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    pub crop: Crop,
    pub flip: bool,
}

/// `RandomResizedCrop.get_params` for an image of `width` × `height`: ten tries at an
/// area in `SCALE` and a log-uniform aspect ratio in `RATIO`, else the central crop with
/// the ratio clamped. Rounding is Python's (half to even), as in torchvision.
pub fn random_resized_crop(width: usize, height: usize, rng: &mut ChaCha8Rng) -> Crop {
    let area = (width * height) as f64;
    let (lo, hi) = (RATIO.0.ln(), RATIO.1.ln());
    for _ in 0..10 {
        let target = area * rng.gen_range(SCALE.0..SCALE.1);
        let aspect = rng.gen_range(lo..hi).exp();
        let w = (target * aspect).sqrt().round_ties_even() as usize;
        let h = (target / aspect).sqrt().round_ties_even() as usize;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.gen_range(0..=height - h);
            let left = rng.gen_range(0..=width - w);
            return Crop { top, left, height: h, width: w };
        }
    }
    let ratio = width as f64 / height as f64;
    let (w, h) = if ratio < RATIO.0 {
        (width, ((width as f64 / RATIO.0).round_ties_even() as usize).min(height))
    } else if ratio > RATIO.1 {
        (((height as f64 * RATIO.1).round_ties_even() as usize).min(width), height)
    } else {
        (width, height)
    };
    Crop { top: (height - h) / 2, left: (width - w) / 2, height: h, width: w }
}

/// The crop and flip of training example `index` under `key` (a seed of the run and the
/// epoch): the same (key, index) always draws the same.
pub fn draw(width: usize, height: usize, key: u64, index: u64) -> Draw {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::mix(key, index));
    let crop = random_resized_crop(width, height, &mut rng);
    Draw { crop, flip: rng.gen_bool(0.5) }
}

/// The size `Resize(shorter)` gives an image: its shorter side becomes `shorter`, the
/// longer one keeps the aspect ratio, truncated as torchvision does.
pub fn resized_size(width: usize, height: usize, shorter: usize) -> (usize, usize) {
    if width <= height {
        (shorter, shorter * height / width)
    } else {
        (shorter * width / height, shorter)
    }
}

/// `CenterCrop(size)` of an image of `width` × `height` (at least `size` each way).
pub fn center_crop(width: usize, height: usize, size: usize) -> Crop {
    let half = |d: usize| ((d - size) as f64 / 2.0).round_ties_even() as usize;
    Crop { top: half(height), left: half(width), height: size, width: size }
}

/// Resizes images, keeping the filter tables of the last sizes (one per worker thread).
pub struct Resampler {
    resizer: Resizer,
    options: ResizeOptions,
}

impl Default for Resampler {
    fn default() -> Self {
        Resampler {
            resizer: Resizer::new(),
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        }
    }
}

impl Resampler {
    /// `img` resized to `width` × `height`.
    pub fn resize(&mut self, img: Rgb, width: usize, height: usize) -> Result<Rgb, String> {
        if (width, height) == (img.width, img.height) {
            return Ok(img);
        }
        let src = Image::from_vec_u8(img.width as u32, img.height as u32, img.pixels, PixelType::U8x3)
            .map_err(|e| e.to_string())?;
        let mut dst = Image::new(width as u32, height as u32, PixelType::U8x3);
        self.resizer.resize(&src, &mut dst, &self.options).map_err(|e| e.to_string())?;
        Ok(Rgb { width, height, pixels: dst.into_vec() })
    }

    /// The training transform: the crop, resized to `size` × `size`, flipped if drawn.
    pub fn train(&mut self, img: &Rgb, d: Draw, size: usize) -> Result<Rgb, String> {
        let mut out = self.resize(crop(img, d.crop), size, size)?;
        if d.flip {
            flip(&mut out);
        }
        Ok(out)
    }

    /// The evaluation transform: the shorter side resized to `shorter`, then the central
    /// `size` × `size`.
    pub fn eval(&mut self, img: Rgb, shorter: usize, size: usize) -> Result<Rgb, String> {
        let (w, h) = resized_size(img.width, img.height, shorter);
        let r = self.resize(img, w, h)?;
        Ok(crop(&r, center_crop(w, h, size)))
    }
}

/// The pixels of `c` (which lies inside `img`).
pub fn crop(img: &Rgb, c: Crop) -> Rgb {
    if (c.left, c.top, c.width, c.height) == (0, 0, img.width, img.height) {
        return img.clone();
    }
    let mut pixels = Vec::with_capacity(c.width * c.height * 3);
    for y in c.top..c.top + c.height {
        let row = (y * img.width + c.left) * 3;
        pixels.extend_from_slice(&img.pixels[row..row + c.width * 3]);
    }
    Rgb { width: c.width, height: c.height, pixels }
}

/// Mirrors `img` left to right.
pub fn flip(img: &mut Rgb) {
    let w = img.width;
    for row in img.pixels.chunks_exact_mut(w * 3) {
        for x in 0..w / 2 {
            for c in 0..3 {
                row.swap(x * 3 + c, (w - 1 - x) * 3 + c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_stay_inside_and_cover_the_scale_and_ratio_ranges() {
        let (w, h) = (500, 375);
        let (mut lo_s, mut hi_s, mut lo_r, mut hi_r) = (f64::MAX, 0.0f64, f64::MAX, 0.0f64);
        for i in 0..4000 {
            let d = draw(w, h, 7, i);
            let c = d.crop;
            assert!(c.left + c.width <= w && c.top + c.height <= h && c.width > 0 && c.height > 0, "{c:?}");
            let s = (c.width * c.height) as f64 / (w * h) as f64;
            let r = c.width as f64 / c.height as f64;
            (lo_s, hi_s, lo_r, hi_r) = (lo_s.min(s), hi_s.max(s), lo_r.min(r), hi_r.max(r));
        }
        // Rounding to whole pixels moves the bounds a little.
        assert!(lo_s < 0.09 && hi_s > 0.95, "scale {lo_s}..{hi_s}");
        assert!(lo_r < 0.77 && hi_r > 1.30, "ratio {lo_r}..{hi_r}");
        assert!(lo_r > 0.7 && hi_r < 1.45, "ratio {lo_r}..{hi_r}");
    }

    #[test]
    fn the_same_key_and_index_draw_the_same() {
        assert_eq!(draw(300, 200, 1, 5), draw(300, 200, 1, 5));
        let other = (0..20).filter(|&i| draw(300, 200, 1, i) != draw(300, 200, 2, i)).count();
        assert!(other >= 19, "another key draws other crops");
    }

    #[test]
    fn a_very_long_image_falls_back_to_the_clamped_central_crop() {
        // 1000 x 10: no area of 8 % or more has a ratio within 3/4..4/3.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let c = random_resized_crop(1000, 10, &mut rng);
        assert_eq!(c, Crop { top: 0, left: (1000 - 13) / 2, height: 10, width: 13 });
    }

    #[test]
    fn resize_and_center_crop_follow_torchvision_arithmetic() {
        assert_eq!(resized_size(500, 375, 256), (341, 256));
        assert_eq!(resized_size(375, 500, 256), (256, 341));
        assert_eq!(center_crop(341, 256, 224), Crop { top: 16, left: 58, height: 224, width: 224 });
        // (5 - 2) / 2 = 1.5 rounds to 2 (half to even), as Python's round does.
        assert_eq!(center_crop(5, 5, 2).left, 2);
    }

    #[test]
    fn flip_mirrors_rows() {
        let mut img = Rgb { width: 3, height: 1, pixels: vec![1, 1, 1, 2, 2, 2, 3, 3, 3] };
        flip(&mut img);
        assert_eq!(img.pixels, [3, 3, 3, 2, 2, 2, 1, 1, 1]);
    }
}
