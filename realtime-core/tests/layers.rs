//! The crate's layers, checked: every top-level module of `realtime-core/src` belongs to one
//! layer, and may use modules of its own layer or of layers below, never above. Within a
//! layer, modules may not use each other in a cycle.
//!
//! The layers, bottom to top, are the crate doc's module map (`src/lib.rs`); this test keeps
//! the map true. A `crate::x` path anywhere in a module's files (in `use` or inline) counts
//! as a use of `x`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Bottom to top. A module may use its own layer and the layers before it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "config",
            "client_log",
            "dates",
            "logging",
            "ratelimit",
            "wait",
        ],
    ),
    ("wire codecs", &["wire"]),
    ("transports", &["websocket", "engine"]),
    ("live objects", &["live"]),
    ("handlers", &["handler"]),
    ("features", &["session", "auth", "shakehand", "cluster"]),
    ("server", &["server"]),
    ("crate surface", &["docs", "private"]),
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
        .unwrap_or_else(|| {
            panic!("module `{module}` is in no layer: add it to LAYERS and to the crate doc's map")
        })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/live/socket.rs` → `live`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib").then_some(name)
}

/// Top-level modules named after `crate::` in `text`, including every item of a grouped
/// `use crate::{a::x, b, c::{y, z}}`.
fn crate_uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let code: String = text
        .lines()
        .map(|l| match l.trim_start().starts_with("//") {
            true => "",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Items at depth 1 of the group.
            let mut depth = 1;
            let mut item = String::new();
            let mut at_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        if !item.is_empty() {
                            out.insert(std::mem::take(&mut item));
                        }
                        at_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 1 && at_start {
                    if c.is_alphanumeric() || c == '_' {
                        item.push(c);
                    } else if !item.is_empty() {
                        out.insert(std::mem::take(&mut item));
                        at_start = false;
                    }
                }
            }
            if !item.is_empty() {
                out.insert(item);
            }
        } else {
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() {
                out.insert(ident);
            }
        }
    }
    out
}

#[test]
fn modules_use_only_their_layer_and_the_layers_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let module = if module == "__private" {
            "private".into()
        } else {
            module
        };
        let used = crate_uses(&fs::read_to_string(file).unwrap());
        let entry = uses.entry(module.clone()).or_default();
        for u in used {
            // `crate::X` re-exported at the root (`crate::Socket`) is not a module.
            if u.chars().next().is_some_and(|c| c.is_lowercase()) && u != module {
                entry.insert(u);
            }
        }
    }
    let known: BTreeSet<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let mut upward = Vec::new();
    for (module, used) in &uses {
        let from = layer_of(module);
        for u in used {
            if !known.contains(u.as_str()) {
                upward.push(format!("{module} uses `crate::{u}`, which is not a module of any layer (a root re-export? use its module path)"));
                continue;
            }
            let to = layer_of(u);
            if to > from {
                upward.push(format!(
                    "{module} ({}) uses {u} ({}), a layer above it",
                    LAYERS[from].0, LAYERS[to].0
                ));
            }
        }
    }
    // Cycles within a layer.
    for (name, modules) in LAYERS {
        for a in modules.iter() {
            for b in modules.iter().filter(|b| *b > a) {
                let ab = uses.get(*a).is_some_and(|u| u.contains(*b));
                let ba = uses.get(*b).is_some_and(|u| u.contains(*a));
                if ab && ba {
                    upward.push(format!("{a} and {b} ({name}) use each other"));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "layering violations:\n  {}",
        upward.join("\n  ")
    );
}

#[test]
fn the_parser_reads_grouped_uses() {
    let text = "use crate::{a::{x, y}, b, c::z};\nfn f() { crate::d::g(); }\n// crate::e\n";
    assert_eq!(
        crate_uses(text),
        ["a", "b", "c", "d"].into_iter().map(String::from).collect()
    );
}

/// The crate doc (`src/lib.rs`) names every module of [`LAYERS`], layer by layer in order:
/// the map a newcomer reads is the one this test enforces.
#[test]
fn the_crate_doc_map_lists_every_module_in_layer_order() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut last = (0, 0); // (layer, position)
    for (layer, (name, modules)) in LAYERS.iter().enumerate() {
        if *name == "crate surface" {
            continue;
        }
        for module in *modules {
            let pos = [format!("[`{module}`]"), format!("`{module}`")]
                .iter()
                .find_map(|needle| doc.find(needle.as_str()))
                .unwrap_or_else(|| panic!("the crate doc's map does not mention `{module}`"));
            if layer > last.0 {
                assert!(
                    pos > last.1,
                    "the crate doc's map names `{module}` ({name}) before the layer below it"
                );
            }
            last = (layer, last.1.max(pos));
        }
    }
}
