//! Decode one image file and normalise it to the store's square size.
//!
//! Normalising letterbox-pads to a square with the mean border colour and then resizes: a
//! crop could cut a stroke off a numeral, padding never loses content.

use crate::dedup::phash;
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, ImageFormat, ImageReader, Pixel};
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// Files larger than this are refused before decoding.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Images wider or taller than this are refused from their header, before any pixel is decoded.
pub const MAX_SIDE: u32 = 8192;

/// Why a file was skipped.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum SkipKind {
    Unreadable,
    Empty,
    NotImage,
    UnsupportedFormat,
    TooLarge,
    Corrupt,
    BadRecord,
}

impl SkipKind {
    pub fn name(self) -> &'static str {
        match self {
            SkipKind::Unreadable => "unreadable",
            SkipKind::Empty => "empty",
            SkipKind::NotImage => "not-image",
            SkipKind::UnsupportedFormat => "unsupported-format",
            SkipKind::TooLarge => "too-large",
            SkipKind::Corrupt => "corrupt",
            SkipKind::BadRecord => "bad-record",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: SkipKind,
    pub reason: String,
}

impl DecodeError {
    fn new(kind: SkipKind, reason: impl Into<String>) -> Self {
        DecodeError {
            kind,
            reason: reason.into(),
        }
    }
}

/// A decoded, normalised image.
#[derive(Clone, Debug)]
pub struct Normalised {
    /// Row-major, `size * size * channels` bytes.
    pub pixels: Vec<u8>,
    /// Size of the decoded image before normalisation.
    pub width: u32,
    pub height: u32,
    pub pixel_hash: crate::store::Id,
    pub hashes: phash::Hashes,
}

/// Decode file bytes (PNG, JPEG, BMP, GIF, WebP or TIFF, recognised by their signature, not
/// their name).
pub fn decode_file(bytes: &[u8], size: u32, channels: u8) -> Result<Normalised, DecodeError> {
    Ok(normalise(&decode_image(bytes)?, size, channels))
}

/// Decode file bytes to an image at its own size, refusing what `decode_file` refuses: turned
/// upright by its EXIF orientation (as a viewer shows it) and with any transparency
/// flattened (see `flatten_alpha`). Palette, 16-bit and CMYK images arrive as 8-bit gray or
/// RGB through the decoders.
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::new(SkipKind::Empty, "empty file (0 bytes)"));
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(DecodeError::new(
            SkipKind::TooLarge,
            format!(
                "file too large: {} bytes (limit {} bytes)",
                bytes.len(),
                MAX_FILE_BYTES
            ),
        ));
    }
    let format = image::guess_format(bytes).map_err(|_| {
        DecodeError::new(
            SkipKind::NotImage,
            "not an image: unrecognised file signature",
        )
    })?;
    if !matches!(
        format,
        ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::Bmp
            | ImageFormat::Gif
            | ImageFormat::WebP
            | ImageFormat::Tiff
    ) {
        return Err(DecodeError::new(
            SkipKind::UnsupportedFormat,
            format!("unsupported image format {format:?} (thresh reads PNG, JPEG, BMP, GIF, WebP, TIFF)"),
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| DecodeError::new(SkipKind::Corrupt, format!("corrupt image: {e}")))?;
    // Unreadable EXIF is no reason to skip the pixels: they are shown as stored.
    let orientation = image::ImageDecoder::orientation(&mut decoder)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(DecodeError::new(
            SkipKind::TooLarge,
            format!("image too large: {w}x{h} pixels (limit {MAX_SIDE}x{MAX_SIDE})"),
        ));
    }
    if w == 0 || h == 0 {
        return Err(DecodeError::new(
            SkipKind::Corrupt,
            format!("corrupt image: {w}x{h} pixels"),
        ));
    }
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| DecodeError::new(SkipKind::Corrupt, format!("corrupt image: {e}")))?;
    img.apply_orientation(orientation);
    Ok(flatten_alpha(img))
}

/// An image with transparency composited onto its border colour — the border as it looks on
/// white paper, which is what a viewer shows for a transparent background — so transparent
/// pixels neither keep the arbitrary colour stored under them nor turn black.
pub fn flatten_alpha(img: DynamicImage) -> DynamicImage {
    if !img.color().has_alpha() {
        return img;
    }
    let colour = img.color().has_color();
    let mut rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut sum = [0f64; 3];
    let mut n = 0f64;
    for (x, y, p) in rgba.enumerate_pixels() {
        if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
            let a = p[3] as f64 / 255.0;
            for c in 0..3 {
                sum[c] += a * p[c] as f64 + (1.0 - a) * 255.0;
            }
            n += 1.0;
        }
    }
    let bg = sum.map(|s| s / n.max(1.0));
    for p in rgba.pixels_mut() {
        let a = p[3] as f64 / 255.0;
        for c in 0..3 {
            p[c] = (a * p[c] as f64 + (1.0 - a) * bg[c]).round() as u8;
        }
        p[3] = 255;
    }
    let flat = DynamicImage::ImageRgba8(rgba);
    if colour {
        DynamicImage::ImageRgb8(flat.to_rgb8())
    } else {
        DynamicImage::ImageLuma8(flat.to_luma8())
    }
}

