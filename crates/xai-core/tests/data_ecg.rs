//! ECG5000: the real UCR `.tsv` files and the `.txt` / `.arff` forms.

use tch::{Kind, Tensor};
use xai_core::data::{data_root, ecg};

fn counts(y: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(y.bincount(None::<Tensor>, 6)).unwrap()[1..].to_vec()
}

#[test]
fn real_ecg5000_shapes_and_class_counts() {
    let d = ecg::load(&data_root(None)).expect("ECG5000 must be fetched for this test");
    assert_eq!(d.train.x.size(), [500, 140]);
    assert_eq!(d.test.x.size(), [4500, 140]);
    assert_eq!(d.train.x.kind(), Kind::Float);
    assert_eq!(counts(&d.train.y), [292, 177, 10, 19, 2]);
    assert_eq!(counts(&d.test.y), [2627, 1590, 86, 175, 22]);
    // Abnormal test beats (Label-Free XAI's feature experiment uses them all): 2,081 in
    // total over both files is 5000 − 2919.
    let abnormal = d.train.binary_labels().sum(Kind::Int64).int64_value(&[])
        + d.test.binary_labels().sum(Kind::Int64).int64_value(&[]);
    assert_eq!(abnormal, 5000 - 2919);
}

#[test]
fn txt_and_arff_forms_parse_to_the_same_numbers() {
    let d = ecg::load(&data_root(None)).expect("ECG5000 must be fetched for this test");
    let x = d.train.x.narrow(0, 0, 20);
    let y = d.train.y.narrow(0, 0, 20);
    let xv = Vec::<f32>::try_from(x.flatten(0, -1)).unwrap();
    let yv = Vec::<i64>::try_from(&y).unwrap();
    let mut txt = String::new();
    let mut arff = String::from("@relation ECG5000\n% comment\n");
    for t in 0..140 {
        arff.push_str(&format!("@attribute att{t} numeric\n"));
    }
    arff.push_str("@attribute target {1,2,3,4,5}\n\n@data\n");
    for (row, label) in xv.chunks(140).zip(&yv) {
        let vals: Vec<String> = row.iter().map(|v| format!("{v:.7e}")).collect();
        txt.push_str(&format!("  {:.7e}  {}\n", *label as f64, vals.join("  ")));
        arff.push_str(&format!("{},{}\n", vals.join(","), label));
    }
    let a = ecg::parse_text(std::path::Path::new("ECG5000_TRAIN.txt"), &txt).unwrap();
    let b = ecg::parse_arff(std::path::Path::new("ECG5000_TRAIN.arff"), &arff).unwrap();
    assert!(a.y.equal(&y) && b.y.equal(&y));
    assert!(a.x.allclose(&x, 1e-6, 1e-6, false) && b.x.allclose(&x, 1e-6, 1e-6, false));
}

#[test]
fn bad_rows_name_file_and_line() {
    let p = std::path::Path::new("ECG5000_TEST.tsv");
    let e = ecg::parse_text(p, "1\t0.5\t0.25\n2\t0.1\n").unwrap_err().to_string();
    assert!(e.contains("ECG5000_TEST.tsv") && e.contains("line 2"), "{e}");
    let e = ecg::parse_text(p, "1\t0.5\tx\n").unwrap_err().to_string();
    assert!(e.contains("line 1, field 3") && e.contains("`x`"), "{e}");
    assert!(ecg::parse_text(p, "").unwrap_err().to_string().contains("empty file"));
    assert!(ecg::parse_arff(p, "1,2\n").unwrap_err().to_string().contains("@data"));
    let e = ecg::load(tempfile::tempdir().unwrap().path()).unwrap_err().to_string();
    assert!(e.contains("fetch-data ecg5000"), "{e}");
}
