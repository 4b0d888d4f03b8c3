//! The demo datasets, with known flaws, so every stage of thresh can be shown and measured
//! against a truth file: synthetic handwritten-style Roman numerals I–X (32x32 gray, the
//! default) or coloured, textured shapes on varied backgrounds (`--kind shapes`, mostly
//! 64x64 RGB, some larger or not square).
//!
//! Layout: `OUT/<given label>/<number>.png|jpg` plus `OUT/truth.csv` with columns
//! `path,given,true,flaw,dup_of` (`path` and `dup_of` relative to the CSV; `true` is a label,
//! `junk` or `corrupt`). File numbers are shuffled so flaws do not cluster by name.

pub mod glyph;
pub mod shapes;

use anyhow::{bail, Context, Result};
use image::{DynamicImage, GrayImage, ImageFormat};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::io::Cursor;
use std::path::{Path, PathBuf};

pub const CLASSES: [&str; 10] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"];

/// Which demo to draw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Handwritten-style Roman numerals, 32x32 gray.
    #[default]
    Numerals,
    /// Textured colour shapes on varied backgrounds, mostly 64x64 RGB.
    Shapes,
}

impl Kind {
    pub fn classes(self) -> &'static [&'static str] {
        match self {
            Kind::Numerals => &CLASSES,
            Kind::Shapes => &shapes::CLASSES,
        }
    }

    /// The (side, channels) of the store its images get: 32 px gray, 64 px RGB.
    pub fn shape(self) -> (u32, u8) {
        match self {
            Kind::Numerals => (32, 1),
            Kind::Shapes => (shapes::SIDE, 3),
        }
    }

    fn confusable(self, class: usize) -> &'static [usize] {
        match self {
            Kind::Numerals => confusable(class),
            Kind::Shapes => shapes::confusable(class),
        }
    }

    /// One clean image of `class`.
    fn draw(self, class: usize, rng: &mut impl Rng) -> DynamicImage {
        match self {
            Kind::Numerals => gray(glyph::numeral(CLASSES[class], rng)),
            Kind::Shapes => DynamicImage::ImageRgb8(shapes::draw(class, rng)),
        }
    }

    fn junk(self, kind: JunkKind, rng: &mut impl Rng) -> DynamicImage {
        match (self, kind) {
            (Kind::Numerals, JunkKind::Blank) => gray(glyph::blank(rng)),
            (Kind::Numerals, JunkKind::Noise) => gray(glyph::noise(rng)),
            (Kind::Numerals, JunkKind::Scribble) => gray(glyph::scribble(rng)),
            (Kind::Shapes, JunkKind::Blank) => DynamicImage::ImageRgb8(shapes::blank(rng)),
            (Kind::Shapes, JunkKind::Noise) => DynamicImage::ImageRgb8(shapes::noise(rng)),
            (Kind::Shapes, JunkKind::Scribble) => DynamicImage::ImageRgb8(shapes::scribble(rng)),
        }
    }
}

fn gray(px: Vec<u8>) -> DynamicImage {
    let side = glyph::SIDE as u32;
    DynamicImage::ImageLuma8(GrayImage::from_raw(side, side, px).expect("square buffer"))
}

/// Labels a tired annotator confuses with each numeral.
fn confusable(class: usize) -> &'static [usize] {
    match class {
        0 => &[1],    // I -> II
        1 => &[2, 0], // II -> III, I
        2 => &[1],    // III -> II
        3 => &[5, 4], // IV -> VI, V
        4 => &[3, 5], // V -> IV, VI
        5 => &[3, 6], // VI -> IV, VII
        6 => &[7, 5], // VII -> VIII, VI
        7 => &[6],    // VIII -> VII
        8 => &[9, 3], // IX -> X, IV
        _ => &[8],    // X -> IX
    }
}

#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub out: PathBuf,
    /// Number of files written (images, duplicates, junk and corrupt files together).
    pub n: usize,
    pub seed: u64,
    pub kind: Kind,
    /// Share of the clean images written without a label (right under `out`, given empty
    /// in truth.csv): the unlabelled images pseudo-labels are for.
    pub unlabelled: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            out: PathBuf::from("thresh-demo"),
            n: 2000,
            seed: 7,
            kind: Kind::Numerals,
            unlabelled: 0.0,
        }
    }
}

/// One written file and what is true about it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TruthRow {
    pub path: String,
    pub given: String,
    #[serde(rename = "true")]
    pub truth: String,
    pub flaw: String,
    pub dup_of: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DemoReport {
    pub out: String,
    pub truth: String,
    pub files: usize,
    pub clean: usize,
    pub wrong_labels: usize,
    pub exact_duplicates: usize,
    pub near_duplicates: usize,
    pub junk: usize,
    pub corrupt: usize,
    /// Clean images written without a label.
    pub unlabelled: usize,
}

