//! Confident learning (Northcutt, Jiang & Chuang 2021): which scored samples to *flag* as
//! likely label errors, not only rank. A ranking by loss says which samples are most
//! suspicious but not how many are wrong; users of tools that flag a thousand samples when
//! seventy are wrong stop reading the flags. Confident learning estimates, per pair of
//! classes, how many samples given label `i` truly belong to `j`, and flags that many.
//!
//! The steps, as in cleanlab's `find_label_issues` with its default `prune_by_noise_rate`:
//! 1. a threshold per class: the mean probability the model gives class `j` over the samples
//!    labelled `j` — so an easy class with confident predictions does not drown a hard one;
//! 2. the confident joint: a sample labelled `i` counts toward `(i, j)` when its probability
//!    of `j` reaches `j`'s threshold (the most probable such `j` when several do); each row is
//!    then calibrated to the number of samples labelled `i`;
//! 3. for every `j ≠ i`, the `joint[i][j]` samples labelled `i` with the largest
//!    `p(j) − p(i)` are flagged, never all of a class; a sample the model predicts as its
//!    label is never flagged.

/// The class thresholds: per class, the mean probability of that class over the samples
/// labelled with it (`probs` is row-major, `classes` per row). A class no sample carries
/// gets 1.0 (nothing reaches it by chance).
pub fn thresholds(labels: &[usize], probs: &[f32], classes: usize) -> Vec<f32> {
    let mut sum = vec![0f64; classes];
    let mut count = vec![0usize; classes];
    for (row, &l) in probs.chunks(classes).zip(labels) {
        sum[l] += row[l] as f64;
        count[l] += 1;
    }
    sum.iter()
        .zip(&count)
        .map(|(&s, &c)| if c == 0 { 1.0 } else { (s / c as f64) as f32 })
        .collect()
}

/// The class a sample confidently belongs to: the most probable class whose probability
/// reaches its threshold, or `None` when none does.
fn confident_class(row: &[f32], thresholds: &[f32]) -> Option<usize> {
    row.iter()
        .zip(thresholds)
        .enumerate()
        .filter(|(_, (&p, &t))| p >= t - 1e-6)
        .max_by(|a, b| a.1 .0.total_cmp(b.1 .0).then(b.0.cmp(&a.0)))
        .map(|(j, _)| j)
}

/// The calibrated confident joint: `joint[i][j]` estimates how many samples labelled `i`
/// truly are `j`; row `i` sums to the number labelled `i` (when any of them is confident).
pub fn confident_joint(labels: &[usize], probs: &[f32], classes: usize) -> Vec<Vec<usize>> {
    let th = thresholds(labels, probs, classes);
    let mut raw = vec![vec![0usize; classes]; classes];
    let mut given = vec![0usize; classes];
    for (row, &l) in probs.chunks(classes).zip(labels) {
        given[l] += 1;
        if let Some(j) = confident_class(row, &th) {
            raw[l][j] += 1;
        }
    }
    // At least one correctly labelled sample per class, as cleanlab guarantees.
    for (i, row) in raw.iter_mut().enumerate() {
        row[i] = row[i].max(1);
    }
    raw.iter()
        .zip(&given)
        .map(|(row, &n)| {
            let total: usize = row.iter().sum();
            if total == 0 {
                return row.clone();
            }
            let scaled: Vec<f64> = row
                .iter()
                .map(|&c| c as f64 * n as f64 / total as f64)
                .collect();
            round_preserving_total(&scaled, n)
        })
        .collect()
}

/// Round `values` to integers that sum to `total`: floors, then one more to the largest
/// remainders.
fn round_preserving_total(values: &[f64], total: usize) -> Vec<usize> {
    let mut out: Vec<usize> = values.iter().map(|v| v.floor() as usize).collect();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (values[a] - values[a].floor(), values[b] - values[b].floor());
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    let short = total.saturating_sub(out.iter().sum());
    for &i in order.iter().cycle().take(short) {
        out[i] += 1;
    }
    out
}

