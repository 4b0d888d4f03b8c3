//! Headless subcommands. Each prints a short human summary, or with `--json` one JSON object
//! per result, and returns an error (one line, exit code 1) on failure.

mod embed;
mod progress;
mod prune;
mod review;
mod stats;
mod synth;
mod train;

use crate::dedup::{self, verify::DEFAULT_MIN_SIMILARITY, Params, DEFAULT_RADIUS};
use crate::demo::{self, DemoConfig};
use crate::ingest::shape::{self, Overrides};
use crate::ingest::sources::{Census, Listing};
use crate::ingest::{self, Format, ImportReport};
use crate::store::Store;
use crate::train::backend::BackendChoice;
use crate::tui::graphics::ThumbMode;
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "thresh",
    version,
    about = "Find and fix what is wrong with a small image dataset, from the terminal"
)]
pub struct Cli {
    /// Store directory.
    #[arg(long, global = true, env = "THRESH_STORE", default_value = ".thresh")]
    pub store: PathBuf,
    /// Where training runs: a hardware GPU when there is one (auto), wgpu, or the CPU.
    #[arg(long, global = true, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Print one JSON object per result instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Thumbnails in the UI: the terminal's graphics protocol (kitty, sixel, iTerm2) when it
    /// answers the query (auto), or half blocks always.
    #[arg(long, global = true, value_enum, env = "THRESH_THUMBS", default_value_t = ThumbMode::Auto)]
    pub thumbs: ThumbMode,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Generate a demo dataset (Roman numerals, or colour shapes), import it and find its
    /// duplicates.
    Demo {
        /// Where to write the demo images and truth.csv.
        #[arg(long, default_value = "thresh-demo")]
        out: PathBuf,
        /// Number of files to write.
        #[arg(long, default_value_t = 2000)]
        n: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// numerals: 32x32 gray handwritten-style I–X; shapes: colour textured shapes,
        /// mostly 64x64.
        #[arg(long, value_enum, default_value_t = demo::Kind::Numerals)]
        kind: demo::Kind,
        /// Share of the clean images to write without a label (at the top of --out), for
        /// pseudo-labels.
        #[arg(long, default_value_t = 0.0)]
        unlabelled: f64,
        /// Do not open the review UI afterwards.
        #[arg(long)]
        no_tui: bool,
    },
    /// Import an image folder (class per folder), a CSV manifest (path,label) or IDX files.
    Import {
        path: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Auto)]
        format: Format,
        /// Side of the normalised square image (new stores; default: chosen from the
        /// images, the smallest of 32/64/96/128 that keeps most of their detail).
        #[arg(long)]
        size: Option<u32>,
        /// Keep colour (new stores; default: colour when the images are not gray).
        #[arg(long, conflicts_with = "gray")]
        rgb: bool,
        /// Store gray (new stores).
        #[arg(long)]
        gray: bool,
        /// The store's default augmentation preset (default: numerals for 32 px gray
        /// drawings, photos otherwise). On an existing store this changes the default.
        #[arg(long, value_enum)]
        augment: Option<crate::augment::Preset>,
    },
    /// Find exact and near duplicates and group them.
    Dedup {
        /// Hamming radius of the perceptual-hash stage.
        #[arg(long, default_value_t = DEFAULT_RADIUS)]
        distance: u32,
        /// Minimum pixel similarity (0..1) for a perceptual candidate to count.
        #[arg(long, default_value_t = DEFAULT_MIN_SIMILARITY)]
        similarity: f32,
    },
    /// Write the duplicate groups of the last dedup as CSV (path,group,stage,distance,kept).
    Dups {
        #[arg(long)]
        csv: PathBuf,
    },
    /// Counts by class, state, origin, and duplicate groups; `--rounds` prints the
    /// Table-1-style table of training rounds instead.
    Stats {
        #[arg(long)]
        rounds: bool,
    },
    /// Draw a random seed set (stratified by label) into the certify queue.
    Seed {
        #[arg(long, default_value_t = crate::pipeline::rounds::DEFAULT_SEED_SET)]
        n: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Decide one sample: certify, relabel LABEL, reject [REASON], duplicate KEPT, restore.
    /// SAMPLE is an imported path or an id (prefix of 8+ hex digits).
    Decide {
        sample: String,
        #[arg(value_enum)]
        action: review::Action,
        /// The new label (relabel), the reason (reject) or the kept sample (duplicate).
        value: Option<String>,
    },
    /// Revert the latest decision not yet undone.
    Undo,
    /// Certify the first N samples of a queue in one decision, except the ones named.
    Accept {
        /// certify, accept, review, synthetic or pseudo (each sample takes its suggested
        /// label, origin `pseudo`).
        #[arg(long, default_value = "accept")]
        queue: crate::store::QueueName,
        #[arg(long)]
        n: Option<usize>,
        /// Samples to leave out (paths or ids); repeatable.
        #[arg(long)]
        except: Vec<String>,
    },
    /// Play the reviewer from a truth file through whole rounds.
    Simulate(review::SimulateArgs),
    /// Move each class's excess beyond the smallest class (or --target) to surplus.
    Balance {
        #[arg(long)]
        target: Option<usize>,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Draw the test split and N folds, keeping duplicate groups together; report leakage.
    Split {
        #[arg(long, default_value_t = crate::pipeline::split::DEFAULT_TEST)]
        test: f64,
        #[arg(long, default_value_t = crate::pipeline::split::DEFAULT_FOLDS)]
        folds: u32,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Freeze the current (id, label, split) list as a named version.
    Version { name: String },
    /// The conditional GAN: train it, generate samples into the synthetic queue.
    #[command(subcommand)]
    Gan(synth::GanCommand),
    /// Train the final model per version and compare test accuracy (Table 2).
    Eval {
        /// Comma-separated version names (default: all).
        #[arg(long)]
        versions: Option<String>,
        /// Most epochs (the paper: 100, with early stopping).
        #[arg(long, default_value_t = 100)]
        epochs: usize,
        /// Network width (64 = the reference network).
        #[arg(long, default_value_t = 64)]
        width: usize,
        /// Also one model per fold of the split: test accuracy mean ± std (N more trainings).
        #[arg(long)]
        folds: bool,
    },
    /// Freeze a smaller version without the least informative samples outside the test
    /// split (EL2N over short trainings from several initialisations, forgetting events,
    /// or loss), and the full data beside it, for `eval` to compare.
    Prune(prune::PruneArgs),
    /// Write a class-per-folder tree per split and fold, plus manifest.csv.
    Export {
        dir: PathBuf,
        #[arg(long)]
        version: Option<String>,
    },
    /// Train the classifier and score samples: on the certified seed set (seed) or k-fold
    /// over everything labelled (crossval).
    Train(train::TrainArgs),
    /// Fill the accept (K lowest loss) and review (L highest loss) queues from the latest scores.
    Rank {
        #[arg(long, default_value_t = 500)]
        k: usize,
        #[arg(long, default_value_t = 100)]
        l: usize,
        /// Unlabelled samples whose suggested label has at least this probability go to the
        /// pseudo queue.
        #[arg(long, default_value_t = crate::pipeline::queues::DEFAULT_PSEUDO)]
        pseudo: f32,
    },
    /// Write the latest scores as CSV (path,given,suggested,loss,margin,el2n,forgetting,queue,state,flagged,outlier,agreement; flagged is 1 for a likely label error by confident learning, outlier the cosine distance to the 10th nearest sample in embedding space, agreement the share of those neighbours carrying the same label).
    Scores {
        #[arg(long)]
        csv: PathBuf,
    },
    /// Write a round's embeddings (each sample's pooled 256-d feature vector from scoring) as
    /// CSV: path,given,suggested,state,flagged,x,y,e0..; x/y are the first two principal
    /// components.
    Embed {
        #[arg(long)]
        csv: PathBuf,
        /// The round (default: the latest).
        #[arg(long)]
        round: Option<u32>,
    },
    /// List the samples most like SAMPLE (a path or an id prefix) in the latest round's
    /// embedding space, nearest first, and make them the `similar` queue.
    Similar {
        sample: String,
        #[arg(long, default_value_t = crate::feature::similar::DEFAULT_K)]
        k: usize,
    },
}

pub fn run(cli: Cli) -> Result<()> {
    let Some(command) = cli.command else {
        return open_ui(Store::open(&cli.store)?, cli.backend, cli.thumbs);
    };
    match command {
        Command::Demo {
            out,
            n,
            seed,
            kind,
            unlabelled,
            no_tui,
        } => cmd_demo(
            &cli.store,
            cli.json,
            DemoConfig {
                out,
                n,
                seed,
                kind,
                unlabelled,
            },
            no_tui,
            (cli.backend, cli.thumbs),
        ),
        Command::Import {
            path,
            format,
            size,
            rgb,
            gray,
            augment,
        } => {
            let overrides = Overrides {
                size,
                colour: match (rgb, gray) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                augment,
            };
            cmd_import(&cli.store, &path, format, &overrides, cli.json)
        }
        Command::Dedup {
            distance,
            similarity,
        } => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&similarity),
                "--similarity {similarity} is outside 0..1"
            );
            anyhow::ensure!(
                distance <= 32,
                "--distance {distance} is too large (at most 32 of 64 bits)"
            );
            let store = Store::open(&cli.store)?;
            let params = Params {
                radius: distance,
                min_similarity: similarity,
            };
            let report = dedup::dedup(&store, params)?;
            print_dedup(&report, cli.json)
        }
        Command::Dups { csv } => {
            let store = Store::open(&cli.store)?;
            let rows = dedup::dup_rows(&store)?;
            let mut w = csv::Writer::from_path(&csv)
                .with_context(|| format!("cannot write {}", csv.display()))?;
            for r in &rows {
                w.serialize(r)?;
            }
            w.flush()
                .with_context(|| format!("cannot write {}", csv.display()))?;
            let groups = rows.iter().filter(|r| r.kept).count();
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({"csv": csv.display().to_string(), "rows": rows.len(), "groups": groups})
                );
            } else {
                println!(
                    "wrote {} rows in {} groups to {}",
                    rows.len(),
                    groups,
                    csv.display()
                );
            }
            Ok(())
        }
        Command::Train(args) => {
            train::train(&Store::open(&cli.store)?, cli.backend, cli.json, args)
        }
        Command::Rank { k, l, pseudo } => {
            train::rank(&Store::open(&cli.store)?, k, l, pseudo, cli.json)
        }
        Command::Scores { csv } => train::scores_csv(&Store::open(&cli.store)?, &csv, cli.json),
        Command::Embed { csv, round } => {
            embed::embed_csv(&Store::open(&cli.store)?, &csv, round, cli.json)
        }
        Command::Similar { sample, k } => {
            embed::similar(&Store::open(&cli.store)?, &sample, k, cli.json)
        }
        Command::Stats { rounds: true } => {
            review::rounds_table(&Store::open(&cli.store)?, cli.json)
        }
        Command::Stats { rounds: false } => {
            let store = Store::open(&cli.store)?;
            let s = stats::collect(&store)?;
            if cli.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                print!("{}", stats::render(&s));
            }
            Ok(())
        }
        Command::Seed { n, seed } => review::seed(&Store::open(&cli.store)?, n, seed, cli.json),
        Command::Decide {
            sample,
            action,
            value,
        } => review::decide_cmd(&Store::open(&cli.store)?, &sample, action, value, cli.json),
        Command::Undo => review::undo(&Store::open(&cli.store)?, cli.json),
        Command::Accept { queue, n, except } => {
            review::accept(&Store::open(&cli.store)?, queue, n, &except, cli.json)
        }
        Command::Simulate(args) => {
            review::simulate_cmd(&Store::open(&cli.store)?, cli.backend, args, cli.json)
        }
        Command::Balance { target, seed } => {
            review::balance_cmd(&Store::open(&cli.store)?, target, seed, cli.json)
        }
        Command::Split { test, folds, seed } => {
            review::split_cmd(&Store::open(&cli.store)?, test, folds, seed, cli.json)
        }
        Command::Version { name } => review::version(&Store::open(&cli.store)?, &name, cli.json),
        Command::Gan(cmd) => synth::gan(&Store::open(&cli.store)?, cli.backend, cmd, cli.json),
        Command::Eval {
            versions,
            epochs,
            width,
            folds,
        } => synth::eval_cmd(
            &Store::open(&cli.store)?,
            cli.backend,
            versions,
            epochs,
            width,
            folds,
            cli.json,
        ),
        Command::Prune(args) => {
            prune::prune_cmd(&Store::open(&cli.store)?, cli.backend, args, cli.json)
        }
        Command::Export { dir, version } => review::export(
            &Store::open(&cli.store)?,
            &dir,
            version.as_deref(),
            cli.json,
        ),
    }
}

