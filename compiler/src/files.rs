//! Reading source files (policies, includes, tables) safely.
//!
//! A path named in a policy may be anything: a directory, a FIFO that
//! would block `open()` forever, a device, a symbolic-link loop, a huge
//! or non-UTF-8 file. This module never hangs and never panics on any of
//! them: it stats first (following links) and refuses everything that is
//! not a regular file before opening it, opens with `O_NONBLOCK` and
//! checks the opened file again (closing the race with a swapped path),
//! reads at most [`SIZE_LIMIT`] bytes and validates UTF-8, reporting the
//! line and column of the first bad byte. A leading BOM is dropped.
//! Errors are [`FileError`]s that say what is wrong in a phrase that
//! follows the path ("is a directory"); they never carry Rust type names.

use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest file read: 1 GiB.
pub const SIZE_LIMIT: u64 = 1 << 30;

/// Why a file cannot be read. [`FileError::describe`] says it as a phrase
/// that follows the path: `policy.mailc is a directory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// Nothing at the path (or a component is not a directory).
    NotFound,
    /// The file or a directory on the way may not be read.
    PermissionDenied,
    /// The path is a directory where a file was expected.
    IsDirectory,
    /// A FIFO, socket or device: refused before opening.
    NotRegular {
        /// `"FIFO"`, `"socket"`, `"device"` or `"special file"`.
        kind: &'static str,
    },
    /// Symbolic links that point at each other.
    SymlinkLoop,
    /// The bytes are not UTF-8; 1-based line and column (in characters)
    /// of the first bad byte.
    NotUtf8 {
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
    },
    /// Larger than the limit.
    TooLarge {
        /// The size in bytes (at least `limit + 1` when it grew while read).
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Any other problem, as a complete lowercase phrase
    /// (`cannot be read: input/output error`, `is not a directory`).
    Io(String),
}

impl FileError {
    /// The problem as a lowercase phrase that follows the path.
    pub fn describe(&self) -> String {
        match self {
            FileError::NotFound => "does not exist".to_string(),
            FileError::PermissionDenied => "permission denied".to_string(),
            FileError::IsDirectory => "is a directory".to_string(),
            FileError::NotRegular { kind } => format!("is a {kind}, not a regular file"),
            FileError::SymlinkLoop => "has a symbolic link loop".to_string(),
            FileError::NotUtf8 { line, column } => {
                format!("is not valid UTF-8 (line {line}, column {column})")
            }
            FileError::TooLarge { size, limit } => {
                format!("is too large ({size} bytes; the limit is {limit} bytes)")
            }
            FileError::Io(phrase) => phrase.clone(),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::error::Error for FileError {}

/// `O_NONBLOCK` for this platform (std has no constant and libc is not a
/// dependency); 0 where unknown, which only loses the race protection.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(any(target_arch = "mips", target_arch = "mips64", target_arch = "sparc", target_arch = "sparc64"))
))]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(all(any(target_os = "linux", target_os = "android"), any(target_arch = "mips", target_arch = "mips64")))]
const O_NONBLOCK: i32 = 0o200;
#[cfg(all(any(target_os = "linux", target_os = "android"), any(target_arch = "sparc", target_arch = "sparc64")))]
const O_NONBLOCK: i32 = 0x4000;
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
const O_NONBLOCK: i32 = 0x0004;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
)))]
const O_NONBLOCK: i32 = 0;

/// `ELOOP`: too many levels of symbolic links.
#[cfg(any(target_os = "linux", target_os = "android"))]
const ELOOP: i32 = 40;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const ELOOP: i32 = 62;
/// `ENOTDIR` (the same on Linux and the BSDs).
const ENOTDIR: i32 = 20;
/// `EISDIR` (the same on Linux and the BSDs).
const EISDIR: i32 = 21;

fn map_io(err: &io::Error) -> FileError {
    match err.raw_os_error() {
        Some(ELOOP) => return FileError::SymlinkLoop,
        Some(ENOTDIR) => return FileError::NotFound,
        Some(EISDIR) => return FileError::IsDirectory,
        _ => {}
    }
    match err.kind() {
        io::ErrorKind::NotFound => FileError::NotFound,
        io::ErrorKind::PermissionDenied => FileError::PermissionDenied,
        _ => {
            let text = err.to_string();
            let mut chars = text.chars();
            let text = match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "unknown error".to_string(),
            };
            FileError::Io(format!("cannot be read: {text}"))
        }
    }
}