/// Normalise raw 8-bit gray pixels (IDX records).
pub fn from_gray(raw: &[u8], w: u32, h: u32, size: u32, channels: u8) -> Option<Normalised> {
    let buf = ImageBuffer::<image::Luma<u8>, Vec<u8>>::from_raw(w, h, raw.to_vec())?;
    Some(normalise(&DynamicImage::ImageLuma8(buf), size, channels))
}

/// Letterbox-pad to a square, resize to `size`, convert to `channels` (1 or 3).
pub fn normalise(img: &DynamicImage, size: u32, channels: u8) -> Normalised {
    let (width, height) = (img.width(), img.height());
    let pixels = if channels == 3 {
        fit(img.to_rgb8(), size).into_raw()
    } else {
        fit(img.to_luma8(), size).into_raw()
    };
    let gray = if channels == 3 {
        pixels
            .chunks_exact(3)
            .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8)
            .collect::<Vec<_>>()
    } else {
        pixels.clone()
    };
    Normalised {
        pixel_hash: crate::store::Id::of_bytes(&pixels),
        hashes: phash::Hashes::of(&gray, size as usize),
        pixels,
        width,
        height,
    }
}

/// Scale the longer side to `size`, then letterbox-pad to a square with the border's mean
/// colour. Shrinking by 2x or more averages areas (`thumbnail`: the right filter for it, at a
/// fraction of a resampling filter's cost on a large photo); less, or growing, is a triangle
/// filter. Padding after the scaling costs a `size` canvas, not one as large as the photo.
fn fit<P>(img: ImageBuffer<P, Vec<u8>>, size: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let (w, h) = img.dimensions();
    if w == size && h == size {
        return img;
    }
    let longer = w.max(h) as u64;
    let scale =
        |d: u32| ((d as u64 * size as u64 + longer / 2) / longer).clamp(1, size as u64) as u32;
    let (tw, th) = (scale(w), scale(h));
    let scaled = if (tw, th) == (w, h) {
        img
    } else if longer >= 2 * size as u64 {
        imageops::thumbnail(&img, tw, th)
    } else {
        imageops::resize(&img, tw, th, FilterType::Triangle)
    };
    if (tw, th) == (size, size) {
        return scaled;
    }
    let mut canvas = ImageBuffer::from_pixel(size, size, border_mean(&scaled));
    imageops::replace(
        &mut canvas,
        &scaled,
        ((size - tw) / 2) as i64,
        ((size - th) / 2) as i64,
    );
    canvas
}

/// Mean colour of the outermost pixels: the background to pad with.
fn border_mean<P>(img: &ImageBuffer<P, Vec<u8>>) -> P
where
    P: Pixel<Subpixel = u8>,
{
    let (w, h) = img.dimensions();
    let n = P::CHANNEL_COUNT as usize;
    let mut sum = vec![0u64; n];
    let mut count = 0u64;
    for (x, y, p) in img.enumerate_pixels() {
        if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
            for (s, c) in sum.iter_mut().zip(p.channels()) {
                *s += *c as u64;
            }
            count += 1;
        }
    }
    let mean: Vec<u8> = sum.iter().map(|s| (s / count.max(1)) as u8).collect();
    *P::from_slice(&mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        let img = ImageBuffer::from_fn(w, h, |x, y| image::Luma([f(x, y)]));
        let mut out = Vec::new();
        DynamicImage::ImageLuma8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn same_size_gray_is_kept_exactly() {
        let bytes = png(32, 32, |x, y| (x * 8 + y) as u8);
        let n = decode_file(&bytes, 32, 1).unwrap();
        assert_eq!(n.pixels.len(), 1024);
        assert_eq!(n.pixels[33], 9);
        assert_eq!((n.width, n.height), (32, 32));
    }

    #[test]
    fn wide_image_is_padded_not_cropped() {
        // A 64x16 white image with a black pixel column at each end: both survive.
        let bytes = png(64, 16, |x, _| if (4..60).contains(&x) { 255 } else { 0 });
        let n = decode_file(&bytes, 32, 1).unwrap();
        let row = &n.pixels[16 * 32..17 * 32];
        assert!(row[0] < 128 && row[31] < 128, "ends lost: {row:?}");
        // Padding rows above and below take the border colour (mostly white).
        assert!(n.pixels[0] > 128);
    }

    #[test]
    fn rgb_store_keeps_three_channels() {
        let bytes = png(16, 16, |_, _| 100);
        let n = decode_file(&bytes, 32, 3).unwrap();
        assert_eq!(n.pixels.len(), 32 * 32 * 3);
        assert!(n.pixels.iter().all(|&p| p == 100));
    }

    #[test]
    fn bad_inputs_are_classified() {
        assert_eq!(decode_file(&[], 32, 1).unwrap_err().kind, SkipKind::Empty);
        assert_eq!(
            decode_file(b"hello, world", 32, 1).unwrap_err().kind,
            SkipKind::NotImage
        );
        let good = png(32, 32, |x, _| x as u8);
        let cut = &good[..good.len() / 2];
        assert_eq!(decode_file(cut, 32, 1).unwrap_err().kind, SkipKind::Corrupt);
    }
}