/// The review UI, on the backend chosen once here (a missing GPU is a notice, not an error).
fn open_ui(store: Store, backend: BackendChoice, thumbs: ThumbMode) -> Result<()> {
    anyhow::ensure!(
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
        "the review UI needs a terminal: run `thresh` in one, or use a subcommand (`thresh --help`)"
    );
    let compute = crate::train::backend::select(backend)?;
    crate::tui::run(store, compute, thumbs)
}

fn cmd_demo(
    store_dir: &Path,
    json: bool,
    cfg: DemoConfig,
    no_tui: bool,
    (backend, thumbs): (BackendChoice, ThumbMode),
) -> Result<()> {
    // A store of another shape is refused before any file is written.
    let fresh = !Store::exists(store_dir);
    if !fresh {
        let meta = Store::open(store_dir)?.meta().clone();
        let (size, channels) = cfg.kind.shape();
        if (meta.size, meta.channels) != (size, channels) {
            bail!(
                "the store at {} is {}, and the {:?} demo needs a {size} px {} store: pass another --store",
                store_dir.display(),
                meta.shape(),
                cfg.kind,
                if channels == 3 { "RGB" } else { "gray" }
            );
        }
    }
    let report = demo::generate(&cfg)?;
    let listing = Listing::open(&cfg.out, Format::Folder)?;
    let census = listing.census()?;
    // A new store takes its shape from the demo's images, as it would from a user's folder.
    let choice = shape::choose(&listing, &census, &Overrides::default())?;
    let mut store = Store::open_or_create(store_dir, &choice.settings)?;
    store.add_classes(cfg.kind.classes().iter().copied())?;
    let import = import_with_bar(&mut store, &listing, &census)?;
    let dedup = dedup::dedup(&store, Params::default())?;
    if json {
        println!(
            "{}",
            serde_json::json!({"demo": report, "import": import, "dedup": dedup})
        );
    } else {
        println!(
            "demo: {} files in {} ({} wrong labels, {} exact + {} near duplicates, {} junk, {} corrupt, {} unlabelled); truth in {}",
            report.files,
            report.out,
            report.wrong_labels,
            report.exact_duplicates,
            report.near_duplicates,
            report.junk,
            report.corrupt,
            report.unlabelled,
            report.truth
        );
        if fresh {
            println!("{}", choice.reason);
        }
        print_import(&import, false)?;
        print_dedup(&dedup, false)?;
    }
    if !no_tui && !json {
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            println!("(not a terminal: the review UI opens with `thresh` in one)");
            return Ok(());
        }
        return open_ui(store, backend, thumbs);
    }
    Ok(())
}

