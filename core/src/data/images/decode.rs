//! Image files to RGB pixels, as torchvision's `ImageFolder` loader sees them (PIL's
//! `convert("RGB")`): grey is repeated into three channels and alpha is dropped, not
//! composited. JPEG through libjpeg-turbo (the library PIL decodes with, so the pixels are
//! PIL's), or zune-jpeg for what libjpeg-turbo cannot turn into RGB (CMYK and YCCK
//! JPEGs); PNG through the `png` crate.

use std::io::Cursor;
use std::path::Path;

/// An image decoded to 8-bit RGB, row-major, `width * height * 3` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Why a file could not be decoded (the caller names the file).
pub type DecodeError = String;

/// Decodes a JPEG or PNG from its bytes (the kind is read from the bytes, not the name).
pub fn decode(bytes: &[u8]) -> Result<Rgb, DecodeError> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => jpeg(bytes),
        [0x89, b'P', b'N', b'G', ..] => png(bytes),
        [] => Err("the file is empty".into()),
        _ => Err("it is neither a JPEG nor a PNG (figs decodes those two; convert other formats first)".into()),
    }
}

/// Reads and decodes a file.
pub fn decode_file(path: &Path) -> Result<Rgb, DecodeError> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    decode(&bytes)
}

thread_local! {
    // One TurboJPEG handle per decoding thread, kept between images.
    static TURBO: std::cell::RefCell<Option<turbojpeg::Decompressor>> =
        std::cell::RefCell::new(turbojpeg::Decompressor::new().ok());
}

fn jpeg(bytes: &[u8]) -> Result<Rgb, DecodeError> {
    let turbo = TURBO.with(|d| -> Result<Rgb, String> {
        let mut d = d.borrow_mut();
        let d = d.as_mut().ok_or("libjpeg-turbo could not start")?;
        let h = d.read_header(bytes).map_err(|e| e.to_string())?;
        if h.width == 0 || h.height == 0 {
            return Err(format!("an image of {}x{} pixels", h.width, h.height));
        }
        let mut pixels = vec![0u8; h.width * h.height * 3];
        let image = turbojpeg::Image {
            pixels: pixels.as_mut_slice(),
            width: h.width,
            pitch: h.width * 3,
            height: h.height,
            format: turbojpeg::PixelFormat::RGB,
        };
        d.decompress(bytes, image).map_err(|e| e.to_string())?;
        Ok(Rgb { width: h.width, height: h.height, pixels })
    });
    // libjpeg-turbo refuses CMYK to RGB; PIL converts those, and so does zune-jpeg.
    turbo.or_else(|why| zune(bytes).map_err(|_| format!("a broken JPEG: {why}")))
}

fn zune(bytes: &[u8]) -> Result<Rgb, DecodeError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    let pixels = d.decode().map_err(|e| format!("a broken JPEG: {e:?}"))?;
    let (width, height) = d.dimensions().ok_or("a JPEG without dimensions")?;
    rgb_of(width, height, pixels, d.output_colorspace().map(|c| c.num_components()).unwrap_or(3))
}

fn png(bytes: &[u8]) -> Result<Rgb, DecodeError> {
    let mut d = ::png::Decoder::new(Cursor::new(bytes));
    // Palettes expanded, 16 bits cut to 8: every PNG arrives as grey, grey+alpha, RGB or RGBA.
    d.set_transformations(::png::Transformations::normalize_to_color8());
    let mut r = d.read_info().map_err(|e| format!("a broken PNG: {e}"))?;
    let mut buf = vec![0u8; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).map_err(|e| format!("a broken PNG: {e}"))?;
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    rgb_of(info.width as usize, info.height as usize, buf, channels)
}

/// RGB from 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels per pixel.
fn rgb_of(width: usize, height: usize, px: Vec<u8>, channels: usize) -> Result<Rgb, DecodeError> {
    if width == 0 || height == 0 {
        return Err(format!("an image of {width}x{height} pixels"));
    }
    let n = width * height;
    if px.len() < n * channels {
        return Err(format!("{} bytes of pixels for {width}x{height}x{channels}", px.len()));
    }
    let pixels = match channels {
        3 => px,
        1 => px[..n].iter().flat_map(|&g| [g, g, g]).collect(),
        2 => px[..2 * n].chunks_exact(2).flat_map(|p| [p[0], p[0], p[0]]).collect(),
        4 => px[..4 * n].chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        c => return Err(format!("{c} channels per pixel")),
    };
    Ok(Rgb { width, height, pixels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(w: u32, h: u32, color: ::png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut e = ::png::Encoder::new(&mut out, w, h);
            e.set_color(color);
            e.set_depth(::png::BitDepth::Eight);
            let mut wr = e.write_header().unwrap();
            wr.write_image_data(data).unwrap();
        }
        out
    }

    #[test]
    fn grey_and_alpha_pngs_become_rgb_as_pil_converts_them() {
        let grey = decode(&png_bytes(2, 1, ::png::ColorType::Grayscale, &[10, 200])).unwrap();
        assert_eq!(grey.pixels, [10, 10, 10, 200, 200, 200]);
        let rgba = decode(&png_bytes(1, 1, ::png::ColorType::Rgba, &[1, 2, 3, 0])).unwrap();
        assert_eq!(rgba.pixels, [1, 2, 3], "alpha is dropped, not composited");
        let ga = decode(&png_bytes(1, 1, ::png::ColorType::GrayscaleAlpha, &[7, 9])).unwrap();
        assert_eq!((ga.width, ga.height, ga.pixels), (1, 1, vec![7, 7, 7]));
    }

    #[test]
    fn what_is_not_an_image_says_so() {
        assert!(decode(b"").unwrap_err().contains("empty"));
        assert!(decode(b"GIF89a....").unwrap_err().contains("neither a JPEG nor a PNG"));
        let mut cut = png_bytes(4, 4, ::png::ColorType::Rgb, &[5; 48]);
        cut.truncate(cut.len() / 2);
        assert!(decode(&cut).unwrap_err().contains("broken PNG"), "{:?}", decode(&cut));
        assert!(decode(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 3]).unwrap_err().contains("broken JPEG"));
    }
}
