//! Exact nearest neighbours in embedding space, by cosine distance (1 − cos, 0..2).
//!
//! Cosine rather than Euclidean because the pooled features of a ReLU net differ between
//! samples in scale (contrast, size of the object) more than in direction; the direction is
//! what the class is. Exact brute force: a query is one pass over the rows (≈N·d multiply-adds,
//! a few milliseconds at 100k x 256), and every sample's neighbours (for outlier scores,
//! label agreement and the map) come from tiles of a matrix product, on all cores.

use rayon::prelude::*;

/// How many neighbours a round keeps per sample, and the k of the outlier score.
pub const K: usize = 10;

/// Rows of unit length (a zero row stays zero: its distance to everything is 1).
pub struct Index {
    dims: usize,
    rows: Vec<f32>,
}

/// A neighbour: the row's position in the index, and its cosine distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Near {
    pub row: usize,
    pub distance: f32,
}

impl Index {
    /// Index `vectors` (all of one length).
    pub fn new(vectors: &[Vec<f32>]) -> Index {
        let dims = vectors.first().map_or(0, Vec::len);
        let mut rows = Vec::with_capacity(vectors.len() * dims);
        for v in vectors {
            let scale = inverse_norm(v);
            rows.extend((0..dims).map(|i| v.get(i).copied().unwrap_or(0.0) * scale));
        }
        Index { dims, rows }
    }

    pub fn len(&self) -> usize {
        self.rows.len().checked_div(self.dims).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dims..(i + 1) * self.dims]
    }

    /// The `k` rows nearest to row `of` (itself left out), nearest first; ties by position.
    pub fn nearest(&self, of: usize, k: usize) -> Vec<Near> {
        let mut top = Top::new(k);
        let q = self.row(of);
        for j in 0..self.len() {
            if j != of {
                top.offer(j, 1.0 - dot(q, self.row(j)));
            }
        }
        top.into_sorted()
    }

    /// Every row's `k` nearest others, nearest first (what `nearest` gives for each row).
    pub fn all_nearest(&self, k: usize) -> Vec<Vec<Near>> {
        self.nearest_of(0..self.len(), k)
    }

    /// The `k` nearest others of each row in `queries`, in that order. Similarities a tile
    /// at a time as one matrix product (`gemm`, the kernel burn's CPU backend uses: the 10k
    /// map's neighbour stage takes 2.1 s; the dot-product loop before it, 9.6 s beside a
    /// training run), then each query's row of the tile is offered to its top-k; tiles of
    /// queries run in parallel, each product on one thread, so the result does not depend
    /// on the number of threads.
    pub fn nearest_of(&self, queries: std::ops::Range<usize>, k: usize) -> Vec<Vec<Near>> {
        const QUERIES: usize = 128;
        const ROWS: usize = 2048;
        let (n, d) = (self.len(), self.dims);
        let queries = queries.start.min(n)..queries.end.min(n);
        let starts: Vec<usize> = queries.clone().step_by(QUERIES).collect();
        starts
            .par_iter()
            .flat_map_iter(|&start| {
                let end = (start + QUERIES).min(queries.end);
                let m = end - start;
                let mut tops: Vec<Top> = (start..end).map(|_| Top::new(k)).collect();
                let mut tile = vec![0f32; m * ROWS];
                for from in (0..n).step_by(ROWS) {
                    let cols = ROWS.min(n - from);
                    similarities(
                        &self.rows[start * d..end * d],
                        &self.rows[from * d..(from + cols) * d],
                        d,
                        &mut tile[..m * cols],
                    );
                    for (q, t) in tops.iter_mut().enumerate() {
                        let i = start + q;
                        for (c, &sim) in tile[q * cols..(q + 1) * cols].iter().enumerate() {
                            if from + c != i {
                                t.offer(from + c, 1.0 - sim);
                            }
                        }
                    }
                }
                tops.into_iter().map(Top::into_sorted)
            })
            .collect()
    }
}

