//! The files and expressions an evaluation has read, for error reports.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

/// Identifies one source text known to the evaluator.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FileId(pub u32);

/// A place in a source text: the file and a byte range within it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Span {
    /// The file the range belongs to.
    pub file: FileId,
    /// Byte offset of the first character.
    pub start: u32,
    /// Byte offset one past the last character.
    pub end: u32,
}

/// One source text: a file on disk or an expression given on the command line.
#[derive(Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (a path, or `«string»` for `--expr`).
    pub name: String,
    /// The path on disk, if the text came from a file.
    pub path: Option<PathBuf>,
    /// The text itself.
    pub text: Rc<str>,
    /// The name of the library the file belongs to (see
    /// [`crate::eval::Library`]), `None` for the user's own code.
    pub library: Option<Rc<str>>,
}

/// All source texts of one evaluation. Cloning shares the same map.
#[derive(Clone, Default)]
pub struct SourceMap {
    files: Rc<RefCell<Vec<Rc<SourceFile>>>>,
}

impl SourceMap {
    /// Registers a source text of the user's and returns its id.
    pub fn add(&self, name: String, path: Option<PathBuf>, text: Rc<str>) -> FileId {
        self.add_file(SourceFile { name, path, text, library: None })
    }

    /// Registers a source text and returns its id.
    pub fn add_file(&self, file: SourceFile) -> FileId {
        let mut files = self.files.borrow_mut();
        files.push(Rc::new(file));
        FileId(files.len() as u32 - 1)
    }

    /// The library a span lies in, `None` when it is in the user's code.
    pub fn library_of(&self, span: Span) -> Option<Rc<str>> {
        self.files.borrow()[span.file.0 as usize].library.clone()
    }

    /// Looks a source text up by id.
    pub fn get(&self, id: FileId) -> Rc<SourceFile> {
        self.files.borrow()[id.0 as usize].clone()
    }

    /// The 1-based line and column of a byte offset in a file, as Nix counts
    /// them (columns in bytes).
    pub fn line_column(&self, file: FileId, offset: u32) -> (usize, usize) {
        let source = self.get(file);
        let prefix = &source.text.as_bytes()[..(offset as usize).min(source.text.len())];
        let line = prefix.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = prefix.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        (line, prefix.len() - line_start + 1)
    }
}
