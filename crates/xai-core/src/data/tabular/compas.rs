//! ProPublica COMPAS: the standard filter (6,172 rows) and CLUE's seven-feature table.

use super::super::data_err;
use super::{csv, finish, schema, shuffle_split, Column, Schema, TabularData};
use crate::Result;
use std::path::Path;
use tch::Tensor;

/// The file of `root/compas/`.
pub fn path(root: &Path) -> std::path::PathBuf {
    root.join("compas").join("compas-scores-two-years.csv")
}

/// Rows kept by ProPublica's filter (cdep.md §4.5, clue.md §9): `days_b_screening_arrest`
/// present with |value| ≤ 30, `is_recid` ≠ −1, `c_charge_degree` ≠ "O", `score_text` ≠ "N/A".
pub fn filtered_rows(t: &csv::RawTable) -> Result<Vec<usize>> {
    let days = t.col("days_b_screening_arrest")?;
    let recid = t.floats("is_recid")?;
    let degree = t.strings("c_charge_degree")?;
    let score = t.strings("score_text")?;
    let mut keep = Vec::new();
    for r in 0..t.rows.len() {
        if t.rows[r][days].trim().is_empty() {
            continue;
        }
        let d = t.float(r, days)?;
        if d.abs() <= 30.0 && recid[r] != -1.0 && degree[r] != "O" && score[r] != "N/A" && score[r] != "NA" {
            keep.push(r);
        }
    }
    Ok(keep)
}

/// Seconds since 1970 of `YYYY-MM-DD HH:MM:SS` (proleptic Gregorian, no time zone).
fn timestamp(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once(' ')?;
    let d: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let t: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    // Days from civil (H. Hinnant's algorithm).
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146097 + doe - 719468) * 86400 + t[0] * 3600 + t[1] * 60 + t[2])
}

/// CLUE's schema: age_cat, race, sex, c_charge_degree, is_recid (one-hot, categories sorted
/// lexicographically), priors_count, time_served → blocks [3, 6, 2, 2, 2, 1, 1], D = 17.
pub fn clue_schema() -> Schema {
    Schema {
        columns: vec![
            Column::categorical("age_cat", &["25 - 45", "Greater than 45", "Less than 25"]),
            Column::categorical(
                "race",
                &["African-American", "Asian", "Caucasian", "Hispanic", "Native American", "Other"],
            ),
            Column::categorical("sex", &["Female", "Male"]),
            Column::categorical("c_charge_degree", &["F", "M"]),
            Column::categorical("is_recid", &["0", "1"]),
            Column::continuous("priors_count"),
            Column::continuous("time_served"),
        ],
    }
}

/// The filtered table as flat features `[6172, 17]` (unstandardised) and `two_year_recid`.
pub fn clue_features(root: &Path) -> Result<(Tensor, Tensor)> {
    let p = path(root);
    let t = csv::read("compas", &p, b',')?;
    let rows = filtered_rows(&t)?;
    let s = clue_schema();
    let mut values: Vec<Vec<f64>> = Vec::new();
    for c in &s.columns[..5] {
        let Column::Categorical { name, categories } = c else { unreachable!("first five are categorical") };
        let col = t.col(name)?;
        let v = rows
            .iter()
            .map(|&r| {
                let cell = t.rows[r][col].trim();
                categories.iter().position(|k| k == cell).map(|k| k as f64).ok_or_else(|| {
                    data_err(
                        "compas",
                        &p,
                        format!("line {}, column `{name}`: unexpected category `{cell}`", t.lines[r]),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        values.push(v);
    }
    let priors = t.floats("priors_count")?;
    values.push(rows.iter().map(|&r| priors[r]).collect());
    let (cin, cout) = (t.col("c_jail_in")?, t.col("c_jail_out")?);
    let served = rows
        .iter()
        .map(|&r| {
            let bad = |c: usize| {
                data_err(
                    "compas",
                    &p,
                    format!("line {}, column `{}`: bad timestamp `{}`", t.lines[r], t.headers[c], t.rows[r][c]),
                )
            };
            let a = timestamp(&t.rows[r][cin]).ok_or_else(|| bad(cin))?;
            let b = timestamp(&t.rows[r][cout]).ok_or_else(|| bad(cout))?;
            Ok(((b - a).div_euclid(86400)).max(0) as f64)
        })
        .collect::<Result<Vec<_>>>()?;
    values.push(served);
    let y = t.floats("two_year_recid")?;
    let y: Vec<i64> = rows.iter().map(|&r| y[r] as i64).collect();
    Ok((schema::flatten(&s, &values), Tensor::from_slice(&y)))
}

/// CLUE's COMPAS: 90/10 seeded shuffle split (5,554 / 618), continuous features standardised
/// with train statistics, binary target `two_year_recid`.
pub fn load_clue(root: &Path, seed: u64) -> Result<TabularData> {
    let (x, y) = clue_features(root)?;
    let (train, test) = shuffle_split(x.size()[0] as usize, 0.1, seed);
    Ok(finish("compas", clue_schema(), &x, &y, &train, &test, false))
}