/// Refuses what is not a regular file.
fn regular(meta: &Metadata) -> Result<(), FileError> {
    let ty = meta.file_type();
    if ty.is_file() {
        return Ok(());
    }
    if ty.is_dir() {
        return Err(FileError::IsDirectory);
    }
    Err(FileError::NotRegular { kind: special_kind(&ty) })
}

#[cfg(unix)]
fn special_kind(ty: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ty.is_fifo() {
        "FIFO"
    } else if ty.is_socket() {
        "socket"
    } else if ty.is_block_device() || ty.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &fs::FileType) -> &'static str {
    "special file"
}

fn too_large(meta: &Metadata) -> Result<(), FileError> {
    if meta.len() > SIZE_LIMIT {
        return Err(FileError::TooLarge { size: meta.len(), limit: SIZE_LIMIT });
    }
    Ok(())
}

fn open_nonblocking(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(O_NONBLOCK);
    }
    options.open(path)
}

/// Reads a regular file as UTF-8 text, without its BOM.
///
/// Never blocks on a FIFO or device and never reads more than
/// [`SIZE_LIMIT`] bytes.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    let meta = fs::metadata(path).map_err(|e| map_io(&e))?;
    regular(&meta)?;
    too_large(&meta)?;
    let file = open_nonblocking(path).map_err(|e| map_io(&e))?;
    // The path may have been swapped between the stat and the open.
    let meta = file.metadata().map_err(|e| map_io(&e))?;
    regular(&meta)?;
    too_large(&meta)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(SIZE_LIMIT + 1).read_to_end(&mut bytes).map_err(|e| map_io(&e))?;
    if bytes.len() as u64 > SIZE_LIMIT {
        return Err(FileError::TooLarge { size: bytes.len() as u64, limit: SIZE_LIMIT });
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|err| {
        let good = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        utf8_position(good)
    })
}

/// Line and column just after `good` (valid UTF-8 by construction).
fn utf8_position(good: &[u8]) -> FileError {
    let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
    // Counting bytes that do not continue a character counts characters.
    let column = good[line_start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
    FileError::NotUtf8 { line, column }
}

/// Names a directory listing skips: hidden files and editor leftovers.
fn skipped(name: &[u8]) -> bool {
    name.starts_with(b".") || name.ends_with(b"~") || name.ends_with(b".bak") || name.ends_with(b".swp")
}

#[cfg(unix)]
fn name_bytes(name: &std::ffi::OsStr) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes()
}

#[cfg(not(unix))]
fn name_bytes(name: &std::ffi::OsStr) -> &[u8] {
    name.as_encoded_bytes()
}

