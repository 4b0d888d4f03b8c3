//! Thumbnails in terminal cells with half blocks: one cell shows two pixels stacked, `▀` in
//! the upper pixel's colour on the lower pixel's colour. Works over SSH and inside tmux.
//! Gray ramp (256-colour palette) by default, true colour when the terminal says so.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;

use crate::store::Id;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Palette {
    /// `Color::Indexed(232..=255)` for gray, the 6x6x6 cube for colour.
    Ansi256,
    TrueColor,
}

impl Palette {
    /// From `COLORTERM` (truecolor/24bit) as terminals announce it.
    pub fn detect() -> Palette {
        match std::env::var("COLORTERM").as_deref() {
            Ok("truecolor" | "24bit") => Palette::TrueColor,
            _ => Palette::Ansi256,
        }
    }

    pub fn color(self, r: u8, g: u8, b: u8) -> Color {
        match self {
            Palette::TrueColor => Color::Rgb(r, g, b),
            Palette::Ansi256 if r == g && g == b => gray_index(r),
            Palette::Ansi256 => {
                let q = |v: u8| (v as u16 * 5 / 255) as u8;
                Color::Indexed(16 + 36 * q(r) + 6 * q(g) + q(b))
            }
        }
    }
}

/// Nearest of the 24 grays 232..=255 (8, 18, ..., 238), black and white included via 16/231.
pub fn gray_index(v: u8) -> Color {
    if v < 4 {
        return Color::Indexed(16);
    }
    if v > 246 {
        return Color::Indexed(231);
    }
    let i = ((v as i32 - 8).max(0) * 23 + 115) / 230;
    Color::Indexed(232 + i.min(23) as u8)
}

/// A thumbnail ready to draw: `cols` x `rows` cells of (upper, lower) colours.
#[derive(Clone, Debug, PartialEq)]
pub struct Thumb {
    pub cols: u16,
    pub rows: u16,
    pub cells: Vec<(Color, Color)>,
}

/// Downsample (box filter) `px` (`side`², `channels` 1 or 3) to `cols` x `2*rows` pixels.
pub fn render(
    px: &[u8],
    side: usize,
    channels: usize,
    cols: u16,
    rows: u16,
    pal: Palette,
) -> Thumb {
    let (w, h) = (cols.max(1) as usize, rows.max(1) as usize * 2);
    let sample = |x: usize, y: usize| -> (u8, u8, u8) {
        let (x0, x1) = (x * side / w, ((x + 1) * side / w).max(x * side / w + 1));
        let (y0, y1) = (y * side / h, ((y + 1) * side / h).max(y * side / h + 1));
        let mut acc = [0u32; 3];
        let mut n = 0u32;
        for yy in y0..y1.min(side) {
            for xx in x0..x1.min(side) {
                let o = (yy * side + xx) * channels;
                for (c, a) in acc.iter_mut().enumerate() {
                    *a += px.get(o + c.min(channels - 1)).copied().unwrap_or(0) as u32;
                }
                n += 1;
            }
        }
        let n = n.max(1);
        ((acc[0] / n) as u8, (acc[1] / n) as u8, (acc[2] / n) as u8)
    };
    let mut cells = Vec::with_capacity(w * h / 2);
    for row in 0..h / 2 {
        for x in 0..w {
            let (r, g, b) = sample(x, row * 2);
            let (r2, g2, b2) = sample(x, row * 2 + 1);
            cells.push((pal.color(r, g, b), pal.color(r2, g2, b2)));
        }
    }
    Thumb {
        cols: w as u16,
        rows: (h / 2) as u16,
        cells,
    }
}

impl Thumb {
    /// Draw at the top-left of `area`, clipped to it.
    pub fn draw(&self, area: Rect, buf: &mut Buffer) {
        for row in 0..self.rows.min(area.height) {
            for col in 0..self.cols.min(area.width) {
                let (fg, bg) = self.cells[(row * self.cols + col) as usize];
                if let Some(cell) = buf.cell_mut((area.x + col, area.y + row)) {
                    cell.set_symbol("▀").set_fg(fg).set_bg(bg);
                }
            }
        }
    }
}

/// Thumbnails kept: several thousand grid cells (a 16x8 thumbnail is ≈3 KB).
const KEPT: usize = 4096;

/// Rendered thumbnails per (sample, size), the least recently drawn dropped first: a grid
/// redraw costs a copy, not a resample, and a long scroll through 100k samples costs no
/// more memory than a few pages.
pub struct Cache {
    map: lru::LruCache<(Id, u16, u16), Thumb>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            map: lru::LruCache::new(std::num::NonZeroUsize::new(KEPT).expect("non-zero")),
        }
    }
}

impl Cache {
    pub fn get_or(&mut self, id: Id, cols: u16, rows: u16, make: impl FnOnce() -> Thumb) -> &Thumb {
        self.map.get_or_insert((id, cols, rows), make)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_white_stroke_on_black_keeps_its_place_and_colours() {
        // 4x4 image: left column white.
        let mut px = vec![0u8; 16];
        for y in 0..4 {
            px[y * 4] = 255;
        }
        let t = render(&px, 4, 1, 4, 2, Palette::TrueColor);
        assert_eq!((t.cols, t.rows), (4, 2));
        assert_eq!(
            t.cells[0],
            (Color::Rgb(255, 255, 255), Color::Rgb(255, 255, 255))
        );
        assert_eq!(t.cells[1], (Color::Rgb(0, 0, 0), Color::Rgb(0, 0, 0)));
        let g = render(&px, 4, 1, 2, 1, Palette::Ansi256);
        assert_eq!(g.cells[0].0, gray_index(127));
        assert_eq!(gray_index(0), Color::Indexed(16));
        assert_eq!(gray_index(255), Color::Indexed(231));
        let mut buf = Buffer::empty(Rect::new(0, 0, 4, 2));
        t.draw(Rect::new(0, 0, 4, 2), &mut buf);
        assert_eq!(buf[(0, 0)].symbol(), "▀");
        assert_eq!(buf[(0, 0)].fg, Color::Rgb(255, 255, 255));
    }
}
