//! Reading and writing named float tensors as safetensors, atomically, with errors that
//! name the file and the tensor.

use crate::error::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Writes `tensors` (converted to float32, on the CPU) to `path` through a temp file and a
/// rename. Equal tensors give equal files.
pub fn write_weights(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let bad = |m: String| Error::Weights { path: path.into(), message: m };
    let mut bytes: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let values = Vec::<f32>::try_from(t.view(-1))?;
        bytes.push((name.clone(), shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()));
    }
    let views: Vec<(&str, TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.as_str(), v)))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(format!("{e:?}")))?;
    // One metadata entry only: the crate keeps metadata in a HashMap, whose order would
    // make two exports of the same network differ byte for byte.
    let meta: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let data = safetensors::tensor::serialize(views, &Some(meta)).map_err(|e| bad(format!("{e:?}")))?;
    crate::io::write_atomic(path, &data)
}

/// Reads every tensor of a safetensors file (float32 or float64) as float32 on the CPU.
pub fn read_weights(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let bad = |m: String| Error::Weights { path: path.into(), message: m };
    let data = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    let st = SafeTensors::deserialize(&data)
        .map_err(|e| bad(format!("not a valid safetensors file ({e:?}); write it again with `export`")))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F64 => Kind::Double,
            other => return Err(bad(format!("tensor `{name}` is {other:?}; figs reads float32 and float64"))),
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, kind)?.to_kind(Kind::Float);
        out.push((name, t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_names_shapes_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        let a = Tensor::from_slice(&[1.5f32, -2.0, 3.25, 0.0, 7.0, 8.0]).view([2, 3]);
        let b = Tensor::from_slice(&[0.5f64]);
        write_weights(&p, &[("x.weight".into(), a.shallow_clone()), ("y.bias".into(), b)]).unwrap();
        let r = read_weights(&p).unwrap();
        assert_eq!(r.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["x.weight", "y.bias"]);
        assert_eq!(r[0].1.size(), [2, 3]);
        assert!(r[0].1.equal(&a));
        assert_eq!(f64::try_from(&r[1].1).unwrap(), 0.5);
    }

    #[test]
    fn a_truncated_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        write_weights(&p, &[("x".into(), Tensor::ones([4], (Kind::Float, Device::Cpu)))]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let e = read_weights(&p).unwrap_err().to_string();
        assert!(e.contains("w.safetensors") && e.contains("not a valid safetensors file"), "{e}");
    }
}