/// What to write for one file, decided before any pixel is drawn.
#[derive(Clone, Debug)]
enum Plan {
    Numeral { class: usize, given: usize },
    Exact { of: usize, given: usize },
    Near { of: usize, kind: NearKind },
    Junk { kind: JunkKind, given: usize },
    Corrupt { kind: CorruptKind, given: usize },
}

#[derive(Clone, Copy, Debug)]
enum NearKind {
    Jpeg,
    Shift,
    Brightness,
    Resize,
}

#[derive(Clone, Copy, Debug)]
enum JunkKind {
    Blank,
    Noise,
    Scribble,
}

#[derive(Clone, Copy, Debug)]
enum CorruptKind {
    Truncated,
    Empty,
    Text,
}

fn sub_rng(seed: u64, i: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn png(img: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .expect("PNG encoding into memory");
    out
}

fn plan(cfg: &DemoConfig) -> Result<Vec<Plan>> {
    let n = cfg.n;
    if n < 50 {
        bail!("--n {n} is too small for a demo with every kind of flaw (use 50 or more)");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let classes = cfg.kind.classes().len();
    let n_corrupt = (n / 500).clamp(3, 50);
    let n_exact = (n * 3).div_ceil(100);
    let n_near = (n * 3).div_ceil(100);
    let n_junk = n.div_ceil(100).max(3);
    let n_base = n - n_corrupt - n_exact - n_near - n_junk;
    let mut plans: Vec<Plan> = (0..n_base)
        .map(|_| {
            let class = rng.random_range(0..classes);
            Plan::Numeral {
                class,
                given: class,
            }
        })
        .collect();
    // ~10% wrong labels: half a confusable numeral, half any other class.
    let mut order: Vec<usize> = (0..n_base).collect();
    order.shuffle(&mut rng);
    let n_wrong = (n_base as f64 * 0.1).round() as usize;
    for (k, &i) in order.iter().take(n_wrong).enumerate() {
        if let Plan::Numeral { class, given } = &mut plans[i] {
            *given = if k % 2 == 0 {
                *cfg.kind
                    .confusable(*class)
                    .choose(&mut rng)
                    .expect("non-empty")
            } else {
                let other = rng.random_range(0..classes - 1);
                if other >= *class {
                    other + 1
                } else {
                    other
                }
            };
        }
    }
    let given_of = |plans: &[Plan], i: usize| match plans[i] {
        Plan::Numeral { given, .. } => given,
        _ => unreachable!("duplicates copy numerals"),
    };
    for k in 0..n_exact {
        let of = rng.random_range(0..n_base);
        // One in five copies lands in another class folder: a label conflict.
        let given = if k % 5 == 4 {
            (given_of(&plans, of) + rng.random_range(1..classes)) % classes
        } else {
            given_of(&plans, of)
        };
        plans.push(Plan::Exact { of, given });
    }
    let kinds = [
        NearKind::Jpeg,
        NearKind::Shift,
        NearKind::Brightness,
        NearKind::Resize,
    ];
    for k in 0..n_near {
        let of = rng.random_range(0..n_base);
        plans.push(Plan::Near {
            of,
            kind: kinds[k % 4],
        });
    }
    let junk = [JunkKind::Blank, JunkKind::Noise, JunkKind::Scribble];
    for k in 0..n_junk {
        plans.push(Plan::Junk {
            kind: junk[k % 3],
            given: rng.random_range(0..classes),
        });
    }
    let corrupt = [
        CorruptKind::Truncated,
        CorruptKind::Empty,
        CorruptKind::Text,
    ];
    for k in 0..n_corrupt {
        plans.push(Plan::Corrupt {
            kind: corrupt[k % 3],
            given: rng.random_range(0..classes),
        });
    }
    Ok(plans)
}

/// Generate the demo into `cfg.out`. An earlier demo there is replaced; any other non-empty
/// directory is refused rather than touched.
pub fn generate(cfg: &DemoConfig) -> Result<DemoReport> {
    let plans = plan(cfg)?;
    let names = cfg.kind.classes();
    prepare_out(&cfg.out, names)?;
    let n = plans.len();
    // Shuffled file numbers, so a file's name says nothing about its flaw.
    let mut numbers: Vec<usize> = (0..n).collect();
    numbers.shuffle(&mut sub_rng(cfg.seed, usize::MAX - 1));

    // Pass 1: draw the numerals (duplicates need their bytes).
    let base: Vec<Option<(DynamicImage, Vec<u8>)>> = plans
        .par_iter()
        .enumerate()
        .map(|(i, p)| match p {
            Plan::Numeral { class, .. } => {
                let img = cfg.kind.draw(*class, &mut sub_rng(cfg.seed, i));
                let bytes = png(&img);
                Some((img, bytes))
            }
            _ => None,
        })
        .collect();
    let ext = |p: &Plan| match p {
        Plan::Near {
            kind: NearKind::Jpeg,
            ..
        } => "jpg",
        _ => "png",
    };
    let given_of = |i: usize| -> usize {
        match &plans[i] {
            Plan::Numeral { given, .. }
            | Plan::Exact { given, .. }
            | Plan::Junk { given, .. }
            | Plan::Corrupt { given, .. } => *given,
            Plan::Near { of, .. } => match plans[*of] {
                Plan::Numeral { given, .. } => given,
                _ => unreachable!("near duplicates copy numerals"),
            },
        }
    };
    // Clean images left unlabelled, drawn from their own stream so the rest stays as it was.
    let unlabelled: Vec<bool> = {
        let mut rng = sub_rng(cfg.seed, usize::MAX - 2);
        plans
            .iter()
            .map(|p| {
                let draw = rng.random::<f64>();
                matches!(p, Plan::Numeral { class, given } if class == given)
                    && draw < cfg.unlabelled
            })
            .collect()
    };
    let rel = |i: usize| {
        if unlabelled[i] {
            return format!("{:06}.{}", numbers[i], ext(&plans[i]));
        }
        format!(
            "{}/{:06}.{}",
            names[given_of(i)],
            numbers[i],
            ext(&plans[i])
        )
    };

    // Pass 2: every file's bytes and truth row, written in parallel.
    let rows: Vec<TruthRow> = plans
        .par_iter()
        .enumerate()
        .map(|(i, p)| -> Result<TruthRow> {
            let mut rng = sub_rng(cfg.seed, i);
            let _ = rng.random::<u64>();
            let original = |of: usize| base[of].as_ref().expect("numeral drawn");
            let true_of = |of: usize| match plans[of] {
                Plan::Numeral { class, .. } => names[class].to_string(),
                _ => unreachable!("duplicates copy numerals"),
            };
            let (bytes, truth, flaw, dup_of) = match p {
                Plan::Numeral { class, given } => (
                    original(i).1.clone(),
                    names[*class].to_string(),
                    if class == given { "" } else { "wrong_label" }.to_string(),
                    String::new(),
                ),
                Plan::Exact { of, .. } => (
                    original(*of).1.clone(),
                    true_of(*of),
                    "exact_dup".into(),
                    rel(*of),
                ),
                Plan::Near { of, kind } => {
                    let (bytes, name) = near_variant(&original(*of).0, *kind, &mut rng)?;
                    (bytes, true_of(*of), format!("near_dup_{name}"), rel(*of))
                }
                Plan::Junk { kind, .. } => {
                    let name = match kind {
                        JunkKind::Blank => "blank",
                        JunkKind::Noise => "noise",
                        JunkKind::Scribble => "scribble",
                    };
                    (
                        png(&cfg.kind.junk(*kind, &mut rng)),
                        "junk".into(),
                        format!("junk_{name}"),
                        String::new(),
                    )
                }
                Plan::Corrupt { kind, .. } => {
                    let (bytes, name) = match kind {
                        CorruptKind::Truncated => {
                            let full = png(&cfg.kind.draw(names.len() / 2 - 1, &mut rng));
                            (full[..full.len() / 2].to_vec(), "truncated")
                        }
                        CorruptKind::Empty => (Vec::new(), "empty"),
                        CorruptKind::Text => (b"this is not an image\n".to_vec(), "text"),
                    };
                    (
                        bytes,
                        "corrupt".into(),
                        format!("corrupt_{name}"),
                        String::new(),
                    )
                }
            };
            let path = rel(i);
            let full = cfg.out.join(&path);
            std::fs::write(&full, &bytes)
                .with_context(|| format!("cannot write {}", full.display()))?;
            Ok(TruthRow {
                path,
                given: if unlabelled[i] {
                    String::new()
                } else {
                    names[given_of(i)].to_string()
                },
                truth,
                flaw,
                dup_of,
            })
        })
        .collect::<Result<_>>()?;

    let truth_path = cfg.out.join("truth.csv");
    let mut w = csv::Writer::from_path(&truth_path)
        .with_context(|| format!("cannot write {}", truth_path.display()))?;
    let mut sorted = rows.clone();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for r in &sorted {
        w.serialize(r)?;
    }
    w.flush()?;

    let count = |pred: &dyn Fn(&TruthRow) -> bool| rows.iter().filter(|r| pred(r)).count();
    Ok(DemoReport {
        out: cfg.out.display().to_string(),
        truth: truth_path.display().to_string(),
        files: rows.len(),
        clean: count(&|r| r.flaw.is_empty()),
        wrong_labels: count(&|r| r.flaw == "wrong_label"),
        exact_duplicates: count(&|r| r.flaw == "exact_dup"),
        near_duplicates: count(&|r| r.flaw.starts_with("near_dup")),
        junk: count(&|r| r.truth == "junk"),
        corrupt: count(&|r| r.truth == "corrupt"),
        unlabelled: count(&|r| r.given.is_empty()),
    })
}

/// `img` with its raw bytes replaced by `f(bytes, width, height, channels)`, same type.
fn map_raw(img: &DynamicImage, f: impl Fn(&[u8], usize, usize, usize) -> Vec<u8>) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    let c = img.color().channel_count() as usize;
    let raw = f(img.as_bytes(), w as usize, h as usize, c);
    match c {
        1 => DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, raw).expect("same size")),
        _ => DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, raw).expect("same size")),
    }
}