/// The regular files in a directory (symbolic links followed), sorted
/// byte-wise by name, without hidden files (`.x`) and editor leftovers
/// (`x~`, `x.bak`, `x.swp`). Entries that are not regular files, or that
/// cannot be stat'ed (a dangling link), are left out.
pub fn read_dir_sorted(path: &Path) -> Result<Vec<PathBuf>, FileError> {
    let meta = fs::metadata(path).map_err(|e| map_io(&e))?;
    if !meta.is_dir() {
        return Err(FileError::Io("is not a directory".to_string()));
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| map_io(&e))? {
        let entry = entry.map_err(|e| map_io(&e))?;
        let name = entry.file_name();
        if skipped(name_bytes(&name)) {
            continue;
        }
        let full = path.join(&name);
        if fs::metadata(&full).is_ok_and(|m| m.is_file()) {
            names.push((name, full));
        }
    }
    names.sort_by(|a, b| name_bytes(&a.0).cmp(name_bytes(&b.0)));
    Ok(names.into_iter().map(|(_, full)| full).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static COUNT: AtomicUsize = AtomicUsize::new(0);
            let n = COUNT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("mailc-files-{}-{name}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, bytes).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_text_and_strips_a_bom() {
        let dir = TempDir::new("text");
        assert_eq!(read_text(&dir.file("a", b"key value\n")).unwrap(), "key value\n");
        assert_eq!(read_text(&dir.file("b", b"\xEF\xBB\xBFx\n")).unwrap(), "x\n");
        assert_eq!(read_text(&dir.file("c", b"")).unwrap(), "");
    }

    #[test]
    fn missing_file_and_missing_parent() {
        let dir = TempDir::new("missing");
        assert_eq!(read_text(&dir.0.join("nope")), Err(FileError::NotFound));
        let file = dir.file("f", b"x");
        assert_eq!(read_text(&file.join("under-a-file")), Err(FileError::NotFound));
        assert_eq!(FileError::NotFound.to_string(), "does not exist");
    }

    #[test]
    fn directory_is_refused() {
        let dir = TempDir::new("dir");
        let err = read_text(&dir.0).unwrap_err();
        assert_eq!(err, FileError::IsDirectory);
        assert_eq!(err.describe(), "is a directory");
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let dir = TempDir::new("fifo");
        let fifo = dir.0.join("pipe");
        match std::process::Command::new("mkfifo").arg(&fifo).status() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return, // no mkfifo here
            Err(e) => panic!("mkfifo: {e}"),
            Ok(status) => assert!(status.success()),
        }
        let err = read_text(&fifo).unwrap_err();
        assert_eq!(err, FileError::NotRegular { kind: "FIFO" });
        assert_eq!(err.describe(), "is a FIFO, not a regular file");
        // And a directory listing leaves it out.
        dir.file("table", b"");
        assert_eq!(read_dir_sorted(&dir.0).unwrap(), [dir.0.join("table")]);
    }

    #[test]
    fn device_is_refused() {
        let null = Path::new("/dev/null");
        if null.exists() {
            assert_eq!(read_text(null), Err(FileError::NotRegular { kind: "device" }));
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loop_is_reported() {
        let dir = TempDir::new("loop");
        let (a, b) = (dir.0.join("a"), dir.0.join("b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let err = read_text(&a).unwrap_err();
        assert_eq!(err, FileError::SymlinkLoop);
        assert_eq!(err.describe(), "has a symbolic link loop");
        // A link to a regular file is followed.
        let target = dir.file("target", b"ok");
        std::os::unix::fs::symlink(&target, dir.0.join("link")).unwrap();
        assert_eq!(read_text(&dir.0.join("link")).unwrap(), "ok");
    }

    #[test]
    fn invalid_utf8_has_a_position() {
        let dir = TempDir::new("utf8");
        let path = dir.file("bad", b"first\nsecond\nab\xC3\xA7de\xFFf\n");
        let err = read_text(&path).unwrap_err();
        assert_eq!(err, FileError::NotUtf8 { line: 3, column: 6 });
        assert_eq!(err.describe(), "is not valid UTF-8 (line 3, column 6)");
        let path = dir.file("first-byte", b"\x80");
        assert_eq!(read_text(&path), Err(FileError::NotUtf8 { line: 1, column: 1 }));
        // A BOM does not shift the column.
        let path = dir.file("bom", b"\xEF\xBB\xBFab\xC3");
        assert_eq!(read_text(&path), Err(FileError::NotUtf8 { line: 1, column: 3 }));
    }

    #[test]
    fn huge_file_is_refused_unread() {
        let dir = TempDir::new("huge");
        let path = dir.0.join("sparse");
        let file = File::create(&path).unwrap();
        file.set_len(SIZE_LIMIT + 1).unwrap(); // sparse: no disk used
        drop(file);
        let err = read_text(&path).unwrap_err();
        assert_eq!(err, FileError::TooLarge { size: SIZE_LIMIT + 1, limit: SIZE_LIMIT });
        assert!(err.describe().starts_with("is too large"));
    }

    #[test]
    fn directory_listing_is_sorted_and_skips_leftovers() {
        let dir = TempDir::new("list");
        for name in ["b.conf", "a.conf", "B.conf", ".hidden", "x~", "y.bak", "z.swp", "10", "9"] {
            dir.file(name, b"");
        }
        fs::create_dir(dir.0.join("subdir")).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.0.join("a.conf"), dir.0.join("c-link")).unwrap();
            std::os::unix::fs::symlink(dir.0.join("gone"), dir.0.join("d-dangling")).unwrap();
        }
        let got = read_dir_sorted(&dir.0).unwrap();
        let names: Vec<String> = got.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        let mut want = vec!["10", "9", "B.conf", "a.conf", "b.conf"];
        if cfg!(unix) {
            want.push("c-link");
        }
        assert_eq!(names, want);
        assert!(got.iter().all(|p| p.starts_with(&dir.0)));
    }

    #[test]
    fn directory_listing_errors() {
        let dir = TempDir::new("listerr");
        assert_eq!(read_dir_sorted(&dir.0.join("nope")), Err(FileError::NotFound));
        let file = dir.file("f", b"");
        let err = read_dir_sorted(&file).unwrap_err();
        assert_eq!(err.describe(), "is not a directory");
    }
}
