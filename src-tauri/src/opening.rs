//! "Open with Sharelock": files named on the command line (`sharelock-desktop FILE…`), at start
//! or forwarded from a second launch by the single-instance plugin, wait here until the window
//! takes them and adds them the way a drop does. Arguments that name no file are kept as
//! sentences for the window to show, never dropped in silence.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// What the command line asked to add, sorted out.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Opened {
    /// Files and folders that exist, as absolute paths.
    pub paths: Vec<String>,
    /// Why each other argument was not taken, one sentence each.
    pub problems: Vec<String>,
}

impl Opened {
    /// Sorts `args` (without the program's name) into paths to add and problems; relative paths
    /// are taken from `cwd`, the launching process's folder.
    pub fn from_args(args: impl IntoIterator<Item = String>, cwd: &Path) -> Opened {
        let mut opened = Opened::default();
        for arg in args {
            match path_of(&arg, cwd) {
                Ok(path) if path.exists() => opened.paths.push(path.display().to_string()),
                Ok(path) => opened.problems.push(format!("{} does not exist", path.display())),
                Err(problem) => opened.problems.push(problem),
            }
        }
        opened
    }

    fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.problems.is_empty()
    }
}

/// The path an argument names: a path, or a `file://` URL (what a file manager passes for
/// `%U`); an option or another kind of URL is no file.
fn path_of(arg: &str, cwd: &Path) -> Result<PathBuf, String> {
    let not_a_file = || format!("“{arg}” is not a file: Sharelock adds files and folders, and takes no options");
    if arg.starts_with('-') || arg.is_empty() {
        return Err(not_a_file());
    }
    if arg.starts_with("file:") {
        return tauri::Url::parse(arg).ok().and_then(|url| url.to_file_path().ok()).ok_or_else(not_a_file);
    }
    if tauri::Url::parse(arg).is_ok_and(|url| url.scheme().len() > 1) {
        // A one-letter "scheme" is a Windows drive (`C:\…`), a path there.
        return Err(not_a_file());
    }
    Ok(cwd.join(arg))
}

/// Files waiting for the window: the app's start may come before the page listens, and a second
/// launch may come at any time.
#[derive(Debug, Default)]
pub struct Opening(Mutex<Opened>);

impl Opening {
    /// Adds `opened` to what waits; true if there is anything in it.
    pub fn push(&self, opened: Opened) -> bool {
        if opened.is_empty() {
            return false;
        }
        for problem in &opened.problems {
            tracing::warn!("not added: {problem}");
        }
        // A std Mutex is right here: held only to move two short lists, never across an await.
        let mut waiting = self.0.lock().unwrap_or_else(|p| p.into_inner());
        waiting.paths.extend(opened.paths);
        waiting.problems.extend(opened.problems);
        true
    }

    /// Everything waiting, taken out.
    pub fn take(&self) -> Opened {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_sorted_into_paths_and_problems_in_words() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.pdf"), "x").unwrap();
        std::fs::write(dir.path().join("with space.txt"), "x").unwrap();
        let url = tauri::Url::from_file_path(dir.path().join("with space.txt")).unwrap();
        let args = ["report.pdf", "--verbose", "missing.pdf", "https://example.com/a.pdf", url.as_str()];
        let opened = Opened::from_args(args.map(String::from), dir.path());
        let at = |name: &str| dir.path().join(name).display().to_string();
        assert_eq!(opened.paths, [at("report.pdf"), at("with space.txt")]);
        assert_eq!(
            opened.problems,
            [
                "“--verbose” is not a file: Sharelock adds files and folders, and takes no options".to_string(),
                format!("{} does not exist", at("missing.pdf")),
                "“https://example.com/a.pdf” is not a file: Sharelock adds files and folders, and takes no options"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn what_waits_is_taken_once() {
        let opening = Opening::default();
        assert!(!opening.push(Opened::default()));
        assert!(opening.push(Opened { paths: vec!["/a".into()], problems: vec![] }));
        assert!(opening.push(Opened { paths: vec!["/b".into()], problems: vec!["no".into()] }));
        assert_eq!(opening.take(), Opened { paths: vec!["/a".into(), "/b".into()], problems: vec!["no".into()] });
        assert_eq!(opening.take(), Opened::default());
    }
}