/// `out[q][c]` = `queries[q] · rows[c]` for row-major `queries` (m × d) and `rows`
/// (cols × d), into row-major `out` (m × cols).
fn similarities(queries: &[f32], rows: &[f32], d: usize, out: &mut [f32]) {
    let (m, cols) = (queries.len() / d.max(1), rows.len() / d.max(1));
    if m == 0 || cols == 0 || d == 0 {
        out.fill(0.0);
        return;
    }
    assert!(out.len() == m * cols && queries.len() == m * d && rows.len() == cols * d);
    // SAFETY: the three buffers are live, distinct and exactly as large as the shapes and
    // strides given describe (checked above): lhs m × d with row stride d, rhs = rowsᵀ
    // (d × cols: column stride d, row stride 1), dst m × cols with row stride cols.
    unsafe {
        gemm::gemm(
            m,
            cols,
            d,
            out.as_mut_ptr(),
            1,
            cols as isize,
            false,
            queries.as_ptr(),
            1,
            d as isize,
            rows.as_ptr(),
            d as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The `k` vectors of `rows` nearest to `query` by cosine distance, nearest first, as
/// (position in `rows`, distance); `skip` (the query's own position, if it is among them)
/// is left out. One pass, holding one row at a time: a query over a store's embeddings
/// needs no index in memory.
pub fn nearest_to<I>(query: &[f32], rows: I, k: usize, skip: Option<usize>) -> Vec<Near>
where
    I: IntoIterator<Item = Vec<f32>>,
{
    let unit = |v: &[f32]| -> Vec<f32> {
        let scale = inverse_norm(v);
        v.iter().map(|x| x * scale).collect()
    };
    let q = unit(query);
    let mut top = Top::new(k);
    for (j, row) in rows.into_iter().enumerate() {
        if Some(j) != skip && row.len() == q.len() {
            top.offer(j, 1.0 - dot(&q, &unit(&row)));
        }
    }
    top.into_sorted()
}

/// 1 / |v|, or 0 for a zero (or non-finite) vector, which then stays zero: its distance to
/// everything is 1.
fn inverse_norm(v: &[f32]) -> f32 {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        1.0 / norm
    } else {
        0.0
    }
}

/// The dot product, eight lanes at a time so it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The k smallest distances seen, kept sorted (k is small: insertion beats a heap).
struct Top {
    k: usize,
    items: Vec<Near>,
}

impl Top {
    fn new(k: usize) -> Top {
        Top {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, row: usize, distance: f32) {
        if self.k == 0 {
            return;
        }
        let distance = if distance.is_finite() { distance } else { 2.0 };
        if self.items.len() == self.k && distance >= self.items[self.k - 1].distance {
            return;
        }
        let at = self.items.partition_point(|n| n.distance <= distance);
        self.items.insert(at, Near { row, distance });
        self.items.truncate(self.k);
    }

    fn into_sorted(self) -> Vec<Near> {
        self.items
    }
}

/// What a sample's neighbourhood says about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbourhood {
    /// The nearest rows, nearest first.
    pub near: Vec<Near>,
    /// Distance to the k-th neighbour: large when nothing looks like the sample.
    pub outlier: f32,
    /// Share of the labelled neighbours that carry the sample's own label (`None` when the
    /// sample or all its neighbours are unlabelled).
    pub agreement: Option<f32>,
}

/// The neighbourhoods of the first `count` rows among all of them, `labels[i]` being row i's
/// label (or none).
pub fn neighbourhoods(
    index: &Index,
    labels: &[Option<usize>],
    count: usize,
    k: usize,
) -> Vec<Neighbourhood> {
    index
        .nearest_of(0..count, k)
        .into_iter()
        .enumerate()
        .map(|(i, near)| {
            let outlier = near.last().map_or(0.0, |n| n.distance);
            let agreement = labels.get(i).copied().flatten().and_then(|own| {
                let labelled: Vec<usize> = near
                    .iter()
                    .filter_map(|n| labels.get(n.row).copied().flatten())
                    .collect();
                (!labelled.is_empty()).then(|| {
                    labelled.iter().filter(|&&l| l == own).count() as f32 / labelled.len() as f32
                })
            });
            Neighbourhood {
                near,
                outlier,
                agreement,
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A seeded stream of numbers in [-0.5, 0.5) (a linear congruential generator: tests
    /// need repeatable noise, not good randomness).
    pub(crate) fn noise(seed: u64) -> impl FnMut() -> f32 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        }
    }

    fn vectors(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut next = noise(seed);
        (0..n).map(|_| (0..d).map(|_| next()).collect()).collect()
    }

    /// The plain definition: every distance in f64, sorted.
    fn brute(v: &[Vec<f32>], of: usize) -> Vec<(f64, usize)> {
        let unit = |x: &Vec<f32>| {
            let n = x.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
            x.iter().map(|a| *a as f64 / n).collect::<Vec<f64>>()
        };
        let q = unit(&v[of]);
        let mut d: Vec<(f64, usize)> = (0..v.len())
            .filter(|&j| j != of)
            .map(|j| {
                let r = unit(&v[j]);
                (1.0 - q.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>(), j)
            })
            .collect();
        d.sort_by(|a, b| a.partial_cmp(b).unwrap());
        d
    }

    /// `got` is the k nearest of `want` (all distances, sorted): the same distances rank by
    /// rank, and each reported row really is at its reported distance. (f32 against f64 may
    /// order two rows at the same distance either way.)
    fn assert_exact(got: &[Near], want: &[(f64, usize)], k: usize) {
        assert_eq!(got.len(), k.min(want.len()));
        let true_distance = |row: usize| want.iter().find(|w| w.1 == row).unwrap().0;
        for (g, w) in got.iter().zip(want) {
            assert!((g.distance as f64 - w.0).abs() < 1e-5, "{g:?} vs {w:?}");
            assert!((g.distance as f64 - true_distance(g.row)).abs() < 1e-5);
        }
    }

    #[test]
    fn exact_search_matches_brute_force() {
        // 37 dims: not a multiple of the eight lanes, so the tail is exercised.
        let v = vectors(300, 37, 3);
        let index = Index::new(&v);
        let all = index.all_nearest(7);
        for (of, found) in all.iter().enumerate() {
            let want = brute(&v, of);
            assert_exact(&index.nearest(of, 7), &want, 7);
            assert_exact(found, &want, 7);
            assert!(found.windows(2).all(|w| w[0].distance <= w[1].distance));
        }
        for (of, found) in (10..20).zip(index.nearest_of(10..20, 7)) {
            assert_exact(&found, &brute(&v, of), 7);
        }
        // Many tiles of queries and rows, with ragged last ones.
        let v = vectors(2300, 20, 5);
        let index = Index::new(&v);
        let all = index.all_nearest(5);
        assert_eq!(all.len(), 2300);
        for of in [0, 127, 128, 2047, 2048, 2299] {
            assert_exact(&all[of], &brute(&v, of), 5);
        }
        // The streaming query agrees with the index.
        for of in [0, 17, 299] {
            let streamed = nearest_to(&v[of], v.iter().cloned(), 7, Some(of));
            assert_exact(&streamed, &brute(&v, of), 7);
        }
        // Fewer rows than k: all of them.
        assert_eq!(Index::new(&v[..3]).nearest(0, 7).len(), 2);
    }

    #[test]
    fn outliers_and_agreement_follow_the_clusters() {
        // Two tight clusters along different axes, one sample of cluster A labelled as B,
        // and one point far from both.
        let mut v = Vec::new();
        let mut labels = Vec::new();
        for (i, noise) in vectors(40, 8, 9).into_iter().enumerate() {
            let axis = if i < 20 { 0 } else { 1 };
            let mut x: Vec<f32> = noise.iter().map(|n| n * 0.1).collect();
            x[axis] += 1.0;
            v.push(x);
            labels.push(Some(axis));
        }
        labels[3] = Some(1);
        let mut far = vec![0.0; 8];
        far[5] = 1.0;
        v.push(far);
        labels.push(None);
        let hoods = neighbourhoods(&Index::new(&v), &labels, v.len(), 5);
        assert_eq!(hoods.len(), 41);
        assert!(
            hoods[3].agreement.unwrap() < 0.3,
            "{:?}",
            hoods[3].agreement
        );
        assert!(hoods[0].agreement.unwrap() > 0.7);
        assert_eq!(hoods[40].agreement, None, "unlabelled");
        let worst = hoods
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.outlier.total_cmp(&b.1.outlier))
            .unwrap()
            .0;
        assert_eq!(worst, 40, "the far point is the outlier");
    }
}