/// Which samples confident learning flags as label errors (see the module docs).
pub fn flag(labels: &[usize], probs: &[f32], classes: usize) -> Vec<bool> {
    let n = labels.len();
    let mut flagged = vec![false; n];
    if classes < 2 || probs.len() != n * classes {
        return flagged;
    }
    let joint = confident_joint(labels, probs, classes);
    let row = |s: usize| &probs[s * classes..(s + 1) * classes];
    for (i, counts) in joint.iter().enumerate() {
        let members: Vec<usize> = (0..n).filter(|&s| labels[s] == i).collect();
        // Never flag a whole class: keep at least one of its samples.
        let off: usize = counts
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, &c)| c)
            .sum();
        let room = members.len().saturating_sub(1);
        for (j, &c) in counts.iter().enumerate() {
            if j == i || c == 0 {
                continue;
            }
            let take = if off > room { c * room / off } else { c };
            let mut by_margin: Vec<(f32, usize)> = members
                .iter()
                .map(|&s| (row(s)[j] - row(s)[i], s))
                .collect();
            by_margin.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for &(_, s) in by_margin.iter().take(take) {
                flagged[s] = true;
            }
        }
    }
    // A sample the model predicts as its own label (ties included) is not an error.
    for (s, f) in flagged.iter_mut().enumerate() {
        let r = row(s);
        if r.iter().all(|&p| p <= r[labels[s]] + 1e-6) {
            *f = false;
        }
    }
    flagged
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn thresholds_are_per_class_means() {
        let labels = [0, 0, 1];
        let probs = [0.9, 0.1, 0.5, 0.5, 0.2, 0.8];
        let t = thresholds(&labels, &probs, 2);
        assert!(
            (t[0] - 0.7).abs() < 1e-6 && (t[1] - 0.8).abs() < 1e-6,
            "{t:?}"
        );
        assert_eq!(thresholds(&[0], &[1.0, 0.0], 2)[1], 1.0);
    }

    #[test]
    fn rounding_keeps_the_total() {
        assert_eq!(round_preserving_total(&[1.5, 1.5, 2.0], 5), vec![2, 1, 2]);
        assert_eq!(round_preserving_total(&[0.2, 0.2, 0.6], 1), vec![0, 0, 1]);
        assert_eq!(round_preserving_total(&[0.4, 0.4], 2), vec![1, 1]);
    }

    /// Three classes, one easy (probabilities near 0.95) and one hard (near 0.5): samples
    /// whose model strongly prefers another class are flagged, the rest are not, and the
    /// hard class's errors are found although their loss is below the easy class's noise.
    #[test]
    fn flags_the_confidently_mislabelled_in_easy_and_hard_classes() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (mut labels, mut probs, mut wrong) = (Vec::new(), Vec::new(), Vec::new());
        for s in 0..600 {
            let truth = s % 3;
            let confidence = if truth == 0 { 0.93 } else { 0.55 };
            let mislabelled = s % 10 == 0;
            let given = if mislabelled { (truth + 1) % 3 } else { truth };
            let mut row = [0f32; 3];
            let p = confidence + rng.random_range(-0.05..0.05);
            row[truth] = p;
            row[(truth + 1) % 3] = (1.0 - p) * 0.5;
            row[(truth + 2) % 3] = (1.0 - p) * 0.5;
            labels.push(given);
            probs.extend_from_slice(&row);
            wrong.push(mislabelled);
        }
        let f = flag(&labels, &probs, 3);
        let hits = f.iter().zip(&wrong).filter(|(a, b)| **a && **b).count();
        let flagged = f.iter().filter(|&&a| a).count();
        let total = wrong.iter().filter(|&&w| w).count();
        assert!(hits * 10 >= total * 9, "recall {hits}/{total}");
        assert!(hits * 10 >= flagged * 9, "precision {hits}/{flagged}");
        let joint = confident_joint(&labels, &probs, 3);
        for (i, row) in joint.iter().enumerate() {
            let n = labels.iter().filter(|&&l| l == i).count();
            assert_eq!(
                row.iter().sum::<usize>(),
                n,
                "row {i} calibrated to its count"
            );
        }
    }

    #[test]
    fn never_flags_what_the_model_predicts_nor_a_whole_class() {
        // Everything predicted as labelled: nothing flagged.
        let labels = [0, 1, 0, 1];
        let probs = [0.8, 0.2, 0.3, 0.7, 0.6, 0.4, 0.1, 0.9];
        assert!(flag(&labels, &probs, 2).iter().all(|&f| !f));
        // Both samples of class 1 look like class 0: at most one is flagged.
        let labels = [0, 0, 1, 1];
        let probs = [0.9, 0.1, 0.8, 0.2, 0.9, 0.1, 0.95, 0.05];
        assert!(flag(&labels, &probs, 2).iter().filter(|&&f| f).count() <= 1);
        assert!(flag(&[], &[], 2).is_empty());
    }
}
