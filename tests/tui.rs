//! The review UI on ratatui's TestBackend: the queue grid shows real thumbnails and labels,
//! key sequences decide and undo through the store, the layout survives 80x24, the help
//! overlay opens, and a training round started from the menu streams progress while keys
//! keep working.

mod common;

use common::demo_store;
use common::ui::{app, code, finish_job, key, menu, render, settle, text};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use std::time::{Duration, Instant};
use thresh::pipeline::queues::{Queue, CERTIFY};
use thresh::pipeline::rounds;
use thresh::store::{QueueName, State};
use thresh::train::backend::Compute;
use thresh::tui::app::{App, AppEvent};
use thresh::tui::component::Keys;
use thresh::tui::keymap::Action;
use thresh::tui::keymap::Keymap;
use thresh::tui::screens::{Screen, SCREENS};
use thresh::tui::thumb;
use thresh::tui::thumb::Palette;

#[test]
fn the_grid_shows_thumbnails_and_labels_of_the_certify_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 200);
    let seed = rounds::seed_set(&store, 30, 1).unwrap();
    let first = store.sample(&seed.ids[0]).unwrap().unwrap();
    let px = store.pixels(&first.id).unwrap().unwrap();
    let mut app = app(store);
    assert_eq!(app.queues.view.name(), CERTIFY);
    let t = render(&mut app, 200, 60);
    let screen = text(&t);
    assert!(screen.contains("queue: certify"), "{screen}");
    assert!(screen.contains(first.label.as_deref().unwrap()));
    // The first cell's thumbnail is the first sample at half resolution, gray ramp.
    let want = thumb::render(&px, 32, 1, 16, 8, Palette::Ansi256);
    let buf = t.backend().buffer();
    let (x0, y0) = (1, 3); // one cell in, below the header, tabs and queue title
    for row in 0..8u16 {
        for col in 0..16u16 {
            let cell = &buf[(x0 + col, y0 + row)];
            let (fg, bg) = want.cells[(row * 16 + col) as usize];
            assert_eq!(cell.symbol(), "▀");
            assert_eq!((cell.fg, cell.bg), (fg, bg), "cell {col},{row}");
        }
    }
    // A numeral has ink: the thumbnail is not one flat colour.
    let distinct: std::collections::HashSet<Color> = want.cells.iter().map(|c| c.0).collect();
    assert!(distinct.len() > 2);
}

/// Where the terminal has a graphics protocol (kitty here, set by hand: the TestBackend
/// cannot answer the query), the grid asks the encoder thread for every whole thumbnail on
/// the page and draws half blocks until they are back; then each is the kitty image —
/// transmitted once, its placeholders drawn on the frames after —, and the Sample screen's
/// preview too.
#[test]
fn thumbnails_use_the_graphics_protocol_once_encoded_off_the_ui_thread() {
    use ratatui_image::picker::{Picker, ProtocolType};
    use thresh::tui::graphics::Graphics;
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 200);
    rounds::seed_set(&store, 60, 1).unwrap();
    let mut app = app(store);
    let mut picker = Picker::halfblocks();
    picker.set_protocol_type(ProtocolType::Kitty);
    app.ctx.graphics = Some(Graphics::new(picker));
    let count = |t: &ratatui::Terminal<ratatui::backend::TestBackend>, what: &str| {
        let buf = t.backend().buffer();
        buf.content()
            .iter()
            .filter(|c| c.symbol().contains(what))
            .count()
    };
    const TRANSMIT: &str = "a=T,U=1";
    const PLACEHOLDER: &str = "\u{10EEEE}";

    let first = render(&mut app, 200, 60);
    let half_blocks = count(&first, "▀");
    let thumbnails = half_blocks / (16 * 8);
    assert!(thumbnails >= 20, "{half_blocks} half-block cells");
    assert_eq!(
        count(&first, TRANSMIT),
        0,
        "nothing is encoded on the UI thread"
    );
    let g = app.ctx.graphics.as_ref().unwrap();
    wait_encoded(g);
    assert_eq!(g.cached(), thumbnails);

    let second = render(&mut app, 200, 60);
    assert_eq!(
        count(&second, TRANSMIT),
        thumbnails,
        "each thumbnail sent once"
    );
    assert_eq!(count(&second, "▀"), 0, "no half blocks left on the page");
    let third = render(&mut app, 200, 60);
    assert_eq!(count(&third, TRANSMIT), 0, "not sent again");
    assert!(
        count(&third, PLACEHOLDER) >= thumbnails * 8,
        "one placeholder row per cell row"
    );

    // The Sample screen's preview: half blocks first, the kitty image once encoded.
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Sample);
    let before = render(&mut app, 200, 60);
    assert!(count(&before, "▀") > 0);
    wait_encoded(app.ctx.graphics.as_ref().unwrap());
    let after = render(&mut app, 200, 60);
    assert_eq!(count(&after, TRANSMIT), 1, "the preview");
}

