//! The colour path end to end with the real binary: the shapes demo (mixed-size colour
//! images) gets a store shaped from its data without a flag, and every stage — crossval
//! scoring, the GAN, generation, balance, split, eval, export — runs on 64 px RGB.

mod common;

use common::{stderr, stdout, thresh};
use std::path::Path;

fn ok(cwd: &Path, args: &[&str]) -> String {
    let o = thresh(cwd, args);
    assert!(
        o.status.success(),
        "thresh {args:?} failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[test]
fn the_shapes_demo_goes_through_every_stage_in_colour() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = ok(dir, &["demo", "--kind", "shapes", "--n", "240", "--no-tui"]);
    assert!(
        out.contains("new store: 64 px RGB, augmentation photos"),
        "{out}"
    );
    assert!(out.contains("demo: 240 files"), "{out}");
    let stats = ok(dir, &["--json", "stats"]);
    assert!(stats.contains("\"circle\""), "{stats}");

    // A store keeps its shape: a flag asking for another is refused in one line.
    let o = thresh(dir, &["import", "thresh-demo", "--gray"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("--gray: the store at .thresh is 64 px RGB"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let train = ok(
        dir,
        &[
            "--backend",
            "cpu",
            "train",
            "--mode",
            "crossval",
            "--folds",
            "2",
            "--epochs",
            "1",
            "--width",
            "8",
            "--blocks",
            "1",
        ],
    );
    assert!(train.contains("samples scored"), "{train}");
    assert!(train.contains("flagged as likely label errors"), "{train}");
    ok(dir, &["scores", "--csv", "scores.csv"]);
    let scores = std::fs::read_to_string(dir.join("scores.csv")).unwrap();
    assert!(scores.lines().count() > 150, "{scores}");
    assert!(
        scores
            .lines()
            .next()
            .unwrap()
            .ends_with(",state,flagged,outlier,agreement"),
        "{scores}"
    );
    // flagged is 0 or 1; the outlier score a cosine distance, the agreement a share.
    for l in scores.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        assert!(matches!(f[9], "0" | "1"), "{l}");
        let outlier: f32 = f[10].parse().unwrap();
        let agreement: f32 = f[11].parse().unwrap();
        assert!(
            (0.0..=2.0).contains(&outlier) && (0.0..=1.0).contains(&agreement),
            "{l}"
        );
    }

    // The round's embeddings with a projection, one row per scored source file.
    let said = ok(dir, &["embed", "--csv", "embed.csv"]);
    let embed = std::fs::read_to_string(dir.join("embed.csv")).unwrap();
    let header: Vec<&str> = embed.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header[..7],
        ["path", "given", "suggested", "state", "flagged", "x", "y"]
    );
    // Width 8: the pooled vector has 4 x 8 channels.
    assert_eq!(header.len(), 7 + 32, "{:?}", &header[7..]);
    assert_eq!(header[7], "e0");
    assert!(said.contains("32-d embeddings"), "{said}");
    assert_eq!(embed.lines().count(), scores.lines().count());
    let spread: Vec<f32> = embed
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(5).unwrap().parse::<f32>().unwrap())
        .collect();
    assert!(spread.iter().all(|x| x.is_finite()));
    assert!(
        spread.iter().any(|&x| x != spread[0]),
        "the projection spreads the samples"
    );

    let gan = ok(
        dir,
        &[
            "--backend",
            "cpu",
            "gan",
            "train",
            "--iters",
            "3",
            "--width",
            "2",
        ],
    );
    assert!(gan.contains("GAN"), "{gan}");
    let generated = ok(
        dir,
        &[
            "--backend",
            "cpu",
            "gan",
            "generate",
            "--n",
            "10",
            "--approve-all",
        ],
    );
    assert!(generated.contains("10"), "{generated}");

    ok(dir, &["balance"]);
    ok(dir, &["split"]);
    ok(dir, &["version", "v1"]);
    let eval = ok(
        dir,
        &["--backend", "cpu", "eval", "--epochs", "1", "--width", "8"],
    );
    assert!(eval.contains("v1"), "{eval}");

    ok(dir, &["export", "out"]);
    let manifest = std::fs::read_to_string(dir.join("out/manifest.csv")).unwrap();
    let first = manifest
        .lines()
        .nth(1)
        .expect("a row")
        .split(',')
        .next()
        .unwrap();
    let img = image::open(dir.join("out").join(first)).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));
    assert_eq!(img.color(), image::ColorType::Rgb8);
}