/// Import into the store at `dir`: a new store takes its shape from the images (or the
/// flags) and says why in one line; an existing store keeps its shape, and a flag that asks
/// for another is refused before anything is read.
fn cmd_import(dir: &Path, path: &Path, format: Format, o: &Overrides, json: bool) -> Result<()> {
    if let Some(size) = o.size {
        anyhow::ensure!(
            (8..=512).contains(&size),
            "--size {size}: the store's side must be 8 to 512 pixels (32, 64, 96 or 128 suit every stage)"
        );
    }
    let existing = if Store::exists(dir) {
        let mut store = Store::open(dir)?;
        let meta = store.meta();
        let (size, channels) = (meta.size, meta.channels);
        let wrong = |flag: String| {
            anyhow::anyhow!(
                "{flag}: the store at {} is {}, and a store keeps the shape it was created with (import into a new --store)",
                dir.display(),
                meta.shape()
            )
        };
        if let Some(s) = o.size.filter(|&s| s != size) {
            return Err(wrong(format!("--size {s}")));
        }
        if let Some(c) = o.colour.filter(|&c| c != (channels == 3)) {
            return Err(wrong(if c { "--rgb" } else { "--gray" }.to_string()));
        }
        if let Some(a) = o.augment.filter(|&a| a != store.meta().augment()) {
            store.set_augment(a)?;
            if !json {
                println!("store: default augmentation preset is now {a}");
            }
        }
        Some(store)
    } else {
        None
    };
    let listing = Listing::open(path, format)?;
    let census = census_with_spinner(&listing)?;
    let (mut store, created) = match existing {
        Some(store) => (store, None),
        None => {
            let choice = shape::choose(&listing, &census, o)?;
            if !json {
                println!("{}", choice.reason);
            }
            (Store::open_or_create(dir, &choice.settings)?, Some(choice))
        }
    };
    let report = import_with_bar(&mut store, &listing, &census)?;
    match (json, created) {
        // One object per command: the new store's shape goes with the report.
        (true, Some(c)) => {
            let mut v = serde_json::to_value(&report)?;
            v["store"] = serde_json::json!({
                "size": c.settings.size,
                "channels": c.settings.channels,
                "augment": c.settings.augment,
                "reason": c.reason,
            });
            println!("{v}");
            Ok(())
        }
        _ => print_import(&report, json),
    }
}

