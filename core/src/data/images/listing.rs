//! The files of an image folder and their classes, as torchvision's `ImageFolder` finds
//! them: the class names are the sorted names of the root's subdirectories (class index =
//! rank), and each class holds the files under its directory, at any depth, whose name
//! ends in one of torchvision's image extensions, ordered as `sorted(os.walk(...))` visits
//! them (by directory path, then file name).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// torchvision's `IMG_EXTENSIONS` (compared in lower case). figs decodes JPEG and PNG;
/// the others are listed all the same, so class indices and example order stay
/// torchvision's, and decoding one is an error naming it.
const EXTENSIONS: [&str; 9] = ["jpg", "jpeg", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp"];

/// The classes (sorted) and every image with its class index.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub classes: Vec<String>,
    pub files: Vec<(PathBuf, i64)>,
}

/// Lists `root`, calling `progress` with the running count of files found (a large
/// folder takes a while to walk).
pub fn list(root: &Path, progress: &mut dyn FnMut(usize)) -> Result<Listing> {
    let bad = |message: String| Error::Data { path: root.to_path_buf(), message };
    let mut classes: Vec<String> = Vec::new();
    for entry in read_dir(root)? {
        if entry.1 {
            match entry.0.file_name().and_then(|n| n.to_str()) {
                Some(name) => classes.push(name.to_string()),
                None => {
                    return Err(bad(format!(
                        "the class directory {:?} has a name that is not UTF-8; rename it",
                        entry.0
                    )))
                }
            }
        }
    }
    classes.sort();
    if classes.is_empty() {
        return Err(bad(
            "has no class subdirectories: an image folder holds one directory per class (DIR/cat/1.jpg, DIR/dog/2.jpg …), or train/ and val/ each laid out so".into(),
        ));
    }
    let mut files = Vec::new();
    for (k, class) in classes.iter().enumerate() {
        let before = files.len();
        walk(&root.join(class), k as i64, &mut files, progress)?;
        if files.len() == before {
            return Err(bad(format!(
                "class `{class}` has no images (files ending in {}); torchvision's ImageFolder refuses such a folder too",
                EXTENSIONS.join(", ")
            )));
        }
    }
    Ok(Listing { classes, files })
}

/// Entries of `dir` as (path, is a directory), following links as
/// `os.walk(followlinks=True)`. The entry's type comes from the directory listing; only a
/// link costs a `stat` (a 1.28 M-file folder would otherwise take one per file).
fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, bool)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("cannot list", dir, e))?;
        let p = e.path();
        let is_dir = match e.file_type() {
            Ok(t) if t.is_symlink() => p.is_dir(),
            Ok(t) => t.is_dir(),
            Err(_) => p.is_dir(),
        };
        out.push((p, is_dir));
    }
    Ok(out)
}

/// Images under `dir` in `sorted(os.walk(dir))` order: this directory's files by name, then
/// each subdirectory's, ordered by their paths as strings.
fn walk(dir: &Path, class: i64, files: &mut Vec<(PathBuf, i64)>, progress: &mut dyn FnMut(usize)) -> Result<()> {
    // sorted(os.walk()) orders by the directory path as a string, so "a/b-c" comes before
    // "a/b/x" ('-' < '/'): list every directory once, keeping its files, then sort.
    let mut dirs: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let mut names = Vec::new();
        for (p, is_dir) in read_dir(&d)? {
            if is_dir {
                todo.push(p);
            } else if is_image(&p) {
                names.push(p);
            }
        }
        dirs.push((d, names));
    }
    dirs.sort_by(|a, b| a.0.to_string_lossy().cmp(&b.0.to_string_lossy()));
    for (_, mut names) in dirs {
        names.sort();
        for p in names {
            files.push((p, class));
            if files.len() % 1000 == 0 {
                progress(files.len());
            }
        }
    }
    Ok(())
}

/// Whether the file name ends in one of [`EXTENSIONS`] (any case).
fn is_image(p: &Path) -> bool {
    let ext = p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
    ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}
