//! Checkpoints as safetensors, written atomically and loaded with name and shape checks.

use crate::fsutil::atomic_write_with;
use crate::{Error, Result};
use std::path::Path;
use tch::nn::VarStore;
use tch::Tensor;

/// Saves every variable of `vs` to `path` (a `.safetensors` file) atomically.
pub fn save(vs: &VarStore, path: &Path) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    save_tensors(&named, path)
}

/// Saves named tensors (weights, optimiser moments, counters…) atomically.
pub fn save_tensors<S: AsRef<str>>(named: &[(S, Tensor)], path: &Path) -> Result<()> {
    atomic_write_with(path, |tmp| {
        // safetensors wants contiguous CPU tensors; a GPU run copies once per save.
        let cpu: Vec<(&str, Tensor)> =
            named.iter().map(|(n, t)| (n.as_ref(), t.detach().to(tch::Device::Cpu).contiguous())).collect();
        Tensor::write_safetensors(&cpu, tmp)
            .map_err(|e| Error::Checkpoint { path: path.to_path_buf(), message: e.to_string() })
    })
}

/// Reads all tensors of a safetensors file.
pub fn load_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    if !path.is_file() {
        return Err(Error::Checkpoint { path: path.to_path_buf(), message: "no such file".into() });
    }
    Tensor::read_safetensors(path).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        message: format!("not a readable safetensors file: {e}"),
    })
}

/// Loads `path` into `vs`. Every variable of `vs` must be present with the same shape;
/// the first mismatch is named, e.g. `fc1.weight: shape [10, 784] in file, [10, 256] in model`.
/// Nothing is copied unless everything matches, so a failed load leaves `vs` unchanged.
pub fn load(vs: &mut VarStore, path: &Path) -> Result<()> {
    let file: std::collections::HashMap<String, Tensor> = load_tensors(path)?.into_iter().collect();
    copy_checked(vs, &file, path, |_| false)
}

/// Copies every variable of `vs` from `file` (tensors read from `path`, named in errors)
/// after checking that each is present with its shape and that `file` holds nothing else
/// but entries for which `allowed_extra` is true (a model's metadata, PyTorch's
/// `num_batches_tracked`). Nothing is copied unless everything matches.
pub fn copy_checked(
    vs: &mut VarStore,
    file: &std::collections::HashMap<String, Tensor>,
    path: &Path,
    allowed_extra: impl Fn(&str) -> bool,
) -> Result<()> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let err = |message: String| Error::Checkpoint { path: path.to_path_buf(), message };
    for (name, var) in &vars {
        let src = file.get(name).ok_or_else(|| err(format!("{name}: missing from file")))?;
        if src.size() != var.size() {
            return Err(err(format!(
                "{name}: shape {:?} in file, {:?} in model (another architecture?)",
                src.size(),
                var.size()
            )));
        }
    }
    let mut extra: Vec<&String> =
        file.keys().filter(|k| !allowed_extra(k) && !vars.iter().any(|(n, _)| n == *k)).collect();
    extra.sort();
    if let Some(extra) = extra.first() {
        return Err(err(format!("{extra}: in file but not in model (a checkpoint of another model?)")));
    }
    tch::no_grad(|| {
        for (name, var) in vars.iter_mut() {
            var.f_copy_(&file[name])?;
        }
        Ok::<_, tch::TchError>(())
    })?;
    Ok(())
}

/// Deep copies of all variables, to restore later (best weights under early stopping).
pub fn snapshot(vs: &VarStore) -> Vec<(String, Tensor)> {
    tch::no_grad(|| vs.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect())
}

/// Copies a [`snapshot`] back into `vs`.
pub fn restore(vs: &mut VarStore, snap: &[(String, Tensor)]) -> Result<()> {
    let mut vars = vs.variables();
    tch::no_grad(|| {
        for (name, src) in snap {
            let var = vars
                .get_mut(name)
                .ok_or_else(|| Error::invalid("snapshot", format!("{name} is not a variable of this model")))?;
            var.f_copy_(src)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn;

    fn model(vs: &VarStore, hidden: i64) {
        let p = vs.root();
        let _ = nn::linear(&p / "fc1", 4, hidden, Default::default());
        let _ = nn::linear(&p / "fc2", hidden, 2, Default::default());
    }

    #[test]
    fn round_trip_and_shape_mismatch_named() {
        tch::manual_seed(0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let a = VarStore::new(tch::Device::Cpu);
        model(&a, 3);
        save(&a, &path).unwrap();
        let mut b = VarStore::new(tch::Device::Cpu);
        model(&b, 3);
        load(&mut b, &path).unwrap();
        for (n, t) in a.variables() {
            assert!(t.equal(&b.variables()[&n]), "{n}");
        }
        let mut c = VarStore::new(tch::Device::Cpu);
        model(&c, 5);
        let before = snapshot(&c);
        let e = load(&mut c, &path).unwrap_err().to_string();
        assert!(e.contains("fc1.bias: shape [3] in file, [5] in model"), "{e}");
        for (n, t) in before {
            assert!(t.equal(&c.variables()[&n]), "failed load changed {n}");
        }
        let e = load(&mut c, &dir.path().join("none.safetensors")).unwrap_err().to_string();
        assert!(e.contains("none.safetensors") && e.contains("no such file"), "{e}");
    }
}
