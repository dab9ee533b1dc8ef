//! Bad input to the core gives an error that names the problem, never a panic.

use std::path::Path;
use xai_core::device::DeviceChoice;
use xai_core::fsutil::{atomic_write, atomic_write_with};

#[test]
fn unknown_device_is_named() {
    let e = "tpu".parse::<DeviceChoice>().unwrap_err().to_string();
    assert!(e.contains("tpu") && e.contains("auto, cpu or cuda"), "{e}");
    assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
}

#[test]
fn cuda_requested_without_cuda_is_an_error() {
    let got = DeviceChoice::Cuda.resolve();
    if tch::Cuda::is_available() {
        assert_eq!(got.unwrap(), tch::Device::Cuda(0));
    } else {
        let e = got.unwrap_err().to_string();
        assert!(e.contains("CUDA was requested") && e.contains("--device cpu"), "{e}");
    }
    assert!(DeviceChoice::Auto.resolve().is_ok());
}

#[test]
fn interrupted_atomic_write_keeps_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    atomic_write(&path, b"old").unwrap();
    // The writer fails half-way: the old file stays, no temp file is left.
    let r = atomic_write_with(&path, |tmp| {
        std::fs::write(tmp, b"ne").unwrap();
        Err(xai_core::Error::Other("disk full".into()))
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // The process dies before the rename: the old file stays too.
    let p2 = path.clone();
    let crashed = std::panic::catch_unwind(move || {
        let _ = atomic_write_with(&p2, |tmp| {
            std::fs::write(tmp, b"half").unwrap();
            panic!("killed before rename");
        });
    });
    assert!(crashed.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    atomic_write(&path, b"new").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new");
}

#[test]
fn missing_config_file_is_named() {
    #[derive(serde::Deserialize, Debug)]
    struct C {
        _a: i64,
    }
    let e = xai_core::config::load::<C>(Path::new("configs/nope.toml"), &[]).unwrap_err().to_string();
    assert!(e.contains("configs/nope.toml"), "{e}");
}
