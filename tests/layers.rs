//! The crates read as layers: a module imports only modules declared above it in its parent
//! (`lib.rs` or the module's own file), so no file imports one that imports it back and a
//! newcomer can read the runtime from the ground floor up. Checked on the sources, for both
//! crates: `crate::name` paths at the top level (through the crate root's re-exports, so
//! `crate::Signal` counts as an import of `signal`) and `super::name` paths between the
//! stages of one module (the macros' `ast`, `attr`, `valid`, `expand`). And no runtime file
//! grows past what a newcomer can hold.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A runtime or macro source file longer than this is split by concept.
const MAX_LINES: usize = 700;

/// Source without comments (line and block) or string literals, so that prose such as
/// "`crate::Worker`" in a doc comment or a message is not read as an import.
fn code_of(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            // A raw string's `r#"` reads as `r#` then a string: close enough for this source.
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal such as '"' or '\n' (not a lifetime).
            let end = src[i + 1..].find('\'').map_or(b.len(), |e| i + 2 + e);
            i = end;
            out.push_str("' '");
        } else {
            let ch = src[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first segments a path rooted at `root` (`crate::` or `super::`) names: `a` for
/// `crate::a::B`, and `a`, `b` for `crate::{a::X, b, c::{..}}`.
fn roots_after(code: &str, root: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices(root) {
        // `super::super::x` and `self::` paths stay inside the module: not a sibling.
        let before = code[..at].trim_end();
        if before.ends_with("::") {
            continue;
        }
        let rest = &code[at + root.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.insert(ident_at(group[start..].trim_start()).to_string());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(ident_at(group[start..].trim_start()).to_string());
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident_at(rest).to_string());
        }
    }
    names.remove("");
    names.remove("self");
    names.remove("super");
    names
}

/// `mod x;` declarations of a module file, in order (inline `mod tests { .. }` excluded).
fn declared(code: &str) -> Vec<String> {
    let mut mods = Vec::new();
    for line in code.lines() {
        let line = line.trim();
        let rest = line
            .strip_prefix("pub(crate) mod ")
            .or_else(|| line.strip_prefix("pub mod "))
            .or_else(|| line.strip_prefix("mod "));
        if let Some(rest) = rest {
            let name = ident_at(rest);
            if rest[name.len()..].trim_start().starts_with(';') {
                mods.push(name.to_string());
            }
        }
    }
    mods
}

/// `pub use module::{A, B as C};` in the crate root: which module each name comes from.
fn reexports(code: &str, modules: &[String]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in code.split(';') {
        let Some(at) = stmt.find("pub use ") else {
            continue;
        };
        let path = stmt[at + "pub use ".len()..].trim();
        let module = ident_at(path);
        if !modules.iter().any(|m| m == module) {
            continue;
        }
        let items = path[module.len()..].trim_start_matches("::");
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.rsplit(" as ").next().unwrap_or("").trim();
            if !name.is_empty() {
                map.insert(name.to_string(), module.to_string());
            }
        }
    }
    map
}

/// The file a `#[path = "file.rs"]` attribute gives module `name` in the source `parent`.
fn path_attr(parent: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = parent.lines().map(str::trim).collect();
    lines.windows(2).find_map(|w| {
        let decl = w[1].rsplit("mod ").next()?;
        let file = w[0].strip_prefix("#[path = \"")?.strip_suffix("\"]")?;
        (ident_at(decl) == name).then(|| file.to_string())
    })
}

/// The files of module `name` declared in the module file `parent` (whose children live in
/// `dir`): its own file and everything under `name/` (its submodules belong to it).
fn files_of(parent: &Path, dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let file = match path_attr(&read(parent), name) {
        Some(file) => dir.join(file),
        None => dir.join(format!("{name}.rs")),
    };
    if file.exists() {
        files.push(file);
    }
    let mut stack = vec![dir.join(name)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable dir").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks that each module of the module file `file` (whose children live in `dir`) names,
/// through `root` paths, only modules declared above it. Returns the violations.
fn check_level(
    file: &Path,
    dir: &Path,
    root: &str,
    names: &BTreeMap<String, String>,
) -> Vec<String> {
    let parent = code_of(&read(file));
    let order = declared(&parent);
    let mut wrong = Vec::new();
    for (pos, module) in order.iter().enumerate() {
        let mut uses = BTreeSet::new();
        for path in files_of(file, dir, module) {
            // For `super::`, only the module's own file or its `mod.rs` names its siblings;
            // deeper files' `super` is the module itself.
            let direct = path.parent() == Some(dir) || path.ends_with(format!("{module}/mod.rs"));
            if root == "super::" && !direct {
                continue;
            }
            for name in roots_after(&code_of(&read(&path)), root) {
                uses.insert(names.get(&name).cloned().unwrap_or(name));
            }
        }
        for used in uses {
            match order.iter().position(|m| *m == used) {
                Some(p) if p > pos => wrong.push(format!(
                    "{}: `{module}` imports `{used}`, declared below it",
                    file.display()
                )),
                _ => {}
            }
        }
    }
    wrong
}

fn check_crate(src: &Path) -> Vec<String> {
    let lib = src.join("lib.rs");
    let root = code_of(&read(&lib));
    let top = declared(&root);
    let names = reexports(&root, &top);
    let mut wrong = check_level(&lib, src, "crate::", &names);
    // Within each module that has submodules: its stages import one way too.
    for module in &top {
        let own = files_of(&lib, src, module);
        let file = own
            .iter()
            .find(|f| f.parent() == Some(src) || f.ends_with(format!("{module}/mod.rs")))
            .unwrap_or_else(|| panic!("module `{module}` has a file"));
        wrong.extend(check_level(
            file,
            &src.join(module),
            "super::",
            &BTreeMap::new(),
        ));
        for path in &own {
            let lines = read(path).lines().count();
            if lines > MAX_LINES {
                wrong.push(format!(
                    "{}: {lines} lines (over {MAX_LINES}): split it by concept",
                    path.display()
                ));
            }
        }
    }
    wrong
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_runtime_imports_one_way() {
    let wrong = check_crate(&workspace().join("loops/src"));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_macros_import_one_way() {
    let wrong = check_crate(&workspace().join("loops-macros/src"));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_an_import_from_below_and_through_a_reexport() {
    let dir = std::env::temp_dir().join(format!("superloops-layers-{}", std::process::id()));
    let src = dir.join("src");
    fs::create_dir_all(src.join("high")).unwrap();
    fs::write(
        src.join("lib.rs"),
        "mod low;\nmod high;\npub use high::Top;\n",
    )
    .unwrap();
    // `low` names `Top` through the root: an import of `high`, which is above it.
    fs::write(
        src.join("low.rs"),
        "use crate::{Top, high::X}; // crate::low\n",
    )
    .unwrap();
    fs::write(src.join("high.rs"), "mod b;\nmod a;\nuse crate::low;\n").unwrap();
    fs::write(src.join("high/a.rs"), "\"super::b\";\n").unwrap();
    fs::write(src.join("high/b.rs"), "use super::a::Thing;\n").unwrap();
    let wrong = check_crate(&src);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(wrong.len(), 2, "{wrong:#?}");
    assert!(wrong[0].contains("`low` imports `high`"), "{wrong:#?}");
    assert!(wrong[1].contains("`b` imports `a`"), "{wrong:#?}");
}
