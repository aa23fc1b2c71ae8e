//! Version 1 of the dylib plugin ABI: the `#[repr(C)]` types a host and a
//! plugin library share. Both sides are usually built from this file, but
//! with different compilers, SDK and polars versions; only this layout is
//! common to them.
//!
//! # Entry point
//!
//! A plugin library exports one symbol, [`PLUGIN_SYMBOL`]
//! (`algohost_plugin_v1`), of type [`PluginEntryV1`]. It returns a pointer to
//! a [`PluginV1`] table that lives as long as the library (hosts never unload
//! plugin libraries). [`PluginV1::abi_major`] and [`PluginV1::abi_minor`] are
//! its first two fields in every ABI version, so a host reads them before
//! anything else and rejects a table whose major differs from its own or
//! whose minor is newer.
//!
//! # Evolution: append only
//!
//! Within major 1, structs only grow: a new field goes at the end of a
//! struct, and [`ABI_MINOR`] goes up. Nothing is removed, reordered or
//! retyped; that would be ABI 2 (a new symbol, `algohost_plugin_v2`).
//! Because of this:
//! - structs cross by pointer, never by value, and an out-parameter is
//!   allocated and initialised (with its `empty()` value) by the caller, so a
//!   callee built for an older minor writes a prefix and leaves the rest empty;
//! - a host reads a field added after 1.0 only when the plugin's
//!   `abi_minor` says the plugin knows it; a plugin never has a newer minor
//!   than its host (the host refused it), so it may use all of [`HostV1`].
//!
//! # Strings
//!
//! UTF-8, pointer + length, no NUL terminator. [`StrRef`] is borrowed: valid
//! for the duration of the call it is passed to (or, in [`PluginV1`] and
//! [`AlgorithmV1`], as long as the library). [`OwnedStr`] is owned by the
//! receiver, who calls its `release` once (Rust: drops it).
//!
//! # Ownership: whoever allocates frees
//!
//! Memory is freed by the side that allocated it, through the release
//! callback it attached: the `release` of [`OwnedStr`] and [`FramesV1`], and
//! the Arrow C stream's and arrays' own `release`. The receiver of an owned
//! value triggers the release; it never frees the memory itself.
//!
//! Frames cross as Arrow C streams ([`ArrowArrayStream`]) of struct arrays,
//! one per record batch: the layout of the Arrow PyCapsule interface's
//! `__arrow_c_stream__`. See [`super::frames`].
//!
//! # Calls and threads
//!
//! The host calls [`AlgorithmV1::run`] on any thread, possibly several runs at
//! once. The plugin may call [`HostV1`]'s callbacks from any thread, but only
//! while that `run` call has not returned. No panic or other unwinding
//! crosses an `extern "C"` function in either direction: every exported body
//! catches it and turns it into an error.

use std::borrow::Cow;
use std::ffi::c_void;

use polars::prelude::PolarsError;
pub use polars_arrow::ffi::ArrowArrayStream;

use crate::error::Error;

/// The ABI's major version: a host loads only plugins with the same major.
pub const ABI_MAJOR: u32 = 1;
/// The ABI's minor version: a host loads plugins with the same or an older
/// minor.
pub const ABI_MINOR: u32 = 0;
/// The name of the symbol every plugin library exports.
pub const PLUGIN_SYMBOL: &str = "algohost_plugin_v1";

/// The type of [`PLUGIN_SYMBOL`]: returns the library's table (never freed),
/// or null if it could not even build one.
pub type PluginEntryV1 = unsafe extern "C" fn() -> *const PluginV1;

/// A plugin library's table.
#[repr(C)]
#[derive(Debug)]
pub struct PluginV1 {
    /// ABI major version the plugin was built for. First field in every ABI.
    pub abi_major: u32,
    /// ABI minor version the plugin was built for. Second field in every ABI.
    pub abi_minor: u32,
    /// Version of algohost-sdk the plugin was built with.
    pub sdk_version: StrRef,
    /// `rustc --version` of the compiler that built the plugin.
    pub rustc_version: StrRef,
    /// Why the plugin could not build its table (for example a panic while
    /// building a manifest); empty when it loaded. When set, `algorithms` is
    /// empty.
    pub load_error: StrRef,
    /// The plugin's algorithms, `algorithm_count` of them.
    pub algorithms: *const AlgorithmV1,
    /// How many algorithms `algorithms` points to.
    pub algorithm_count: usize,
}

/// Runs an algorithm. `out` is initialised by the host with
/// [`RunResultV1::empty`] and overwritten by the plugin.
pub type RunFnV1 = unsafe extern "C" fn(
    algorithm: *const AlgorithmV1,
    host: *const HostV1,
    params_json: StrRef,
    out: *mut RunResultV1,
);