/// Walk the source once to count it (a million files take seconds: say so meanwhile).
fn census_with_spinner(listing: &Listing) -> Result<Census> {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!("listing {}", listing.root().display()));
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let census = listing.census();
    spinner.finish_and_clear();
    census
}

fn import_with_bar(store: &mut Store, listing: &Listing, census: &Census) -> Result<ImportReport> {
    // indicatif draws on stderr and hides itself when stderr is not a terminal; then a line
    // every tenth of the way says how far the import is, for logs of long imports.
    let bar = ProgressBar::new(census.items);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta} (elapsed {elapsed})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix("import");
    let start = std::time::Instant::now();
    // The first call gives where a continued import starts: the rate counts this run only.
    let from = std::sync::OnceLock::new();
    let tenth = std::sync::atomic::AtomicU64::new(0);
    let report = ingest::import_listing(store, listing, census, &|done, total| {
        let from = *from.get_or_init(|| {
            bar.set_position(done);
            bar.reset_eta();
            done
        });
        bar.set_position(done);
        let t = (done * 10).checked_div(total).unwrap_or(10);
        if bar.is_hidden() && done > from && t > tenth.swap(t, std::sync::atomic::Ordering::Relaxed)
        {
            let secs = start.elapsed().as_secs_f64();
            let rate = (done - from) as f64 / secs.max(1e-3);
            eprintln!(
                "thresh: import {done}/{total} items ({rate:.0}/s, eta {:.0} s)",
                (total - done) as f64 / rate.max(1e-9)
            );
        }
    });
    bar.finish_and_clear();
    report
}

