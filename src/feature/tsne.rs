//! A 2-D map of the embeddings by Barnes-Hut t-SNE (van der Maaten 2014), written here
//! rather than taken from a crate so it reports progress, stops on cancel, and gives the same
//! picture for the same input on any number of threads.
//!
//! - Input affinities from each point's `3·perplexity` nearest neighbours (exact, cosine:
//!   `knn`), a Gaussian whose width is found per point by bisection to the perplexity, then
//!   symmetrised — a sparse P with about 2·3·perplexity entries a row.
//! - Initialised from the two principal components (scaled to a standard deviation of 1e-4,
//!   Kobak & Berens 2019): no random start, and the global layout of PCA survives.
//! - Gradient descent with early exaggeration (12 for the first quarter), momentum 0.5 then
//!   0.8, per-coordinate gains, learning rate n/12 (Belkina et al. 2019; at least 50).
//! - Repulsion through a quadtree with θ = 0.5: O(n log n) per iteration. Every point's
//!   forces are computed independently (rayon) and the normaliser is summed in index order,
//!   so results do not depend on thread scheduling.

use super::embed;
use super::knn;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Debug)]
pub struct Params {
    pub perplexity: f32,
    pub iterations: usize,
    /// Barnes-Hut accuracy: a cell of side s at distance d stands for its points when
    /// s/d < θ (0 = exact).
    pub theta: f32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            perplexity: 30.0,
            iterations: 750,
            theta: 0.5,
        }
    }
}

/// Why a projection stopped early.
#[derive(Debug, PartialEq, Eq)]
pub struct Cancelled;

/// Sparse symmetric input affinities: row i's columns and values.
struct Affinities {
    start: Vec<usize>,
    col: Vec<u32>,
    val: Vec<f32>,
}

