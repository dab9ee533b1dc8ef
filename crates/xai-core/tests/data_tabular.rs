//! Tabular datasets on the real files: shapes, blocks, filters, splits, train-only
//! standardisation, and CSV error messages.

use tch::Kind;
use xai_core::data::data_root;
use xai_core::data::tabular::{self, compas, credit, csv, lsat, wine, TabularData};

fn root() -> std::path::PathBuf {
    data_root(None)
}

/// Continuous train columns have mean 0 and population std 1; one-hot rows sum to 1 per block.
fn check_standardised(d: &TabularData) {
    let cont = d.schema.continuous_mask();
    let m = d.train_x.mean_dim(0, false, Kind::Float).masked_select(&cont);
    let s = d.train_x.std_dim(0, false, false).masked_select(&cont);
    assert!(m.abs().max().double_value(&[]) < 1e-3, "{}", d.name);
    assert!((s - 1.0).abs().max().double_value(&[]) < 1e-3, "{}", d.name);
    let mut off = 0;
    for w in d.schema.blocks() {
        if w > 1 {
            for x in [&d.train_x, &d.test_x] {
                let sums = x.narrow(1, off, w as i64).sum_dim_intlist(1, false, Kind::Float);
                assert!(sums.eq(1.0).all().int64_value(&[]) == 1, "{}: block at {off}", d.name);
            }
        }
        off += w as i64;
    }
    assert_eq!(off as usize, d.schema.flat_dim());
}

#[test]
fn compas_filter_and_clue_table() {
    let t = csv::read("compas", &compas::path(&root()), b',').expect("COMPAS must be fetched for this test");
    assert_eq!((t.rows.len(), t.headers.len()), (7214, 53));
    assert_eq!(compas::filtered_rows(&t).unwrap().len(), 6172);
    let d = compas::load_clue(&root(), 42).unwrap();
    assert_eq!(d.schema.blocks(), [3, 6, 2, 2, 2, 1, 1]);
    assert_eq!(d.train_x.size(), [5554, 17]);
    assert_eq!(d.test_x.size(), [618, 17]);
    assert!(d.y_stats.is_none());
    check_standardised(&d);
    // time_served is never negative before standardisation.
    let (x, _) = compas::clue_features(&root()).unwrap();
    assert!(x.select(1, 16).min().double_value(&[]) >= 0.0);
}

#[test]
fn lsat_shapes_and_regression_target() {
    let d = lsat::load(&root()).expect("LSAT must be fetched for this test");
    assert_eq!(d.train_x.size(), [17432, 12]);
    assert_eq!(d.test_x.size(), [4358, 12]);
    assert_eq!(d.schema.blocks(), [1, 1, 8, 2]);
    check_standardised(&d);
    let (m, s) = d.y_stats.unwrap();
    assert!(s > 0.0 && m.abs() < 1.0);
    assert!(d.train_y.mean(Kind::Double).double_value(&[]).abs() < 1e-4);
}

#[test]
fn credit_csv_shapes_blocks_and_scientific_notation() {
    let raw = credit::read(&root()).expect("Credit must be fetched for this test");
    assert_eq!(raw.default.len(), 30000);
    assert_eq!(raw.default.iter().filter(|&&y| y == 1.0).count(), 6636);
    assert!(raw.features[0].contains(&500000.0), "5e+05 parsed");
    let d = credit::load(&root(), 42).unwrap();
    assert_eq!(d.train_x.size(), [27000, 29]);
    assert_eq!(d.test_x.size(), [3000, 29]);
    assert_eq!(&d.schema.blocks()[..4], [1, 2, 4, 3]);
    check_standardised(&d);
}

#[test]
fn wine_shapes_with_and_without_the_reference_quirk() {
    let d = wine::load(&root(), wine::WineOptions::default()).expect("Wine must be fetched for this test");
    assert_eq!(d.train_x.size(), [1438, 11]);
    assert_eq!(d.test_x.size(), [160, 11]);
    check_standardised(&d);
    let all = wine::load(&root(), wine::WineOptions { drop_first_row: false, seed: 42 }).unwrap();
    assert_eq!(all.train_x.size()[0] + all.test_x.size()[0], 1599);
    // Seeded split: the same seed gives the same split.
    let again = wine::load(&root(), wine::WineOptions::default()).unwrap();
    assert!(again.test_x.equal(&d.test_x));
}