/// Take the encoder's results until it has none pending; fails after 30 s.
fn wait_encoded(g: &thresh::tui::graphics::Graphics) {
    let started = Instant::now();
    while {
        g.receive();
        g.busy()
    } {
        assert!(started.elapsed() < Duration::from_secs(30), "encoder stuck");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn keys_accept_a_page_with_exceptions_relabel_and_undo() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 200);
    rounds::seed_set(&store, 12, 1).unwrap();
    let mut app = app(store);
    render(&mut app, 200, 60); // lays out the page: 11 columns x 5 rows
    let q: Queue = app.ctx.store.queue(CERTIFY).unwrap().unwrap();
    // Mark the first as an exception, accept the page.
    key(&mut app, ' ');
    key(&mut app, 'a');
    assert!(app.ctx.status.contains("saved"), "{}", app.ctx.status);
    let st = |app: &App, i: usize| app.ctx.store.sample(&q.ids[i]).unwrap().unwrap();
    assert_eq!(st(&app, 0).state, State::Unreviewed);
    for i in 1..12 {
        assert_eq!(st(&app, i).state, State::Certified);
    }
    // The header's counts follow the decision without a scan, and agree with one.
    let counted = |app: &App| {
        app.ctx
            .counts
            .as_ref()
            .expect("counted at start")
            .certified()
    };
    assert_eq!(counted(&app), 11);
    assert_eq!(
        *app.ctx.counts.as_ref().unwrap(),
        thresh::pipeline::counts::Counts::scan(&app.ctx.store).unwrap()
    );
    // Undo the page, then relabel the first with digit 3 (third class, III).
    key(&mut app, 'u');
    assert_eq!(st(&app, 5).state, State::Unreviewed);
    assert_eq!(counted(&app), 0);
    app.queues.view.cursor = 0;
    key(&mut app, '3');
    assert_eq!(st(&app, 0).label.as_deref(), Some("III"));
    assert!(matches!(
        st(&app, 0).state,
        State::Relabeled | State::Certified
    ));
    // Reject the next (cursor moved on), picker-relabel the third.
    key(&mut app, 'x');
    assert_eq!(st(&app, 1).state, State::Rejected);
    key(&mut app, 'p');
    code(&mut app, KeyCode::Down);
    code(&mut app, KeyCode::Enter);
    assert_eq!(st(&app, 2).label.as_deref(), Some("II"));
    // Deciding twice is refused on screen, the store unchanged.
    app.queues.view.cursor = 1;
    key(&mut app, 'x');
    assert!(
        app.ctx.status.contains("already rejected"),
        "{}",
        app.ctx.status
    );
    // Undo walks back: picker relabel, reject, digit relabel.
    for _ in 0..3 {
        key(&mut app, 'u');
    }
    for i in 0..3 {
        assert_eq!(st(&app, i).state, State::Unreviewed);
    }
}

