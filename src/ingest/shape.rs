//! The shape of a new store — square side, gray or colour, augmentation preset — chosen from
//! the images about to be imported, so a folder of colour photos is not squeezed into 32 px
//! gray unless someone knew the flags.
//!
//! A fixed, evenly spread sample of the items is decoded (never the whole folder: the choice
//! must cost the same for a thousand files and a million):
//! - **colour** when more than 5% of the sampled images have visible chroma (the mean of
//!   max−min over R, G, B above 6 of 255 — a gray JPEG's chroma noise stays near 1);
//! - **size**: the smallest of 32/64/96/128 that is at least 90% of the median longer side,
//!   so most images lose no detail (a 28 px scan stays at 32, a 64 px crop at 64, a photo
//!   of any larger size gets 128);
//! - **augmentation**: `numerals` (the paper's pen-stroke set) for 32 px gray drawings —
//!   images that are mostly blank paper —, `photos` for everything else.

use super::decode::{self, MAX_FILE_BYTES};
use super::sources::{Census, Found, Item, Listing};
use crate::augment::Preset;
use crate::store::StoreSettings;
use image::DynamicImage;
use rayon::prelude::*;

/// The sides a store is offered at: what the GAN and the presets are built for.
pub const SIZES: [u32; 4] = [32, 64, 96, 128];
/// Items decoded to choose the shape.
const SAMPLE: usize = 128;
/// Mean chroma (0..255) above which an image counts as colour.
const CHROMA: f32 = 6.0;
/// Share of colour images above which the store keeps colour.
const COLOUR_SHARE: f32 = 0.05;
/// Share of near-background pixels above which a gray image counts as a drawing on paper.
const PAPER_SHARE: f32 = 0.6;

/// What the user asked for; `None` = choose from the data.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    pub size: Option<u32>,
    /// `Some(true)` = RGB, `Some(false)` = gray.
    pub colour: Option<bool>,
    pub augment: Option<Preset>,
}

/// The chosen settings and the one line that says why.
#[derive(Clone, Debug)]
pub struct Choice {
    pub settings: StoreSettings,
    pub reason: String,
}

/// What one sampled image says about the shape.
#[derive(Clone, Copy, Debug)]
struct Look {
    /// The longer side, in pixels.
    side: u32,
    colour: bool,
    /// Share of the pixels close to the border's median: paper, for a drawing.
    paper: f32,
}

/// Choose the settings of a new store for what `listing` holds (`census` counted it).
pub fn choose(listing: &Listing, census: &Census, o: &Overrides) -> anyhow::Result<Choice> {
    let step = (census.items as usize).div_ceil(SAMPLE).max(1);
    let mut sample = Vec::with_capacity(SAMPLE);
    let mut at = 0usize;
    for found in listing.walk()? {
        if let Found::Item(item) = found? {
            if at % step == 0 {
                sample.push(item);
            }
            at += 1;
        }
    }
    Ok(choose_among(&sample, o))
}

