//! The Rust side of figs' C boundary with `core/csrc` (`csrc/ffi.h`): a C++ function returns
//! null, or a malloc'd message of the exception it caught, which becomes an [`Error`] here.

use crate::error::{Error, Result};
use std::ffi::{c_char, CStr};

unsafe extern "C" {
    fn figs_free_error(s: *mut c_char);
}

/// `Ok` for a null `err`; otherwise the message's first line (libtorch appends a C++ stack),
/// as an error of setting `what`, and the message freed.
pub(crate) fn check(err: *mut c_char, what: &str) -> Result<()> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return of core/csrc is a NUL-terminated string from malloc, owned
    // by the caller and freed once, here.
    let msg = unsafe {
        let m = CStr::from_ptr(err).to_string_lossy().into_owned();
        figs_free_error(err);
        m
    };
    Err(Error::config(what, msg.lines().next().unwrap_or("").to_owned()))
}