/// One algorithm of a plugin.
#[repr(C)]
#[derive(Debug)]
pub struct AlgorithmV1 {
    /// The algorithm's manifest, as JSON (see `Manifest`).
    pub manifest_json: StrRef,
    /// Runs it: the host passes this struct's address back as `algorithm`,
    /// its callbacks as `host` and the validated params as JSON.
    pub run: RunFnV1,
    /// The plugin's own data for `run`; hosts do not touch it.
    pub private_data: *const c_void,
}

/// The callbacks a host gives a running algorithm. Every callback gets
/// [`HostV1::data`] as its first argument. Fallible callbacks return `true`
/// on success; on failure they return `false` and fill `error` (which the
/// caller initialised with [`ErrorV1::empty`] and then owns).
#[repr(C)]
#[derive(Debug)]
pub struct HostV1 {
    /// The host's own data for the callbacks; plugins do not touch it.
    pub data: *const c_void,
    /// The run's id.
    pub run_id: StrRef,
    /// The algorithm's name.
    pub algorithm: StrRef,
    /// Whether the run has a deadline.
    pub has_deadline: bool,
    /// The deadline, in microseconds since the Unix epoch (when
    /// `has_deadline`).
    pub deadline_unix_micros: i64,
    /// Whether the run was asked to stop (not counting the deadline).
    pub is_cancelled: unsafe extern "C" fn(data: *const c_void) -> bool,
    /// Reports progress (`fraction` in `0..=1`, monotonic) with a message.
    pub progress: unsafe extern "C" fn(data: *const c_void, fraction: f64, message: StrRef),
    /// Keeps a log record on the run: a `LogRecord` as JSON.
    pub log: unsafe extern "C" fn(data: *const c_void, record_json: StrRef),
    /// Data points matching a `DataPointFilter` (JSON); writes a JSON array
    /// of `DataPointConfig` to `out_json`.
    pub data_points: unsafe extern "C" fn(
        data: *const c_void,
        filter_json: StrRef,
        out_json: *mut OwnedStr,
        error: *mut ErrorV1,
    ) -> bool,
    /// Samples in long form for a `DataPointFilter` (JSON), written to `out`
    /// as a stream the caller then owns (and releases).
    pub read: unsafe extern "C" fn(
        data: *const c_void,
        filter_json: StrRef,
        out: *mut ArrowArrayStream,
        error: *mut ErrorV1,
    ) -> bool,
    /// Writes samples in long form. The stream is lent for the call: the
    /// host reads every batch, the caller releases the stream afterwards.
    pub write: unsafe extern "C" fn(
        data: *const c_void,
        frame: *mut ArrowArrayStream,
        error: *mut ErrorV1,
    ) -> bool,
    /// Creates missing data points from a JSON array of `DataPointConfig`;
    /// writes the stored configs (with ids) as a JSON array to `out_json`.
    pub define_data_points: unsafe extern "C" fn(
        data: *const c_void,
        points_json: StrRef,
        out_json: *mut OwnedStr,
        error: *mut ErrorV1,
    ) -> bool,
}

/// What [`AlgorithmV1::run`] returns.
#[repr(C)]
#[derive(Debug)]
pub struct RunResultV1 {
    /// `true` when the algorithm succeeded; then `error` is empty.
    pub is_ok: bool,
    /// The error when `is_ok` is false.
    pub error: ErrorV1,
    /// The output's summary as JSON (empty means `null`).
    pub summary_json: OwnedStr,
    /// The output's named frames.
    pub frames: FramesV1,
}

impl RunResultV1 {
    /// The value a caller initialises the out-parameter with: failed, with
    /// nothing in it.
    pub fn empty() -> Self {
        Self {
            is_ok: false,
            error: ErrorV1::empty(),
            summary_json: OwnedStr::empty(),
            frames: FramesV1::empty(),
        }
    }
}

/// An error crossing the boundary: `kind` is [`Error::kind`], `message`
/// the error's text without the kind's prefix. Both empty means "no error".
#[repr(C)]
#[derive(Debug)]
pub struct ErrorV1 {
    /// `cancelled`, `timed_out`, `invalid_input`, `data`, `polars`, `failed`
    /// ([`Error::kind`]), or `panic` (the message is the panic's, after
    /// `panicked at src/lib.rs:42:5: ` when the plugin knew where: see
    /// [`Panic::text`](crate::panic::Panic::text); plugins built before send
    /// the message alone); unknown kinds are read as `failed`.
    pub kind: OwnedStr,
    /// What went wrong.
    pub message: OwnedStr,
}

impl ErrorV1 {
    /// No error (the initial value of an out-parameter).
    pub fn empty() -> Self {
        Self {
            kind: OwnedStr::empty(),
            message: OwnedStr::empty(),
        }
    }

