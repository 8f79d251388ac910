//! Changing a loaded security-group ruleset in place. Reloading the whole text
//! (both tables deleted and recreated) costs about a second with 1,000 ports
//! (bench/network), most of it the kernel tearing down and building objects that
//! did not change; a rule added to a group only changes the chains of that group's
//! ports. [`incremental`] compares the text loaded last with the new one, both
//! from [`super::secgroups::render`], and writes one `nft -f` transaction (still
//! atomic) that touches only what differs:
//!
//! 1. sets that are new are declared; sets that changed are flushed and filled;
//! 2. chains that are new are declared with their rules (per-port chains jump
//!    nowhere, so they need nothing else first);
//! 3. chains that changed are flushed and filled (the base chains' vmaps now name
//!    only chains that exist);
//! 4. chains that are gone are flushed and deleted, then sets that are gone.
//!
//! The loop in [`super::sgwatch`] falls back to the full text when this returns
//! `None` (text it does not understand), when the load fails, on a fresh
//! namespace, and every minute anyway.

use std::collections::BTreeMap;
use std::fmt::Write;

/// One `set`/`chain` block of a table: its kind, name and whole text (header
/// line, body, closing `\t}`).
#[derive(Debug, PartialEq)]
struct Block {
    kind: &'static str,
    name: String,
    text: String,
}

/// The blocks of each table (`family` → blocks in text order), or `None` when
/// the text is not laid out the way `render` writes it.
fn tables(text: &str) -> Option<BTreeMap<String, Vec<Block>>> {
    let mut out: BTreeMap<String, Vec<Block>> = BTreeMap::new();
    let mut family: Option<String> = None;
    let mut block: Option<Block> = None;
    for line in text.lines() {
        if let Some(b) = block.as_mut() {
            b.text.push_str(line);
            b.text.push('\n');
            if line == "\t}" {
                let done = block.take()?;
                out.get_mut(family.as_ref()?)?.push(done);
            }
            continue;
        }
        match &family {
            None => {
                let words: Vec<&str> = line.split(' ').collect();
                match words.as_slice() {
                    ["table", fam, _, "{"] => {
                        family = Some(fam.to_string());
                        out.entry(fam.to_string()).or_default();
                    }
                    // The delete/recreate preamble of a full load.
                    ["table", _, _] | ["delete", "table", _, _] => {}
                    [""] => {}
                    _ => return None,
                }
            }
            Some(_) if line == "}" => family = None,
            Some(_) => {
                let rest = line.strip_prefix('\t')?;
                let (kind, rest) = if let Some(r) = rest.strip_prefix("chain ") {
                    ("chain", r)
                } else if let Some(r) = rest.strip_prefix("set ") {
                    ("set", r)
                } else {
                    return None;
                };
                let name = rest.strip_suffix(" {")?.to_string();
                block = Some(Block {
                    kind,
                    name,
                    text: format!("{line}\n"),
                });
            }
        }
    }
    (family.is_none() && block.is_none()).then_some(out)
}

/// The transaction that turns the loaded `old` ruleset into `new` (both texts of
/// [`super::secgroups::render`]); `None` when either is not understood.
pub fn incremental(old: &str, new: &str) -> Option<String> {
    let table = super::secgroups::TABLE;
    let old = tables(old)?;
    let new = tables(new)?;
    if old.keys().ne(new.keys()) {
        return None;
    }
    let mut out = String::new();
    for (family, blocks) in &new {
        let before: BTreeMap<(&str, &str), &Block> = old[family]
            .iter()
            .map(|b| ((b.kind, b.name.as_str()), b))
            .collect();
        let declare = |out: &mut String, b: &Block| {
            let _ = write!(out, "table {family} {table} {{\n{}}}\n", b.text);
        };
        for kind in ["set", "chain"] {
            // New ones first, then the changed ones (which may refer to them).
            for b in blocks.iter().filter(|b| b.kind == kind) {
                if !before.contains_key(&(b.kind, b.name.as_str())) {
                    declare(&mut out, b);
                }
            }
            for b in blocks.iter().filter(|b| b.kind == kind) {
                match before.get(&(b.kind, b.name.as_str())) {
                    Some(o) if o.text != b.text => {
                        let _ = writeln!(out, "flush {kind} {family} {table} {}", b.name);
                        declare(&mut out, b);
                    }
                    _ => {}
                }
            }
        }
    }
    // What is gone, once nothing refers to it: chains, then sets.
    for kind in ["chain", "set"] {
        for (family, blocks) in &old {
            for b in blocks.iter().filter(|b| b.kind == kind) {
                if !new[family]
                    .iter()
                    .any(|n| n.kind == kind && n.name == b.name)
                {
                    if kind == "chain" {
                        let _ = writeln!(out, "flush chain {family} {table} {}", b.name);
                    }
                    let _ = writeln!(out, "delete {kind} {family} {table} {}", b.name);
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
#[path = "nftdiff_tests.rs"]
mod tests;
