//! Default of credit card clients (UCI 350) from the canonical `.xls` (two header rows,
//! read with calamine) or the mirror's CSV export (one header row, `5e+05`-style numbers).

use super::super::{data_err, read_file};
use super::{csv, finish_split, kfold0_split, schema, Column, Schema, TabularData};
use crate::Result;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The 23 features in file order.
pub const FEATURES: [&str; 23] = [
    "LIMIT_BAL",
    "SEX",
    "EDUCATION",
    "MARRIAGE",
    "AGE",
    "PAY_0",
    "PAY_2",
    "PAY_3",
    "PAY_4",
    "PAY_5",
    "PAY_6",
    "BILL_AMT1",
    "BILL_AMT2",
    "BILL_AMT3",
    "BILL_AMT4",
    "BILL_AMT5",
    "BILL_AMT6",
    "PAY_AMT1",
    "PAY_AMT2",
    "PAY_AMT3",
    "PAY_AMT4",
    "PAY_AMT5",
    "PAY_AMT6",
];

/// Rows `[30000, 23]` of features (file order) and the default flag.
#[derive(Debug)]
pub struct CreditRaw {
    pub features: Vec<Vec<f64>>,
    pub default: Vec<f64>,
}

/// Reads the CSV export: one header row with the names of [`FEATURES`] and
/// `default.payment.next.month` (or `default payment next month`).
pub fn read_csv(path: &Path) -> Result<CreditRaw> {
    let t = csv::read("credit", path, b',')?;
    let features = FEATURES.iter().map(|f| t.floats(f)).collect::<Result<Vec<_>>>()?;
    let target = ["default.payment.next.month", "default payment next month", "Y"]
        .iter()
        .find(|n| t.col(n).is_ok())
        .copied()
        .unwrap_or("default.payment.next.month");
    Ok(CreditRaw { features, default: t.floats(target)? })
}

/// Reads the UCI `.xls`: row 1 holds X1..X23, Y; row 2 the names; column 0 the ID.
pub fn read_xls(path: &Path) -> Result<CreditRaw> {
    use calamine::{open_workbook_auto, Data, Reader};
    read_file("credit", path)?; // a clear "not found" error first
    let mut wb =
        open_workbook_auto(path).map_err(|e| data_err("credit", path, format!("not a readable spreadsheet: {e}")))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or_else(|| data_err("credit", path, "workbook has no sheet"))?
        .map_err(|e| data_err("credit", path, e.to_string()))?;
    let rows: Vec<&[Data]> = range.rows().collect();
    if rows.len() < 3 {
        return Err(data_err("credit", path, format!("{} rows; expected two header rows and data", rows.len())));
    }
    let names: Vec<String> = rows[1].iter().map(|c| c.to_string().trim().to_string()).collect();
    let col = |n: &str| {
        names
            .iter()
            .position(|h| h == n)
            .ok_or_else(|| data_err("credit", path, format!("row 2: missing column `{n}`")))
    };
    let cell = |r: usize, c: usize| -> Result<f64> {
        match rows[r].get(c) {
            Some(Data::Float(f)) => Ok(*f),
            Some(Data::Int(i)) => Ok(*i as f64),
            Some(Data::String(s)) => s.trim().parse().map_err(|_| {
                data_err("credit", path, format!("row {}, column `{}`: `{s}` is not a number", r + 1, names[c]))
            }),
            other => Err(data_err(
                "credit",
                path,
                format!("row {}, column `{}`: {other:?} is not a number", r + 1, names[c]),
            )),
        }
    };
    let idx = FEATURES.iter().map(|f| col(f)).collect::<Result<Vec<_>>>()?;
    let features = idx
        .iter()
        .map(|&c| (2..rows.len()).map(|r| cell(r, c)).collect::<Result<Vec<_>>>())
        .collect::<Result<Vec<_>>>()?;
    let yc = col("default payment next month")?;
    let default = (2..rows.len()).map(|r| cell(r, yc)).collect::<Result<Vec<_>>>()?;
    Ok(CreditRaw { features, default })
}

/// The file to read under `root/credit/`: the `.xls` when present, else the CSV export.
pub fn locate(root: &Path) -> PathBuf {
    let dir = root.join("credit");
    let xls = dir.join("default of credit card clients.xls");
    if xls.is_file() {
        xls
    } else {
        dir.join("UCI_Credit_Card.csv")
    }
}

/// Reads whichever form is present.
pub fn read(root: &Path) -> Result<CreditRaw> {
    let p = locate(root);
    if p.extension().is_some_and(|e| e == "xls") {
        read_xls(&p)
    } else {
        read_csv(&p)
    }
}

/// CLUE's schema: LIMIT_BAL, SEX (2), EDUCATION (4), MARRIAGE (3), then 19 continuous →
/// blocks `[1, 2, 4, 3]` + 19 × `[1]`, D = 29.
pub fn schema() -> Schema {
    let mut columns = vec![
        Column::continuous("LIMIT_BAL"),
        Column::categorical("SEX", &["1", "2"]),
        Column::categorical("EDUCATION", &["0", "1", "2", "3+"]),
        Column::categorical("MARRIAGE", &["0", "1", "2+"]),
    ];
    columns.extend(FEATURES[4..].iter().map(|f| Column::continuous(f)));
    Schema { columns }
}

/// Maps a categorical column of one split as the reference does: value − (minimum of
/// that split), clipped to `0..k`.
fn recode(v: &[f64], k: usize) -> Vec<f64> {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    v.iter().map(|x| (x.round() - min).clamp(0.0, (k - 1) as f64)).collect()
}

/// CLUE's Credit: seeded 10-fold split, fold 0 as test (27,000 / 3,000); categorical columns
/// recoded per split and one-hot; continuous ones standardised with train statistics.
pub fn load(root: &Path, seed: u64) -> Result<TabularData> {
    let raw = read(root)?;
    let n = raw.default.len();
    let (train, test) = kfold0_split(n, 10, seed);
    let s = schema();
    let build = |rows: &[usize]| -> (Tensor, Tensor) {
        let col = |c: usize| rows.iter().map(|&r| raw.features[c][r]).collect::<Vec<f64>>();
        let mut values = vec![col(0), recode(&col(1), 2), recode(&col(2), 4), recode(&col(3), 3)];
        values.extend((4..23).map(col));
        let y: Vec<i64> = rows.iter().map(|&r| raw.default[r] as i64).collect();
        (schema::flatten(&s, &values), Tensor::from_slice(&y))
    };
    Ok(finish_split("credit", s.clone(), build(&train), build(&test), false))
}