fn print_import(r: &ImportReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!(
        "import: {} scanned, {} new samples, {} extra sources, {} already imported, {} skipped, {} non-image files ignored",
        r.scanned,
        r.added,
        r.new_sources,
        r.unchanged,
        r.skipped.len(),
        r.ignored
    );
    if r.resumed > 0 {
        println!(
            "  continued an import that was stopped: the first {} items were stored by that run (figures include them)",
            r.resumed
        );
    }
    if r.repaired > 0 {
        println!(
            "  {} stored samples had no pixels (an interrupted import): decoded again",
            r.repaired
        );
    }
    if r.conflicts > 0 {
        println!(
            "  {} samples have sources that disagree on the label",
            r.conflicts
        );
    }
    for s in &r.skipped {
        println!("  skipped {}: {}", s.path, s.reason);
    }
    Ok(())
}

fn print_dedup(r: &dedup::DedupReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!(
        "dedup: {} samples, {} groups: {} identical files, {} identical pixels, {} near (radius {}, similarity >= {}); {} newly marked duplicate, {} released, left {} reviewer decisions alone; {} groups with conflicting labels",
        r.samples,
        r.groups,
        r.byte_duplicates,
        r.pixel_duplicates,
        r.perceptual_duplicates,
        r.radius,
        r.min_similarity,
        r.marked,
        r.released,
        r.left_alone,
        r.label_conflicts
    );
    Ok(())
}