#[test]
fn small_terminal_help_overlay_and_screens() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 120);
    rounds::seed_set(&store, 10, 1).unwrap();
    let mut app = app(store);
    // The start-up count does not hide the compute notice.
    assert!(
        app.ctx.status.starts_with("training on"),
        "{}",
        app.ctx.status
    );
    let t = render(&mut app, 80, 24);
    let s = text(&t);
    assert!(s.contains("thresh"), "{s}");
    assert!(s.contains("accept"), "footer: {s}");
    key(&mut app, '?');
    let s = text(&render(&mut app, 80, 24));
    assert!(s.contains("Keys (any key closes)"), "{s}");
    key(&mut app, 'q'); // closes the overlay, does not quit
    assert!(!app.quit);
    // Each tab shows its own screen: the tab bar names them all, so look for what only
    // that screen draws.
    for (screen, only_there) in [
        (Screen::Sample, "history"),
        (Screen::Training, "no job yet"),
        (Screen::Data, "class balance"),
        (Screen::Rounds, "Rounds (Table 1)"),
        (Screen::Versions, "Versions (Table 2)"),
        (Screen::Map, "Map —"),
        (Screen::Queues, "queue: certify"),
    ] {
        code(&mut app, KeyCode::Tab);
        assert_eq!(app.screen, screen);
        for (w, h) in [(80, 24), (200, 60)] {
            let s = text(&render(&mut app, w, h));
            assert!(s.contains(only_there), "{screen:?} at {w}x{h}: {s}");
        }
    }
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Sample);
    let s = text(&render(&mut app, 120, 40));
    assert!(s.contains("augmentations") && s.contains("history"), "{s}");
    key(&mut app, 'q');
    assert!(app.quit);
}

#[test]
fn pruning_from_the_menu_freezes_a_smaller_version_beside_the_full_one() {
    use thresh::pipeline::versions;
    use thresh::store::Split;
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 200);
    let mut app = app(store);
    app.ctx.config.prune_epochs = 1;
    app.ctx.config.prune_inits = 1;
    menu(&mut app, 5); // split
    settle(&mut app);
    // The share to keep, offered at the default; enter prunes on the compute worker.
    menu(&mut app, 12);
    let s = text(&render(&mut app, 120, 40));
    assert!(s.contains("Share to keep") && s.contains("0.65"), "{s}");
    code(&mut app, KeyCode::Enter);
    assert!(app.job().running, "{}", app.ctx.status);
    finish_job(&mut app, 120);
    assert!(
        app.ctx.status.starts_with("version pruned:"),
        "{}",
        app.ctx.status
    );
    assert_eq!(app.screen, Screen::Versions);
    let s = text(&render(&mut app, 120, 40));
    assert!(s.contains("versions: pruned, pruned-full"), "{s}");
    assert!(
        s.contains("pruned: el2n, 65% of each class of pruned-full"),
        "{s}"
    );
    let store = &app.ctx.store;
    let (full, pruned) = (
        versions::get(store, "pruned-full").unwrap(),
        versions::get(store, "pruned").unwrap(),
    );
    let count = |v: &versions::Version, test: bool| {
        v.entries
            .iter()
            .filter(|e| (e.split == Some(Split::Test)) == test)
            .count()
    };
    assert_eq!(count(&pruned, true), count(&full, true));
    let (outside, kept) = (count(&full, false), count(&pruned, false));
    assert!(
        kept < outside && (kept as f64 - 0.65 * outside as f64).abs() <= 5.0,
        "{kept} of {outside}"
    );
    // Pruning again names the next version, the full data's version is reused.
    menu(&mut app, 12);
    code(&mut app, KeyCode::Enter);
    finish_job(&mut app, 120);
    assert!(
        app.ctx.status.starts_with("version pruned-2:")
            && app.ctx.status.contains("full data: pruned-full"),
        "{}",
        app.ctx.status
    );
}