    /// The boundary form of `error`.
    pub fn from_error(error: &Error) -> Self {
        let message = match error {
            Error::InvalidInput(m) | Error::Data(m) | Error::Panicked(m) | Error::Failed(m) => {
                m.clone()
            }
            Error::Polars(e) => e.to_string(),
            Error::Cancelled | Error::DeadlineExceeded | Error::Raised { .. } => error.to_string(),
        };
        Self {
            kind: OwnedStr::new(error.kind()),
            message: OwnedStr::new(message),
        }
    }

    /// A panic caught on this side, with its
    /// [`Panic::text`](crate::panic::Panic::text).
    pub fn panic(message: &str) -> Self {
        Self {
            kind: OwnedStr::new("panic"),
            message: OwnedStr::new(message),
        }
    }

    /// The [`Error`] it stands for: the same variant as on the other side
    /// (a polars error keeps its message, not its polars variant).
    pub fn to_error(&self) -> Error {
        let message = self.message.as_str().into_owned();
        match &*self.kind.as_str() {
            "cancelled" => Error::Cancelled,
            "timed_out" => Error::DeadlineExceeded,
            "invalid_input" => Error::InvalidInput(message),
            "data" => Error::Data(message),
            "polars" => Error::Polars(PolarsError::ComputeError(message.into())),
            "panic" => Error::Panicked(message),
            "" if message.is_empty() => {
                Error::Failed("the plugin reported an error without a message".to_owned())
            }
            _ => Error::Failed(message),
        }
    }
}

/// A borrowed UTF-8 string: pointer + length, no NUL terminator.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StrRef {
    /// First byte (may be null when `len` is 0).
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrRef {
    /// The empty string.
    pub const EMPTY: StrRef = StrRef {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows `s`; the result must not outlive it.
    pub const fn new(s: &str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The text (invalid UTF-8 is replaced, not trusted).
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid and unchanged
    /// for `'a` (or `len` must be 0).
    pub unsafe fn as_str<'a>(self) -> Cow<'a, str> {
        if self.ptr.is_null() || self.len == 0 {
            return Cow::Borrowed("");
        }
        // SAFETY: the caller guarantees `len` readable bytes at `ptr` for 'a.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        // Valid UTF-8 (the norm) is checked by the fast validator and borrowed.
        match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(bytes),
        }
    }
}

/// An owned UTF-8 string handed to the other side, which releases it once
/// (a Rust receiver just drops it). The memory is freed by the allocating
/// side's `release`.
///
/// C layout: `{ const uint8_t *ptr; size_t len; void (*release)(OwnedStr *); }`;
/// `release` is null for an empty string and after release.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedStr {
    ptr: *const u8,
    len: usize,
    release: Option<unsafe extern "C" fn(this: *mut OwnedStr)>,
}

// SAFETY: an `OwnedStr` exclusively owns immutable bytes; its release
// callback may run on any thread (it only frees memory).
unsafe impl Send for OwnedStr {}

impl OwnedStr {
    /// No string (reads as empty; releasing it does nothing).
    pub const fn empty() -> Self {
        Self {
            ptr: std::ptr::null(),
            len: 0,
            release: None,
        }
    }

    /// Hands `s` over; its memory comes back to this side's allocator
    /// through `release`.
    pub fn new(s: impl Into<String>) -> Self {
        let boxed: Box<str> = s.into().into_boxed_str();
        let len = boxed.len();
        let ptr = Box::into_raw(boxed) as *const u8;
        Self {
            ptr,
            len,
            release: Some(release_owned_str),
        }
    }

    /// The text (invalid UTF-8 is replaced, not trusted).
    pub fn as_str(&self) -> Cow<'_, str> {
        // SAFETY: an `OwnedStr` is only ever built by `new` (on this side or,
        // with the same layout and contract, on the other one), so `ptr`
        // points to `len` bytes that live until `release` runs, which needs
        // `&mut self`.
        unsafe {
            StrRef {
                ptr: self.ptr,
                len: self.len,
            }
            .as_str()
        }
    }
}

impl Drop for OwnedStr {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            // SAFETY: `release` came with the string from its allocating
            // side, is called once (taken above) with the string it belongs
            // to, and no borrow of the bytes outlives `&mut self`.
            unsafe { release(self) };
        }
    }
}

unsafe extern "C" fn release_owned_str(this: *mut OwnedStr) {
    // SAFETY: called through `OwnedStr::release` with a string built by
    // `OwnedStr::new` on this side: `ptr`/`len` are a leaked `Box<str>`.
    unsafe {
        let this = &mut *this;
        if !this.ptr.is_null() {
            let slice = std::ptr::slice_from_raw_parts_mut(this.ptr as *mut u8, this.len);
            drop(Box::from_raw(slice as *mut str));
        }
        this.ptr = std::ptr::null();
        this.len = 0;
        this.release = None;
    }
}