/// A folder of gray drawings imported without a flag gets the 32 px gray numerals store of
/// the paper; colour photos of mixed sizes a colour store of the size that keeps them.
#[test]
fn import_chooses_the_store_shape_from_the_images() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(
        dir,
        &[
            "demo", "--n", "120", "--no-tui", "--out", "numerals", "--store", "n",
        ],
    );
    // A demo of the other kind is refused for that store before a file is written.
    let o = thresh(
        dir,
        &[
            "demo", "--kind", "shapes", "--n", "100", "--no-tui", "--out", "s2", "--store", "n",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("the store at n is 32 px gray, and the Shapes demo needs a 64 px RGB store"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("s2").exists());
    let o = ok(dir, &["--store", "fresh", "import", "numerals"]);
    assert!(
        o.contains("new store: 32 px gray, augmentation numerals"),
        "{o}"
    );

    for (i, (w, h)) in [(120u32, 90u32), (100, 100), (90, 130), (110, 110)]
        .into_iter()
        .enumerate()
    {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 2) as u8, (y * 2) as u8, (i * 60) as u8])
        });
        let p = dir.join("photos/cat").join(format!("{i}.png"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        img.save(p).unwrap();
    }
    let o = ok(dir, &["--store", "photos-store", "import", "photos"]);
    assert!(
        o.contains("new store: 128 px RGB, augmentation photos"),
        "{o}"
    );
    let o = ok(
        dir,
        &[
            "--store", "small", "import", "photos", "--size", "32", "--gray",
        ],
    );
    assert!(o.contains("new store: 32 px gray"), "{o}");
    assert!(o.contains("as given by --size, --gray"), "{o}");
}

/// The review UI on a colour store: the grid draws colour thumbnails, the Training screen
/// names the store's shape and preset, and a round from the menu trains and scores at 64 px
/// RGB.
#[test]
fn a_review_round_in_the_ui_on_the_colour_demo() {
    use common::ui::{app_with, finish_job, key, menu, render, settle, text};
    use ratatui::style::Color;
    use thresh::demo::Kind;
    use thresh::tui::screens::Screen;
    use thresh::tui::thumb::Palette;

    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = common::demo_store_of(tmp.path(), 200, 5, Kind::Shapes);
    let mut app = app_with(store, Palette::TrueColor);
    app.ctx.config.epochs = 1;
    app.ctx.config.seed_set = 60;
    // Menu → draw a seed set; the grid then shows colour thumbnails.
    menu(&mut app, 2);
    settle(&mut app);
    let t = render(&mut app, 200, 60);
    let coloured = t
        .backend()
        .buffer()
        .content()
        .iter()
        .filter(|c| matches!(c.fg, Color::Rgb(r, g, b) if r.abs_diff(g) > 30 || g.abs_diff(b) > 30))
        .count();
    assert!(coloured > 200, "{coloured} colour cells\n{}", text(&t));
    while app.queues.view.pending() > 0 {
        key(&mut app, 'a');
        render(&mut app, 200, 60);
    }
    menu(&mut app, 0);
    assert_eq!(app.screen, Screen::Training);
    let s = text(&render(&mut app, 200, 60));
    assert!(s.contains("store 64 px RGB   augmentation photos"), "{s}");
    finish_job(&mut app, 300);
    assert!(
        app.job().outcome.starts_with("round 1"),
        "{}",
        app.job().outcome
    );
    assert_eq!(app.ctx.store.latest_round().unwrap(), Some(1));
}