fn near_variant(
    img: &DynamicImage,
    kind: NearKind,
    rng: &mut impl Rng,
) -> Result<(Vec<u8>, &'static str)> {
    Ok(match kind {
        NearKind::Jpeg => {
            let mut out = Vec::new();
            let quality = rng.random_range(80..=95u8);
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
                .encode_image(img)?;
            (out, "jpeg")
        }
        NearKind::Shift => {
            let dirs = [(-1i32, 0i32), (1, 0), (0, -1), (0, 1), (1, 1), (-1, -1)];
            let (dx, dy) = dirs[rng.random_range(0..dirs.len())];
            let shifted = map_raw(img, |px, w, h, c| {
                (0..w * h * c)
                    .map(|i| {
                        let (p, ch) = (i / c, i % c);
                        let x = ((p % w) as i32 - dx).clamp(0, w as i32 - 1) as usize;
                        let y = ((p / w) as i32 - dy).clamp(0, h as i32 - 1) as usize;
                        px[(y * w + x) * c + ch]
                    })
                    .collect()
            });
            (png(&shifted), "shift")
        }
        NearKind::Brightness => {
            let amount = rng.random_range(0.08..=0.15f32);
            let gain = if rng.random_bool(0.5) {
                1.0 + amount
            } else {
                1.0 - amount
            };
            let v = map_raw(img, |px, _, _, _| {
                px.iter()
                    .map(|&p| (p as f32 * gain).round().clamp(0.0, 255.0) as u8)
                    .collect()
            });
            (png(&v), "brightness")
        }
        NearKind::Resize => {
            // Three quarters, one and a half or twice the size (24, 48 or 64 px for a numeral).
            let (num, den) = [(3u32, 4u32), (3, 2), (2, 1)][rng.random_range(0..3)];
            let r = img.resize_exact(
                img.width() * num / den,
                img.height() * num / den,
                image::imageops::FilterType::Triangle,
            );
            (png(&r), "resize")
        }
    })
}