/// A named output frame.
#[repr(C)]
#[derive(Debug)]
pub struct NamedFrameV1 {
    /// The frame's name in the output.
    pub name: OwnedStr,
    /// Its batches. The receiver may read (consume) it in place; the stream
    /// is released with the [`FramesV1`] that holds it.
    pub stream: ArrowArrayStream,
}

/// An owned array of named frames; `release` frees the array and whatever
/// it still holds.
///
/// C layout: `{ NamedFrameV1 *ptr; size_t len; void (*release)(FramesV1 *); }`;
/// `release` is null when empty and after release.
#[repr(C)]
#[derive(Debug)]
pub struct FramesV1 {
    ptr: *mut NamedFrameV1,
    len: usize,
    release: Option<unsafe extern "C" fn(this: *mut FramesV1)>,
}

// SAFETY: `FramesV1` exclusively owns its frames; Arrow streams may be
// consumed and released on any thread (the C stream interface's contract).
unsafe impl Send for FramesV1 {}

impl FramesV1 {
    /// No frames.
    pub const fn empty() -> Self {
        Self {
            ptr: std::ptr::null_mut(),
            len: 0,
            release: None,
        }
    }

    /// Hands `frames` over; they come back to this side's allocator through
    /// `release`.
    pub fn new(frames: Vec<NamedFrameV1>) -> Self {
        let boxed = frames.into_boxed_slice();
        let len = boxed.len();
        let ptr = Box::into_raw(boxed) as *mut NamedFrameV1;
        Self {
            ptr,
            len,
            release: Some(release_frames),
        }
    }

    /// The frames, to be read in place.
    pub fn as_mut_slice(&mut self) -> &mut [NamedFrameV1] {
        if self.ptr.is_null() || self.len == 0 {
            return &mut [];
        }
        // SAFETY: built by `FramesV1::new` (here or on the other side, same
        // contract): `len` initialised frames at `ptr`, alive until `release`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for FramesV1 {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            // SAFETY: `release` came with the frames from their allocating
            // side and is called once (taken above); no borrow outlives
            // `&mut self`.
            unsafe { release(self) };
        }
    }
}

unsafe extern "C" fn release_frames(this: *mut FramesV1) {
    // SAFETY: called through `FramesV1::release` with frames built by
    // `FramesV1::new` on this side: `ptr`/`len` are a leaked boxed slice.
    unsafe {
        let this = &mut *this;
        if !this.ptr.is_null() {
            let slice = std::ptr::slice_from_raw_parts_mut(this.ptr, this.len);
            drop(Box::from_raw(slice));
        }
        this.ptr = std::ptr::null_mut();
        this.len = 0;
        this.release = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_variant_and_message_across_the_boundary() {
        let cases = [
            Error::Cancelled,
            Error::DeadlineExceeded,
            Error::InvalidInput("bad limit".into()),
            Error::Data("no such file".into()),
            Error::Polars(PolarsError::ComputeError("boom".into())),
            Error::Panicked("index out of bounds".into()),
            Error::Failed("the battery is empty".into()),
        ];
        for error in cases {
            let back = ErrorV1::from_error(&error).to_error();
            assert_eq!(back.kind(), error.kind());
            assert_eq!(back.to_string(), error.to_string());
        }
    }

    #[test]
    fn panics_read_as_panics_that_say_so() {
        let e = ErrorV1::panic("index out of bounds").to_error();
        assert!(
            matches!(&e, Error::Panicked(m) if m == "index out of bounds"),
            "{e:?}"
        );
        // What a plugin built before locations were sent says.
        assert_eq!(e.to_string(), "the plugin panicked: index out of bounds");
        let e = ErrorV1::panic("panicked at src/lib.rs:42:5: index out of bounds").to_error();
        assert_eq!(
            e.to_string(),
            "the plugin panicked at src/lib.rs:42:5: index out of bounds"
        );
    }

    #[test]
    fn unknown_kinds_read_as_failed() {
        let e = ErrorV1 {
            kind: OwnedStr::new("from_the_future"),
            message: OwnedStr::new("msg"),
        };
        assert!(matches!(e.to_error(), Error::Failed(m) if m == "msg"));
    }

    #[test]
    fn owned_strings_round_trip_utf8() {
        let s = OwnedStr::new("Grüße, 東京 ⚡");
        assert_eq!(s.as_str(), "Grüße, 東京 ⚡");
        assert_eq!(OwnedStr::empty().as_str(), "");
        assert_eq!(OwnedStr::new("").as_str(), "");
    }

    #[test]
    fn the_version_header_comes_first() {
        assert_eq!(std::mem::offset_of!(PluginV1, abi_major), 0);
        assert_eq!(std::mem::offset_of!(PluginV1, abi_minor), 4);
    }
}