/// The 2-D t-SNE map of `vectors` (all of one length), one point per vector. `progress` is
/// called with (stage text, done, total) now and then; `cancel` stops between iterations.
pub fn project(
    vectors: &[Vec<f32>],
    params: &Params,
    progress: &mut dyn FnMut(&str, usize, usize),
    cancel: &AtomicBool,
) -> Result<Vec<[f32; 2]>, Cancelled> {
    let n = vectors.len();
    if n < 4 {
        // Too few for a neighbourhood: principal components say all there is.
        return Ok(embed::pca2(vectors));
    }
    let perplexity = params.perplexity.min((n - 1) as f32 / 3.0).max(1.0);
    let k = ((3.0 * perplexity) as usize).clamp(1, n - 1);
    progress("finding neighbours", 0, n);
    let index = knn::Index::new(vectors);
    let mut near = Vec::with_capacity(n);
    const CHUNK: usize = 2048;
    for start in (0..n).step_by(CHUNK) {
        if cancel.load(Ordering::Relaxed) {
            return Err(Cancelled);
        }
        near.extend(index.nearest_of(start..(start + CHUNK).min(n), k));
        progress("finding neighbours", near.len(), n);
    }
    drop(index);
    let p = affinities(&near, perplexity);
    drop(near);

    // Start from the principal components, scaled to a tiny spread.
    let pca = embed::pca2(vectors);
    let sd = {
        let m = pca.iter().map(|p| p[0] as f64).sum::<f64>() / n as f64;
        (pca.iter().map(|p| (p[0] as f64 - m).powi(2)).sum::<f64>() / n as f64).sqrt()
    };
    let scale = if sd > 0.0 { 1e-4 / sd } else { 0.0 };
    let mut y: Vec<[f32; 2]> = pca
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if scale > 0.0 {
                [(p[0] as f64 * scale) as f32, (p[1] as f64 * scale) as f32]
            } else {
                // All vectors alike: spread them on a small spiral so they can separate.
                let a = i as f32 * 2.399;
                let r = 1e-4 * (i as f32).sqrt();
                [r * a.cos(), r * a.sin()]
            }
        })
        .collect();
    let mut update = vec![[0f32; 2]; n];
    let mut gains = vec![[1f32; 2]; n];
    let lr = (n as f32 / 12.0).max(50.0);
    let iterations = params.iterations.max(1);
    let exaggerate_until = iterations / 4;
    for it in 0..iterations {
        if cancel.load(Ordering::Relaxed) {
            return Err(Cancelled);
        }
        let exaggeration = if it < exaggerate_until { 12.0 } else { 1.0 };
        let momentum = if it < exaggerate_until { 0.5 } else { 0.8 };
        let tree = QuadTree::build(&y);
        let (rep, z_parts): (Vec<[f32; 2]>, Vec<f64>) = (0..n)
            .into_par_iter()
            .map(|i| tree.repulsion(i, y[i], params.theta))
            .unzip();
        let z: f64 = z_parts.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let grads: Vec<[f32; 2]> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut attr = [0f32; 2];
                for e in p.start[i]..p.start[i + 1] {
                    let j = p.col[e] as usize;
                    let dx = y[i][0] - y[j][0];
                    let dy = y[i][1] - y[j][1];
                    let q = 1.0 / (1.0 + dx * dx + dy * dy);
                    attr[0] += p.val[e] * q * dx;
                    attr[1] += p.val[e] * q * dy;
                }
                let zf = z as f32;
                [
                    4.0 * (exaggeration * attr[0] - rep[i][0] / zf),
                    4.0 * (exaggeration * attr[1] - rep[i][1] / zf),
                ]
            })
            .collect();
        for i in 0..n {
            for c in 0..2 {
                let g = grads[i][c];
                gains[i][c] = if (g > 0.0) != (update[i][c] > 0.0) {
                    gains[i][c] + 0.2
                } else {
                    (gains[i][c] * 0.8).max(0.01)
                };
                update[i][c] = momentum * update[i][c] - lr * gains[i][c] * g;
                y[i][c] += update[i][c];
            }
        }
        // Keep the map centred (the gradient is translation-free; rounding is not).
        let (mx, my) = y
            .iter()
            .fold((0f64, 0f64), |(a, b), p| (a + p[0] as f64, b + p[1] as f64));
        let (mx, my) = ((mx / n as f64) as f32, (my / n as f64) as f32);
        y.iter_mut().for_each(|p| {
            p[0] -= mx;
            p[1] -= my;
        });
        if it % 25 == 0 || it + 1 == iterations {
            progress("laying out the map", it + 1, iterations);
        }
    }
    Ok(y)
}

/// Conditional Gaussians over each point's neighbours at the perplexity, symmetrised and
/// normalised to sum to 1.
fn affinities(near: &[Vec<knn::Near>], perplexity: f32) -> Affinities {
    let n = near.len();
    let target = (perplexity as f64).ln();
    let rows: Vec<Vec<f64>> = near
        .par_iter()
        .map(|nb| {
            // Squared Euclidean distance between unit vectors is twice the cosine distance.
            let d: Vec<f64> = nb.iter().map(|x| 2.0 * x.distance as f64).collect();
            let (mut lo, mut hi, mut beta) = (0f64, f64::INFINITY, 1f64);
            let mut w = vec![0f64; d.len()];
            for _ in 0..64 {
                let dmin = d.iter().copied().fold(f64::INFINITY, f64::min);
                let mut sum = 0.0;
                for (wi, &di) in w.iter_mut().zip(&d) {
                    *wi = (-beta * (di - dmin)).exp();
                    sum += *wi;
                }
                let sum = sum.max(f64::MIN_POSITIVE);
                // H = log(sum) + beta·E[d − dmin]
                let mean: f64 = w
                    .iter()
                    .zip(&d)
                    .map(|(wi, di)| wi * (di - dmin))
                    .sum::<f64>()
                    / sum;
                let h = sum.ln() + beta * mean;
                if (h - target).abs() < 1e-5 {
                    break;
                }
                if h > target {
                    lo = beta;
                    beta = if hi.is_finite() {
                        (beta + hi) / 2.0
                    } else {
                        beta * 2.0
                    };
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2.0;
                }
            }
            let sum: f64 = w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            w.iter().map(|x| x / sum).collect()
        })
        .collect();
    // P_ij = (p_j|i + p_i|j) / 2n, as triplets merged by (row, column).
    let mut triplets: Vec<(u32, u32, f32)> =
        Vec::with_capacity(2 * n * near.first().map_or(0, Vec::len));
    for (i, (nb, w)) in near.iter().zip(&rows).enumerate() {
        for (x, &p) in nb.iter().zip(w) {
            let v = (p / (2.0 * n as f64)) as f32;
            triplets.push((i as u32, x.row as u32, v));
            triplets.push((x.row as u32, i as u32, v));
        }
    }
    triplets.par_sort_unstable_by_key(|t| (t.0, t.1));
    let mut start = vec![0usize; n + 1];
    let mut col = Vec::with_capacity(triplets.len());
    let mut val: Vec<f32> = Vec::with_capacity(triplets.len());
    let mut last: Option<(u32, u32)> = None;
    for (i, j, v) in triplets {
        if last == Some((i, j)) {
            *val.last_mut().expect("a value for the repeated pair") += v;
        } else {
            col.push(j);
            val.push(v);
            start[i as usize + 1] = col.len();
            last = Some((i, j));
        }
    }
    for i in 1..=n {
        start[i] = start[i].max(start[i - 1]);
    }
    Affinities { start, col, val }
}

