//! One cell of an experiment's sweep loop. A cell that this process is told not to run
//! (`--emit-slurm` counting, another array task's `--cell`, or one `--collect` finds no
//! result for) is counted and the loop goes on, so the runner can count and share out every
//! cell; any other error still ends the run with its cause (a missing dataset, a diverged
//! model), as a plain run did before.

use serde::de::DeserializeOwned;
use serde::Serialize;
use xai_core::runner::Cells;

/// The outcome of cell `key` (stored, or computed by `run`), or `None` for a skipped cell,
/// which is added to `skipped` (the outcome's `failed_cells`).
pub fn cell<T: Serialize + DeserializeOwned>(
    cells: &Cells,
    key: &str,
    skipped: &mut usize,
    run: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    match cells.get_or_run(key, run) {
        Ok((value, _)) => Ok(Some(value)),
        Err(e) if Cells::is_skipped(&e) => {
            *skipped += 1;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
