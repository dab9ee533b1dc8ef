//! Device selection, seeding and threads.

use crate::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use tch::Device;

/// What the user asked for on the command line or in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when a GPU is visible, else CPU.
    #[default]
    Auto,
    /// The CPU, with --threads intra-op threads.
    Cpu,
    /// The first CUDA GPU; an error when none is usable.
    Cuda,
}

impl FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            other => Err(Error::Device(format!("unknown device `{other}`; expected auto, cpu or cuda"))),
        }
    }
}

impl DeviceChoice {
    /// Resolves to a tch device. Asking for CUDA where none is usable is an error, not a
    /// silent fall-back: a run the user believes is on a GPU must not crawl on a CPU.
    pub fn resolve(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Auto => Ok(Device::cuda_if_available()),
            Self::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            Self::Cuda => Err(Error::Device(
                "CUDA was requested but no CUDA device is usable (no NVIDIA GPU or driver, or a CPU-only libtorch); use --device cpu or auto".into(),
            )),
        }
    }
}

/// A human-readable name, used in logs and `run.json`.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", tch::get_num_threads()),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

/// Seeds libtorch (CPU and CUDA generators) and returns a Rust RNG derived from the same
/// seed, so that one number in a config fixes every random draw of a run.
pub fn seed_everything(seed: u64) -> ChaCha8Rng {
    tch::manual_seed(seed as i64);
    ChaCha8Rng::seed_from_u64(seed)
}

/// Sets libtorch's intra-op thread count; 0 keeps libtorch's default.
pub fn set_threads(n: usize) {
    if n > 0 {
        tch::set_num_threads(n as i32);
    }
}

/// libtorch's version as reported by the linked library, e.g. "2.13.0".
pub fn libtorch_version() -> String {
    // torch-sys checks the version at build time; the constant is what it accepted.
    "2.13.0".to_string()
}

/// Keeps glibc from handing large tensor buffers back to the OS after every step.
///
/// By default glibc serves big allocations (a 256×64×28×28 activation is 51 MB) with
/// `mmap` and unmaps them on free, so every training step faults the same pages in again
/// (hundreds of thousands of page faults a step). Raising the mmap threshold to 32 MB and
/// the trim threshold to 1 GB, with 256 MB of top pad, lets freed buffers be reused: page
/// faults stop after a few steps and steps get faster. Does nothing when the user set
/// glibc's own tunables (`GLIBC_TUNABLES`, `MALLOC_*_`) or `XAI_MALLOC_DEFAULT=1`, and off
/// glibc. Returns whether the settings were applied.
pub fn tune_allocator() -> bool {
    let user_set = std::env::vars_os().any(|(k, _)| {
        let k = k.to_string_lossy();
        k == "GLIBC_TUNABLES" || (k.starts_with("MALLOC_") && k.ends_with('_')) || k == "XAI_MALLOC_DEFAULT"
    });
    if user_set {
        return false;
    }
    apply_malloc_settings()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply_malloc_settings() -> bool {
    const MIB: libc::c_int = 1 << 20;
    // SAFETY: mallopt only changes allocator parameters; it is called before any threads
    // of ours allocate, and glibc serialises it against concurrent malloc anyway.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * MIB) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * MIB) == 1
            && libc::mallopt(libc::M_TOP_PAD, 256 * MIB) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply_malloc_settings() -> bool {
    false
}