/// A point quadtree over the map, with each cell's centre of mass and count.
struct QuadTree {
    nodes: Vec<Node>,
}

#[derive(Clone)]
struct Node {
    /// Cell centre and half side.
    cx: f32,
    cy: f32,
    half: f32,
    /// Centre of mass and number of points below.
    mx: f32,
    my: f32,
    count: u32,
    /// First child (four in a row), 0 for a leaf.
    child: u32,
    /// A leaf's point (the first, if several share its place at the depth limit).
    point: u32,
}

const MAX_DEPTH: usize = 40;

impl QuadTree {
    fn build(y: &[[f32; 2]]) -> QuadTree {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in y {
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        let half = ((x1 - x0).max(y1 - y0) / 2.0).max(1e-6) * 1.0001;
        let mut t = QuadTree {
            nodes: Vec::with_capacity(2 * y.len() + 1),
        };
        t.nodes.push(Node {
            cx: (x0 + x1) / 2.0,
            cy: (y0 + y1) / 2.0,
            half,
            mx: 0.0,
            my: 0.0,
            count: 0,
            child: 0,
            point: u32::MAX,
        });
        for (i, p) in y.iter().enumerate() {
            t.insert(i as u32, *p, y);
        }
        t
    }

    fn insert(&mut self, i: u32, p: [f32; 2], y: &[[f32; 2]]) {
        let mut at = 0usize;
        for depth in 0.. {
            let node = &mut self.nodes[at];
            let c = node.count as f32;
            node.mx = (node.mx * c + p[0]) / (c + 1.0);
            node.my = (node.my * c + p[1]) / (c + 1.0);
            node.count += 1;
            if node.child == 0 {
                if node.count == 1 {
                    node.point = i;
                    return;
                }
                if depth >= MAX_DEPTH {
                    // Several points at one place: the leaf holds them all.
                    return;
                }
                // Split: move the resident point down, then go on with this one.
                let resident = node.point;
                let (cx, cy, h) = (node.cx, node.cy, node.half / 2.0);
                let first = self.nodes.len() as u32;
                self.nodes[at].child = first;
                self.nodes[at].point = u32::MAX;
                for q in 0..4 {
                    self.nodes.push(Node {
                        cx: cx + if q & 1 == 1 { h } else { -h },
                        cy: cy + if q & 2 == 2 { h } else { -h },
                        half: h,
                        mx: 0.0,
                        my: 0.0,
                        count: 0,
                        child: 0,
                        point: u32::MAX,
                    });
                }
                let rp = y[resident as usize];
                let q = self.quadrant(at, rp);
                let leaf = &mut self.nodes[first as usize + q];
                leaf.mx = rp[0];
                leaf.my = rp[1];
                leaf.count = 1;
                leaf.point = resident;
            }
            let q = self.quadrant(at, p);
            at = self.nodes[at].child as usize + q;
        }
    }

    fn quadrant(&self, at: usize, p: [f32; 2]) -> usize {
        let n = &self.nodes[at];
        (p[0] > n.cx) as usize | (((p[1] > n.cy) as usize) << 1)
    }

    /// The repulsive force on point `i` at `p` (unnormalised: Σ q²·(p − y_j)) and its share
    /// of the normaliser Z (Σ q over the other points).
    fn repulsion(&self, i: usize, p: [f32; 2], theta: f32) -> ([f32; 2], f64) {
        let mut force = [0f32; 2];
        let mut z = 0f64;
        let mut stack = vec![0usize];
        while let Some(at) = stack.pop() {
            let n = &self.nodes[at];
            if n.count == 0 {
                continue;
            }
            let dx = p[0] - n.mx;
            let dy = p[1] - n.my;
            let d2 = dx * dx + dy * dy;
            let side = 2.0 * n.half;
            if n.child == 0 || side * side < theta * theta * d2 {
                let mut count = n.count as f32;
                if n.child == 0 && (n.point as usize == i || (d2 == 0.0 && count > 1.0)) {
                    // The point itself is in this leaf: leave it out.
                    count -= 1.0;
                }
                if count <= 0.0 {
                    continue;
                }
                let q = 1.0 / (1.0 + d2);
                z += (count * q) as f64;
                force[0] += count * q * q * dx;
                force[1] += count * q * q * dy;
            } else {
                let c = n.child as usize;
                stack.extend([c, c + 1, c + 2, c + 3]);
            }
        }
        (force, z)
    }
}

/// How well a map keeps neighbourhoods: the share of each point's `k` nearest in the input
/// (cosine) that are also among its `k` nearest on the map. Exact, O(n²): for tests and
/// benchmarks.
pub fn neighbourhood_kept(vectors: &[Vec<f32>], map: &[[f32; 2]], k: usize) -> f64 {
    let n = vectors.len();
    if n <= k {
        return 1.0;
    }
    let index = knn::Index::new(vectors);
    let high = index.all_nearest(k);
    let mut kept = 0usize;
    for i in 0..n {
        let mut d: Vec<(f32, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                let dx = map[i][0] - map[j][0];
                let dy = map[i][1] - map[j][1];
                (dx * dx + dy * dy, j)
            })
            .collect();
        d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        let low: std::collections::HashSet<usize> = d[..k].iter().map(|x| x.1).collect();
        kept += high[i].iter().filter(|x| low.contains(&x.row)).count();
    }
    kept as f64 / (n * k) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clusters` Gaussian blobs in `d` dimensions, `per` points each, centres on different
    /// axes (so they differ in direction, as cosine sees them).
    fn blobs(clusters: usize, per: usize, d: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut next = crate::feature::knn::tests::noise(seed);
        let mut v = Vec::new();
        let mut label = Vec::new();
        for c in 0..clusters {
            for _ in 0..per {
                let mut x: Vec<f32> = (0..d).map(|_| next() * 0.3).collect();
                x[c] += 2.0;
                x[(c + 1) % d] += 1.0;
                v.push(x);
                label.push(c);
            }
        }
        (v, label)
    }

    fn run(v: &[Vec<f32>], iterations: usize) -> Vec<[f32; 2]> {
        let params = Params {
            iterations,
            ..Params::default()
        };
        project(v, &params, &mut |_, _, _| {}, &AtomicBool::new(false)).unwrap()
    }

    #[test]
    fn separated_blobs_stay_separated_and_runs_repeat() {
        let (v, label) = blobs(5, 60, 16, 11);
        let map = run(&v, 300);
        assert_eq!(map, run(&v, 300), "deterministic");
        assert!(map.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
        // Every point's nearest map neighbour is of its own blob, and the blobs' spread is
        // small against the distance between their centres.
        let mut own = 0;
        for i in 0..map.len() {
            let j = (0..map.len())
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    let da = (map[i][0] - map[a][0]).powi(2) + (map[i][1] - map[a][1]).powi(2);
                    let db = (map[i][0] - map[b][0]).powi(2) + (map[i][1] - map[b][1]).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap();
            own += (label[i] == label[j]) as usize;
        }
        assert_eq!(own, map.len(), "nearest map neighbour of another blob");
        let centre = |c: usize| {
            let pts: Vec<&[f32; 2]> = (0..map.len())
                .filter(|&i| label[i] == c)
                .map(|i| &map[i])
                .collect();
            let m = pts.len() as f32;
            [
                pts.iter().map(|p| p[0]).sum::<f32>() / m,
                pts.iter().map(|p| p[1]).sum::<f32>() / m,
            ]
        };
        let centres: Vec<[f32; 2]> = (0..5).map(centre).collect();
        let spread = (0..map.len())
            .map(|i| {
                let c = centres[label[i]];
                ((map[i][0] - c[0]).powi(2) + (map[i][1] - c[1]).powi(2)).sqrt()
            })
            .fold(0f32, f32::max);
        let gap = (0..5)
            .flat_map(|a| (0..5).filter(move |&b| b != a).map(move |b| (a, b)))
            .map(|(a, b)| {
                ((centres[a][0] - centres[b][0]).powi(2) + (centres[a][1] - centres[b][1]).powi(2))
                    .sqrt()
            })
            .fold(f32::MAX, f32::min);
        assert!(
            gap > spread,
            "closest blobs {gap} apart, widest blob radius {spread}"
        );
        assert!(neighbourhood_kept(&v, &map, 10) > 0.3);
    }

    #[test]
    fn barnes_hut_repulsion_matches_the_exact_sum() {
        let pts: Vec<[f32; 2]> = (0..200)
            .map(|i| {
                let a = i as f32 * 0.7;
                [a.cos() * (i as f32).sqrt(), a.sin() * (i as f32 % 13.0)]
            })
            .collect();
        let tree = QuadTree::build(&pts);
        for i in [0, 57, 199] {
            let (f, z) = tree.repulsion(i, pts[i], 0.0);
            let (mut ef, mut ez) = ([0f64; 2], 0f64);
            for (j, q) in pts.iter().enumerate() {
                if j == i {
                    continue;
                }
                let dx = (pts[i][0] - q[0]) as f64;
                let dy = (pts[i][1] - q[1]) as f64;
                let w = 1.0 / (1.0 + dx * dx + dy * dy);
                ez += w;
                ef[0] += w * w * dx;
                ef[1] += w * w * dy;
            }
            assert!((z - ez).abs() < 1e-3 * ez, "{z} vs {ez}");
            assert!((f[0] as f64 - ef[0]).abs() < 1e-3 * ef[0].abs().max(1e-3));
            assert!((f[1] as f64 - ef[1]).abs() < 1e-3 * ef[1].abs().max(1e-3));
            // θ = 0.5 stays close.
            let (_, za) = tree.repulsion(i, pts[i], 0.5);
            assert!((za - ez).abs() < 0.05 * ez, "{za} vs {ez}");
        }
        // Points on one spot: the leaf holds them all, and a point does not repel itself.
        let same = vec![[1.0f32, 1.0]; 5];
        let t = QuadTree::build(&same);
        let (f, z) = t.repulsion(2, same[2], 0.5);
        assert_eq!((f, z), ([0.0, 0.0], 4.0));
    }

    #[test]
    fn cancel_stops_the_projection() {
        let (v, _) = blobs(3, 20, 8, 2);
        let r = project(
            &v,
            &Params::default(),
            &mut |_, _, _| {},
            &AtomicBool::new(true),
        );
        assert_eq!(r, Err(Cancelled));
    }
}
