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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// One `set`/`chain` block of a table: its kind, name and whole text (header
/// line, body, closing `\t}`), borrowed from the ruleset text.
#[derive(Debug, PartialEq)]
struct Block<'a> {
    kind: &'static str,
    name: &'a str,
    text: &'a str,
}

/// The blocks of each table (`family` → blocks in text order), or `None` when
/// the text is not laid out the way `render` writes it.
fn tables(text: &str) -> Option<BTreeMap<&str, Vec<Block<'_>>>> {
    let mut out: BTreeMap<&str, Vec<Block>> = BTreeMap::new();
    let mut family: Option<&str> = None;
    // The block being read: kind, name, byte offset of its first line.
    let mut block: Option<(&'static str, &str, usize)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let line = line.strip_suffix('\n').unwrap_or(line);
        if let Some((kind, name, from)) = block {
            if line == "\t}" {
                out.get_mut(family?)?.push(Block {
                    kind,
                    name,
                    text: &text[from..offset],
                });
                block = None;
            }
            continue;
        }
        match family {
            None => {
                let words: Vec<&str> = line.split(' ').collect();
                match words.as_slice() {
                    ["table", fam, _, "{"] => {
                        family = Some(fam);
                        out.entry(fam).or_default();
                    }
                    // The delete/recreate preamble of a full load.
                    ["table", _, _] | ["delete", "table", _, _] | [""] => {}
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
                block = Some((kind, rest.strip_suffix(" {")?, start));
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
        let before: BTreeMap<(&str, &str), &Block> =
            old[family].iter().map(|b| ((b.kind, b.name), b)).collect();
        let declare = |out: &mut String, b: &Block| {
            let _ = write!(out, "table {family} {table} {{\n{}}}\n", b.text);
        };
        for kind in ["set", "chain"] {
            // New ones first, then the changed ones (which may refer to them).
            for b in blocks.iter().filter(|b| b.kind == kind) {
                if !before.contains_key(&(b.kind, b.name)) {
                    declare(&mut out, b);
                }
            }
            for b in blocks.iter().filter(|b| b.kind == kind) {
                match before.get(&(b.kind, b.name)) {
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
    let kept: BTreeSet<(&str, &str, &str)> = new
        .iter()
        .flat_map(|(f, blocks)| blocks.iter().map(move |b| (*f, b.kind, b.name)))
        .collect();
    for kind in ["chain", "set"] {
        for (family, blocks) in &old {
            for b in blocks.iter().filter(|b| b.kind == kind) {
                if !kept.contains(&(*family, kind, b.name)) {
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