fn prepare_out(out: &Path, classes: &[&str]) -> Result<()> {
    if out.exists() {
        let is_demo = out.join("truth.csv").exists();
        let empty = std::fs::read_dir(out)
            .with_context(|| format!("cannot list {}", out.display()))?
            .next()
            .is_none();
        if !is_demo && !empty {
            bail!(
                "{} exists and is not a thresh demo (no truth.csv); choose another --out",
                out.display()
            );
        }
        // Either kind's folders: a demo of the other kind may be there; and the unlabelled
        // images an earlier demo left at the top.
        for class in CLASSES.iter().chain(&shapes::CLASSES) {
            let d = out.join(class);
            if d.exists() {
                std::fs::remove_dir_all(&d)
                    .with_context(|| format!("cannot clear {}", d.display()))?;
            }
        }
        if is_demo {
            for e in
                std::fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))?
            {
                let p = e?.path();
                if p.is_file()
                    && matches!(p.extension().and_then(|x| x.to_str()), Some("png" | "jpg"))
                {
                    std::fs::remove_file(&p)
                        .with_context(|| format!("cannot clear {}", p.display()))?;
                }
            }
        }
    }
    for class in classes {
        let d = out.join(class);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    Ok(())
}

/// Read a truth file (the demo's, or any CSV with `path` and `true` columns).
pub fn read_truth(path: &Path) -> Result<Vec<TruthRow>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(p), Some(t)) = (col("path"), col("true")) else {
        bail!("{} needs `path` and `true` columns", path.display());
    };
    let (g, f, d) = (col("given"), col("flaw"), col("dup_of"));
    let get = |rec: &csv::StringRecord, c: Option<usize>| {
        c.and_then(|c| rec.get(c)).unwrap_or("").to_string()
    };
    r.records()
        .map(|rec| {
            let rec = rec?;
            Ok(TruthRow {
                path: get(&rec, Some(p)),
                given: get(&rec, g),
                truth: get(&rec, Some(t)),
                flaw: get(&rec, f),
                dup_of: get(&rec, d),
            })
        })
        .collect()
}