#[test]
fn a_round_from_the_menu_streams_progress_while_keys_work() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 200);
    let mut app = app(store);
    app.ctx.config.epochs = 2;
    app.ctx.config.seed_set = 60;
    // Menu → draw a seed set, accept it; menu → train a round.
    menu(&mut app, 2);
    settle(&mut app);
    assert!(app.ctx.status.contains("to certify"), "{}", app.ctx.status);
    render(&mut app, 200, 60);
    while app.queues.view.pending() > 0 {
        key(&mut app, 'a');
        render(&mut app, 200, 60);
    }
    menu(&mut app, 0);
    assert!(app.job().running, "{}", app.ctx.status);
    assert_eq!(app.screen, Screen::Training);
    let started = Instant::now();
    let mut saw_progress = false;
    while app.job().running && started.elapsed() < Duration::from_secs(120) {
        if let Some(e) = app.wait_job(Duration::from_millis(50)) {
            app.handle(AppEvent::Job(e));
        }
        // Keys keep working while the job runs.
        code(&mut app, KeyCode::Tab);
        code(&mut app, KeyCode::BackTab);
        let s = text(&render(&mut app, 120, 40));
        saw_progress |= s.contains("epoch 1/2") || s.contains("epoch 2/2");
    }
    assert!(!app.job().running, "the round did not finish");
    assert!(saw_progress, "no progress was drawn");
    assert!(
        app.job().outcome.starts_with("round 1"),
        "{}",
        app.job().outcome
    );
    assert!(app.ctx.store.latest_round().unwrap() == Some(1));
    code(&mut app, KeyCode::Tab); // Data
    code(&mut app, KeyCode::Tab); // Rounds
    let s = text(&render(&mut app, 120, 40));
    assert!(s.contains("Table 1"), "{s}");

    // Decide both queues from the keyboard: the decision that finishes them closes the
    // round, and its validated share is counted on the store worker, not the UI thread.
    code(&mut app, KeyCode::Esc);

    // The pseudo-label threshold from the menu: a bad value is refused in the status line;
    // a good one is kept for later rounds and re-ranks the queues on the store worker.
    let threshold = |app: &mut App, value: &str| {
        menu(app, 11);
        for _ in 0..8 {
            code(app, KeyCode::Backspace);
        }
        for c in value.chars() {
            key(app, c);
        }
        code(app, KeyCode::Enter);
    };
    threshold(&mut app, "1.5");
    assert!(app.ctx.status.contains("(0, 1]"), "{}", app.ctx.status);
    assert!(app.ctx.store_tasks.is_empty());
    threshold(&mut app, "0.5");
    assert_eq!(app.ctx.config.pseudo, 0.5);
    assert_eq!(app.ctx.store_tasks, ["ranking"]);
    settle(&mut app);
    assert!(app.ctx.status.contains("p ≥ 0.5"), "{}", app.ctx.status);

    // `n` on a sample queues its look-alikes (found on the store worker); the Sample screen
    // says why a sample stands out: its top classes and its neighbours' labels.
    while app.queues.view.name() != QueueName::Review {
        key(&mut app, ']');
    }
    render(&mut app, 200, 60);
    let of = app.queues.current().expect("a sample to review").sample.id;
    key(&mut app, 'n');
    assert_eq!(app.ctx.store_tasks, ["finding similar samples"]);
    settle(&mut app);
    assert_eq!(
        app.queues.view.name(),
        QueueName::Similar,
        "{}",
        app.ctx.status
    );
    assert!(
        app.ctx.status.contains("samples like"),
        "{}",
        app.ctx.status
    );
    let similar: Vec<_> = app.queues.view.items.iter().map(|i| i.sample.id).collect();
    assert_eq!(similar.len(), 1 + thresh::feature::similar::DEFAULT_K);
    assert_eq!(similar[0], of);
    code(&mut app, KeyCode::Enter);
    let s = text(&render(&mut app, 200, 60));
    assert!(s.contains("neighbours agree with its label"), "{s}");
    assert!(s.contains("top "), "{s}");

    // The Map screen: laid out on the store worker when first shown, drawn in braille. A
    // rectangle from corner to corner selects every point; one key relabels the selection
    // (the unreviewed samples in it) as one decision, and one undo takes it all back.
    while app.screen != Screen::Map {
        code(&mut app, KeyCode::Tab);
    }
    assert_eq!(app.ctx.store_tasks, ["the map"]);
    settle(&mut app);
    let points = app.map.map().expect("the map arrived").points.len();
    assert_eq!(points, app.ctx.store.embeddings(1).unwrap().len());
    let s = text(&render(&mut app, 200, 60));
    assert!(s.contains("Map of round 1"), "{s}");
    assert!(
        s.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
        "{s}"
    );
    for _ in 0..40 {
        code(&mut app, KeyCode::Left);
        code(&mut app, KeyCode::Down);
    }
    key(&mut app, ' ');
    for _ in 0..80 {
        code(&mut app, KeyCode::Right);
        code(&mut app, KeyCode::Up);
    }
    key(&mut app, ' ');
    assert_eq!(app.map.selection().len(), points, "{}", app.ctx.status);
    let unreviewed = |app: &App| {
        app.ctx
            .store
            .samples()
            .map(|s| s.unwrap())
            .filter(|s| s.state == State::Unreviewed && s.dup.is_none())
            .map(|s| (s.id, s.label))
            .collect::<Vec<_>>()
    };
    let before = unreviewed(&app);
    let third = app.ctx.store.meta().classes[2].clone();
    key(&mut app, '3');
    assert!(app.ctx.status.contains("saved"), "{}", app.ctx.status);
    // Deciding every queued sample closed the round: its count runs on the store worker.
    settle(&mut app);
    // Every unreviewed sample was scored, so embedded, so selected: all now carry the
    // third class, decided by a person.
    for (id, _) in &before {
        let s = app.ctx.store.sample(id).unwrap().unwrap();
        assert_eq!(s.label.as_deref(), Some(third.as_str()));
        assert_ne!(s.state, State::Unreviewed);
    }
    key(&mut app, 'u');
    settle(&mut app);
    assert_eq!(
        unreviewed(&app),
        before,
        "one undo takes the whole selection back"
    );
    // `enter` with no selection opens the sample nearest the cursor.
    // (A rectangle of no area, away from the corners, selects nothing.)
    for _ in 0..31 {
        code(&mut app, KeyCode::Left);
    }
    for _ in 0..15 {
        code(&mut app, KeyCode::Down);
    }
    key(&mut app, ' ');
    key(&mut app, ' ');
    assert!(app.map.selection().is_empty(), "{}", app.ctx.status);
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Sample);
    assert_eq!(app.queues.view.name(), QueueName::Selection);
    assert_eq!(app.queues.view.items.len(), 1);
    code(&mut app, KeyCode::Esc);
    for (queue, k) in [(QueueName::Accept, 'a'), (QueueName::Review, 'x')] {
        while app.queues.view.name() != queue {
            key(&mut app, ']');
        }
        for _ in 0..500 {
            if app.queues.view.pending() == 0 {
                break;
            }
            render(&mut app, 200, 60);
            key(&mut app, k);
        }
        assert_eq!(app.queues.view.pending(), 0, "{queue}: {}", app.ctx.status);
    }
    assert_eq!(app.ctx.store_tasks, ["closing the round"]);
    settle(&mut app);
    assert!(
        app.ctx.status.contains("round 1 closed"),
        "{}",
        app.ctx.status
    );
    let closed = rounds::table(&app.ctx.store).unwrap()[0].validated_ratio;
    assert!(closed.is_some_and(|v| v > 0.0), "{closed:?}");
    assert_eq!(app.ctx.rounds_table[0].validated_ratio, closed);

    // The GAN from the menu (a few iterations), then samples to approve.
    app.ctx.config.gan_iters = 4;
    menu(&mut app, 7);
    assert!(app.job().running, "{}", app.ctx.status);
    finish_job(&mut app, 120);
    assert!(
        app.job().outcome.starts_with("GAN trained"),
        "{}",
        app.job().outcome
    );
    let s = text(&render(&mut app, 120, 40));
    assert!(s.contains("fresh samples per class"), "{s}");
    menu(&mut app, 8);
    settle(&mut app);
    assert_eq!(
        app.queues.view.name(),
        thresh::store::QueueName::Synthetic,
        "{}",
        app.ctx.status
    );
    render(&mut app, 200, 60);
    key(&mut app, ' '); // leave the first out
    key(&mut app, 'a');
    assert!(app.ctx.status.contains("accepted"), "{}", app.ctx.status);
    let approved = app
        .ctx
        .store
        .samples()
        .map(|s| s.unwrap())
        .filter(|s| s.origin == thresh::store::Origin::Synthetic && s.state == State::Certified)
        .count();
    assert!(approved > 10, "{approved}");
}

