//! Real pixels in the grid and on the Sample screen where the terminal has a graphics
//! protocol (kitty, sixel, iTerm2 — `ratatui-image` asks the terminal which, and wraps the
//! escapes for tmux), half blocks ([`super::thumb`]) where it has none.
//!
//! Encoding an image for a protocol costs milliseconds (a PNG in base64 for kitty, a
//! palette for sixel): too much for a frame that shows sixty. So the UI thread never
//! encodes: it asks for an image once, draws the half-block thumbnail meanwhile, and an
//! encoder thread sends the result back. Encoded images are kept in an LRU of bounded
//! size, so paging back and forth costs nothing and a million-sample store costs no more
//! memory than a few pages.

use crate::store::{Id, Meta};
use image::DynamicImage;
use lru::LruCache;
use ratatui::layout::Rect;
use ratatui::Frame;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::Protocol;
use ratatui_image::{FilterType, Image, Resize};
use std::cell::RefCell;
use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::mpsc::{channel, Receiver, Sender};

/// How the UI draws thumbnails (`--thumbs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ThumbMode {
    /// The terminal's graphics protocol when it answers the query, else half blocks.
    #[default]
    Auto,
    /// Half blocks always (two pixels per cell, any terminal).
    Halfblocks,
}

/// Encoded images kept: a few grid pages and previews (a kitty thumbnail is ≈0.1 MB).
const KEPT: usize = 256;

/// A sample's image at a size in cells.
type Key = (Id, u16, u16);

struct Request {
    key: Key,
    image: DynamicImage,
}

struct State {
    cache: LruCache<Key, Protocol>,
    /// Asked for, not yet back.
    pending: HashSet<Key>,
    /// Encodings that failed: asked for once, then drawn in half blocks.
    failed: HashSet<Key>,
}

/// The graphics-protocol side of the UI: the picker's protocol, the encoder thread and the
/// cache. `None` in the UI's context means half blocks.
pub struct Graphics {
    protocol: ProtocolType,
    requests: Sender<Request>,
    results: Receiver<(Key, Option<Protocol>)>,
    state: RefCell<State>,
}

impl Graphics {
    /// Ask the terminal (call in the alternate screen, before reading events). `None` when
    /// `mode` says half blocks, the terminal has no graphics protocol — or inside tmux: there
    /// the query is not answered in time, and `ratatui-image` leaves its reader thread
    /// waiting on stdin, where it eats the user's first key.
    pub fn detect(mode: ThumbMode) -> Option<Graphics> {
        if mode == ThumbMode::Halfblocks || std::env::var_os("TMUX").is_some() {
            return None;
        }
        let picker = Picker::from_query_stdio().ok()?;
        (picker.protocol_type() != ProtocolType::Halfblocks).then(|| Graphics::new(picker))
    }

    /// Encode with `picker` (a test sets its protocol by hand) on a thread of its own.
    pub fn new(picker: Picker) -> Graphics {
        let protocol = picker.protocol_type();
        let (requests, inbox) = channel::<Request>();
        let (outbox, results) = channel();
        std::thread::Builder::new()
            .name("thresh-thumbs".into())
            .spawn(move || {
                // Ends when the UI drops its sender.
                for Request { key, image } in inbox {
                    let (_, cols, rows) = key;
                    let area = Rect::new(0, 0, cols, rows);
                    // Nearest: the pixels the model sees, not a blur of them.
                    let encoded = picker
                        .new_protocol(image, area, Resize::Scale(Some(FilterType::Nearest)))
                        .ok();
                    if outbox.send((key, encoded)).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the thumbnail encoder");
        Graphics {
            protocol,
            requests,
            results,
            state: RefCell::new(State {
                cache: LruCache::new(NonZeroUsize::new(KEPT).expect("non-zero")),
                pending: HashSet::new(),
                failed: HashSet::new(),
            }),
        }
    }

    /// The protocol's name, for the header.
    pub fn name(&self) -> &'static str {
        match self.protocol {
            ProtocolType::Kitty => "kitty",
            ProtocolType::Sixel => "sixel",
            ProtocolType::Iterm2 => "iTerm2",
            ProtocolType::Halfblocks => "half blocks",
        }
    }

    /// Draw sample `id` (`pixels` in the store's shape) into `area` if it is encoded for that
    /// size, and return whether it was; otherwise ask the encoder for it (once) and return
    /// false — the caller draws half blocks until it arrives.
    pub fn draw(&self, f: &mut Frame, area: Rect, id: Id, pixels: &[u8], meta: &Meta) -> bool {
        let key = (id, area.width, area.height);
        let mut state = self.state.borrow_mut();
        if let Some(protocol) = state.cache.get(&key) {
            f.render_widget(Image::new(protocol), area);
            return true;
        }
        if state.pending.contains(&key) || state.failed.contains(&key) {
            return false;
        }
        let Some(image) = to_image(pixels, meta) else {
            state.failed.insert(key);
            return false;
        };
        if self.requests.send(Request { key, image }).is_ok() {
            state.pending.insert(key);
        }
        false
    }

    /// Take what the encoder finished; true when something new can be drawn.
    pub fn receive(&self) -> bool {
        let mut state = self.state.borrow_mut();
        let mut any = false;
        while let Ok((key, encoded)) = self.results.try_recv() {
            state.pending.remove(&key);
            match encoded {
                Some(p) => {
                    state.cache.put(key, p);
                    any = true;
                }
                None => {
                    state.failed.insert(key);
                }
            }
        }
        any
    }

    /// Whether images are still being encoded (the event loop then wakes sooner).
    pub fn busy(&self) -> bool {
        !self.state.borrow().pending.is_empty()
    }

    /// Encoded images in the cache (at most `KEPT`).
    pub fn cached(&self) -> usize {
        self.state.borrow().cache.len()
    }
}

/// The stored pixels as an image of the store's shape.
fn to_image(pixels: &[u8], meta: &Meta) -> Option<DynamicImage> {
    let side = meta.size;
    if meta.channels == 3 {
        image::RgbImage::from_raw(side, side, pixels.to_vec()).map(DynamicImage::from)
    } else {
        image::GrayImage::from_raw(side, side, pixels.to_vec()).map(DynamicImage::from)
    }
}