/// Choose from the items sampled.
fn choose_among(sample: &[Item], o: &Overrides) -> Choice {
    let looks: Vec<Look> = sample.par_iter().filter_map(look).collect();
    let n = looks.len();
    let coloured = looks.iter().filter(|l| l.colour).count();
    let colour = o
        .colour
        .unwrap_or(n > 0 && coloured as f32 > COLOUR_SHARE * n as f32);
    let median_side = median(looks.iter().map(|l| l.side as f32).collect());
    let size = o.size.unwrap_or_else(|| match median_side {
        Some(m) => SIZES
            .into_iter()
            .find(|&s| s as f32 >= 0.9 * m)
            .unwrap_or(SIZES[SIZES.len() - 1]),
        None => SIZES[0],
    });
    let paper = median(looks.iter().map(|l| l.paper).collect());
    let drawings = !colour && size == 32 && paper.is_some_and(|p| p >= PAPER_SHARE);
    let augment = o.augment.unwrap_or(if drawings {
        Preset::Numerals
    } else {
        Preset::Photos
    });

    let mut why = Vec::new();
    if n == 0 {
        why.push("no sampled file could be read".to_string());
    } else {
        if o.colour.is_none() {
            why.push(format!("{coloured} of {n} sampled images are in colour"));
        }
        if let (None, Some(m)) = (o.size, median_side) {
            why.push(format!(
                "their median side is {m:.0} px (the store keeps the smallest of 32/64/96/128 that holds it)"
            ));
        }
        if let (None, Some(p)) = (o.augment, paper) {
            if !colour && size == 32 {
                why.push(format!(
                    "{:.0}% of a typical image is background ({})",
                    100.0 * p,
                    if drawings {
                        "drawings on paper"
                    } else {
                        "photographs"
                    }
                ));
            }
        }
    }
    let given: Vec<&str> = [
        o.size.map(|_| "--size"),
        o.colour.map(|c| if c { "--rgb" } else { "--gray" }),
        o.augment.map(|_| "--augment"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !given.is_empty() {
        why.push(format!("as given by {}", given.join(", ")));
    }
    let settings = StoreSettings {
        size,
        channels: if colour { 3 } else { 1 },
        augment: Some(augment),
    };
    let reason = format!(
        "new store: {size} px {}, augmentation {augment} — {}; --size, --gray/--rgb and --augment override",
        if colour { "RGB" } else { "gray" },
        why.join("; ")
    );
    Choice { settings, reason }
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// Decode one item for its look; unreadable items say nothing (the import reports them).
fn look(item: &Item) -> Option<Look> {
    let img = match item {
        Item::File { path, .. } => {
            if std::fs::metadata(path).ok()?.len() > MAX_FILE_BYTES {
                return None;
            }
            let bytes = std::fs::read(path).ok()?;
            decode::decode_image(&bytes).ok()?
        }
        Item::Raw {
            width,
            height,
            pixels,
            ..
        } => DynamicImage::ImageLuma8(image::GrayImage::from_raw(*width, *height, pixels.clone())?),
        Item::Missing { .. } => return None,
    };
    let side = img.width().max(img.height());
    // Judge colour and paper on a small copy: decoding was the cost, this is cheap.
    let small = img.thumbnail(64, 64);
    let colour = small.color().has_color() && {
        let rgb = small.to_rgb8();
        let total: u64 = rgb
            .pixels()
            .map(|p| (p.0.iter().max().unwrap() - p.0.iter().min().unwrap()) as u64)
            .sum();
        total as f32 / (rgb.width() * rgb.height()).max(1) as f32 > CHROMA
    };
    let gray = decode::normalise(&img, 32, 1).pixels;
    Some(Look {
        side,
        colour,
        paper: paper_share(&gray, 32),
    })
}

/// Share of pixels within 40 levels of the median border value.
fn paper_share(px: &[u8], side: usize) -> f32 {
    let bg = crate::dedup::phash::background(px, side) as i32;
    px.iter().filter(|&&v| (v as i32 - bg).abs() <= 40).count() as f32 / px.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &std::path::Path, name: &str, img: DynamicImage) -> Item {
        let path = dir.join(name);
        img.save(&path).unwrap();
        Item::File {
            path: PathBuf::from(&path),
            given: None,
        }
    }

    /// Dark strokes on white paper, 28 px: a drawing.
    fn drawing(i: u32) -> DynamicImage {
        DynamicImage::ImageLuma8(image::GrayImage::from_fn(28, 28, |x, y| {
            let on = (x + i) % 9 == 0 && (4..24).contains(&y);
            image::Luma([if on { 20 } else { 245 }])
        }))
    }

    /// A colour gradient photo-like image of `w` x `h`.
    fn photo(w: u32, h: u32, i: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x + y + i * 17) % 256) as u8,
            ])
        }))
    }

    #[test]
    fn gray_drawings_get_a_32_px_gray_numerals_store() {
        let tmp = tempfile::tempdir().unwrap();
        let items: Vec<Item> = (0..20)
            .map(|i| write(tmp.path(), &format!("{i}.png"), drawing(i)))
            .collect();
        let c = choose_among(&items, &Overrides::default());
        assert_eq!(
            (c.settings.size, c.settings.channels, c.settings.augment),
            (32, 1, Some(Preset::Numerals)),
            "{}",
            c.reason
        );
        assert!(c.reason.contains("0 of 20 sampled images are in colour"));
    }

    #[test]
    fn colour_photos_get_colour_and_the_size_that_keeps_them() {
        let tmp = tempfile::tempdir().unwrap();
        let mut items: Vec<Item> = (0..10)
            .map(|i| write(tmp.path(), &format!("{i}.png"), photo(60, 40, i)))
            .collect();
        // A JPEG of a gray picture is stored in YCbCr: still gray.
        items.push(write(
            tmp.path(),
            "gray.jpg",
            DynamicImage::ImageRgb8(
                DynamicImage::ImageLuma8(photo(60, 40, 0).to_luma8()).to_rgb8(),
            ),
        ));
        let c = choose_among(&items, &Overrides::default());
        assert_eq!(
            (c.settings.size, c.settings.channels, c.settings.augment),
            (64, 3, Some(Preset::Photos)),
            "{}",
            c.reason
        );
        assert!(c.reason.contains("10 of 11"), "{}", c.reason);
        let big: Vec<Item> = (0..5)
            .map(|i| write(tmp.path(), &format!("big{i}.png"), photo(300, 500, i)))
            .collect();
        assert_eq!(choose_among(&big, &Overrides::default()).settings.size, 128);
        let o = Overrides {
            size: Some(32),
            colour: Some(false),
            augment: Some(Preset::None),
        };
        let c = choose_among(&big, &o);
        assert_eq!(
            (c.settings.size, c.settings.channels, c.settings.augment),
            (32, 1, Some(Preset::None))
        );
        assert!(
            c.reason.contains("--size, --gray, --augment"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn nothing_readable_falls_back_to_32_px_gray() {
        let c = choose_among(
            &[Item::Missing {
                path: "x.png".into(),
                reason: "gone".into(),
            }],
            &Overrides::default(),
        );
        assert_eq!((c.settings.size, c.settings.channels), (32, 1));
        assert!(c.reason.contains("no sampled file could be read"));
    }
}