/// The footer and the help come from the screens' hints and the keymap: rebinding a key
/// changes what they show, and every action a screen lists is one it answers.
#[test]
fn footer_and_help_follow_the_keymap_and_screens_answer_what_they_list() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = demo_store(tmp.path(), 200);
    rounds::seed_set(&store, 30, 1).unwrap();
    let keymap_file = tmp.path().join("keymap");
    // `a` now switches grid/list; `y` accepts.
    std::fs::write(&keymap_file, "a = view\ny = accept\n").unwrap();
    let keymap = Keymap::load(Some(&keymap_file)).unwrap();
    let mut app = App::new(store, keymap, Compute::cpu(), Palette::Ansi256).unwrap();
    settle(&mut app);
    let s = text(&render(&mut app, 200, 60));
    let footer = s.lines().last().unwrap();
    assert!(footer.starts_with("y accept"), "{footer}");
    assert!(
        footer.contains("a view") && footer.contains("1-0 relabel"),
        "{footer}"
    );
    // The help lists every key of an action.
    key(&mut app, '?');
    let s = text(&render(&mut app, 200, 60));
    let line = |what: &str| {
        s.lines()
            .find(|l| l.contains(what))
            .unwrap_or("")
            .to_string()
    };
    assert!(line("accept the page").contains(" y "), "{s}");
    assert!(line("grid / list").contains("a/v"), "{s}");
    assert!(
        s.contains("Queues screen") && s.contains("Everywhere"),
        "{s}"
    );
    key(&mut app, ' ');
    assert!(app.popup.is_none());
    // The rebound key works: y accepts the page.
    key(&mut app, 'y');
    assert!(app.ctx.status.contains("accepted"), "{}", app.ctx.status);

    // Every screen answers each action its hints name (a digit for relabel).
    for screen in SCREENS {
        app.screen = screen;
        let hints = app.active().hints();
        for h in hints {
            let Keys::Bound(actions) = h.keys else {
                continue;
            };
            for &action in actions {
                let k = KeyEvent::new(
                    if action == Action::Relabel {
                        KeyCode::Char('2')
                    } else {
                        KeyCode::Null
                    },
                    KeyModifiers::NONE,
                );
                let (component, ctx, msgs) = app.parts();
                let answered = component.on_action(action, &k, ctx, msgs);
                assert!(
                    matches!(answered, Ok(true) | Err(_)),
                    "{screen:?} lists {action:?} but does not answer it"
                );
                msgs.clear();
                app.popup = None;
                app.screen = screen;
            }
        }
    }
    // Ctrl-C quits from a popup too.
    key(&mut app, 'm');
    assert!(app.popup.is_some());
    app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert!(app.quit);
}