#[test]
fn split_helpers_have_sklearn_sizes() {
    assert_eq!(tabular::kfold0_split(1598, 10, 1).1.len(), 160);
    assert_eq!(tabular::kfold0_split(1599, 10, 1).1.len(), 160);
    assert_eq!(tabular::shuffle_split(6172, 0.1, 1).1.len(), 618);
    let (a, b) = tabular::kfold0_split(100, 10, 3);
    let mut all: Vec<_> = a.iter().chain(&b).copied().collect();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
}

#[test]
fn csv_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = dir.path().join("wine");
    std::fs::create_dir_all(&wdir).unwrap();
    let p = wdir.join("winequality-red.csv");
    let header: Vec<String> = wine::FEATURES.iter().map(|f| format!("\"{f}\"")).collect();
    std::fs::write(&p, format!("{};\"quality\"\n{}\n", header.join(";"), ["1"; 12].join(";"))).unwrap();
    assert_eq!(wine::read_raw(dir.path()).unwrap().0.size(), [1, 11]);
    // Non-numeric cell.
    std::fs::write(
        &p,
        format!("{};\"quality\"\n{}\n1;2;3;4;5;6;7;8;9;10;x;5\n", header.join(";"), ["1"; 12].join(";")),
    )
    .unwrap();
    let e = wine::read_raw(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("winequality-red.csv") && e.contains("line 3") && e.contains("`alcohol`") && e.contains("`x`"),
        "{e}"
    );
    // Missing column.
    std::fs::write(&p, format!("{}\n{}\n", header[..11].join(";"), ["1"; 11].join(";"))).unwrap();
    let e = wine::read_raw(dir.path()).unwrap_err().to_string();
    assert!(e.contains("missing column `quality`"), "{e}");
    // Empty file and missing file.
    std::fs::write(&p, "").unwrap();
    assert!(wine::read_raw(dir.path()).unwrap_err().to_string().contains("empty file"));
    let e = lsat::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("law_school_cf_train.csv") && e.contains("fetch-data lsat"), "{e}");
}

/// The UCI workbook layout (two header rows, ID column) read through calamine gives the
/// same numbers as the CSV export. No `.xls` is mirrored, so the workbook is written here
/// as `.xlsx` from the CSV's first rows; calamine picks the reader from the extension.
#[test]
fn credit_workbook_layout_reads_like_the_csv() {
    let raw = credit::read(&root()).expect("Credit must be fetched for this test");
    let n = 40;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default of credit card clients.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(1, 0, "ID").unwrap();
    for (j, name) in credit::FEATURES.iter().enumerate() {
        sheet.write_string(0, j as u16 + 1, format!("X{}", j + 1)).unwrap();
        sheet.write_string(1, j as u16 + 1, *name).unwrap();
    }
    let yc = credit::FEATURES.len() as u16 + 1;
    sheet.write_string(0, yc, "Y").unwrap();
    sheet.write_string(1, yc, "default payment next month").unwrap();
    for r in 0..n {
        sheet.write_number(r as u32 + 2, 0, (r + 1) as f64).unwrap();
        for (j, col) in raw.features.iter().enumerate() {
            sheet.write_number(r as u32 + 2, j as u16 + 1, col[r]).unwrap();
        }
        sheet.write_number(r as u32 + 2, yc, raw.default[r]).unwrap();
    }
    book.save(&path).unwrap();
    let xls = credit::read_xls(&path).unwrap();
    assert_eq!(xls.default, raw.default[..n].to_vec());
    for (a, b) in xls.features.iter().zip(&raw.features) {
        assert_eq!(a[..], b[..n]);
    }
    // A workbook missing a column names it.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for r in 0..3u32 {
        sheet.write_string(r, 0, "ID").unwrap();
    }
    let bad = dir.path().join("bad.xlsx");
    book.save(&bad).unwrap();
    let e = credit::read_xls(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.xlsx") && e.contains("missing column `LIMIT_BAL`"), "{e}");
}
