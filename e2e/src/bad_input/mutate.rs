//! Mutations any field of a given type can take, whatever its kind: the corpus's generic half (the kind-specific
//! half, names Kafka refuses, contradictions and missing references, is in `kinds`).

use serde_json::{Map, Value, json};

use super::{Mutation, Rng};

/// The declared type of a field, with the bounds the CRD schema sets.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Num {
        min: f64,
    },
    /// A string; `restricted` when a pattern limits its characters (Kafka names, DNS names, ...).
    Str {
        min: usize,
        max: Option<usize>,
        restricted: bool,
    },
    Enum(&'static [&'static str]),
    Bool,
    /// A list of strings, with the schema's item limit.
    StrList {
        max: Option<usize>,
        restricted: bool,
    },
    /// A map of string to string, with the schema's key limit.
    StrMap {
        max: Option<usize>,
    },
    Obj,
    ObjList {
        max: Option<usize>,
    },
}

/// A field of a kind's manifest: its path (`spec.a.b`, `spec.acls[0].host`) and type.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub path: &'static str,
    pub ty: Ty,
}

pub const fn field(path: &'static str, ty: Ty) -> Field {
    Field { path, ty }
}

/// The segments of a path: `spec.acls[0].host` → `spec`, `acls`, `[0]`, `host`. A dot inside a map key is
/// written `\.` (`spec.config.retention\.ms`).
fn segments(path: &str) -> Vec<Result<String, usize>> {
    let mut parts = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                chars.next();
                parts.last_mut().expect("a part").push('.');
            }
            '.' => parts.push(String::new()),
            c => parts.last_mut().expect("a part").push(c),
        }
    }
    let mut out = vec![];
    for part in &parts {
        match part
            .split_once('[')
            .filter(|(_, idx)| idx.ends_with(']') && idx[..idx.len() - 1].parse::<usize>().is_ok())
        {
            Some((name, idx)) => {
                out.push(Ok(name.to_string()));
                out.push(Err(idx.trim_end_matches(']').parse().expect("an index")));
            }
            None => out.push(Ok(part.clone())),
        }
    }
    out
}

/// Sets `path` in `doc` to `value`, making the objects on the way; `null` removes the key.
pub fn set(doc: &mut Value, path: &str, value: Value) {
    let segs = segments(path);
    let mut cur = doc;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match seg {
            Ok(name) => {
                if !cur.is_object() {
                    *cur = Value::Object(Map::new());
                }
                let obj = cur.as_object_mut().expect("an object");
                if last {
                    if value.is_null() {
                        obj.remove(name);
                    } else {
                        obj.insert(name.clone(), value);
                    }
                    return;
                }
                cur = obj.entry(name.clone()).or_insert(Value::Null);
            }
            Err(idx) => {
                if !cur.is_array() {
                    *cur = Value::Array(vec![]);
                }
                let arr = cur.as_array_mut().expect("an array");
                while arr.len() <= *idx {
                    arr.push(Value::Object(Map::new()));
                }
                if last {
                    arr[*idx] = value;
                    return;
                }
                cur = &mut arr[*idx];
            }
        }
    }
}

/// The value at `path`, if any.
pub fn get<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(doc);
    }
    let mut cur = doc;
    for seg in segments(path) {
        cur = match seg {
            Ok(name) => cur.get(name)?,
            Err(idx) => cur.get(idx)?,
        };
    }
    Some(cur)
}

/// A string of `len` bytes of one ASCII letter.
pub fn long_string(len: usize) -> String {
    "x".repeat(len)
}

/// Text outside ASCII: accents, CJK, right-to-left, emoji, a zero-width joiner, a combining mark.
pub fn unicode(rng: &mut Rng) -> String {
    const PIECES: &[&str] =
        &["ünïcødé", "話題", "موضوع", "🦀", "e\u{301}", "a\u{200d}b", "Ωmega", "тема", "🚀-orders", "ｆｕｌｌ"];
    let n = 1 + rng.below(3);
    (0..n).map(|_| *rng.pick(PIECES)).collect::<Vec<_>>().join(".")
}

/// Characters no Kafka or Kubernetes name holds.
pub fn illegal_name(rng: &mut Rng) -> String {
    let w = rng.word(5);
    let shapes = [
        format!("{w} {w}"),
        format!("{w}/{w}"),
        format!("{w}:{w}"),
        format!("{w}${w}"),
        format!("{w}\t"),
        format!("*{w}"),
        format!("{w},{w}"),
        format!("{w}\\{w}"),
        format!("{w}#"),
        format!("({w})"),
    ];
    rng.pick(&shapes).clone()
}

/// A value of some JSON type other than `ty`'s.
fn wrong_type(ty: Ty, rng: &mut Rng) -> Value {
    let w = rng.word(4);
    let n = rng.between(1, 1000);
    let choices: Vec<Value> = match ty {
        Ty::Int { .. } => {
            vec![json!(format!("{n}")), json!(true), json!([n]), json!({"value": n}), json!(n as f64 + 0.5)]
        }
        Ty::Num { .. } => vec![json!(format!("{n}")), json!(false), json!([n]), json!({"value": n})],
        Ty::Str { .. } | Ty::Enum(_) => vec![json!(n), json!(true), json!([w]), json!({"value": w})],
        Ty::Bool => vec![json!("yes"), json!(1), json!([true]), json!({"on": true})],
        Ty::StrList { .. } => vec![json!(w), json!({"a": w}), json!([n, n + 1]), json!(n), json!([[w]])],
        Ty::StrMap { .. } => vec![json!(w), json!([w]), json!({w.clone(): n}), json!({w: {"nested": true}})],
        Ty::Obj => vec![json!(w), json!([w]), json!(n), json!(true)],
        Ty::ObjList { .. } => vec![json!(w), json!({"a": w}), json!([n]), json!([w])],
    };
    rng.pick(&choices).clone()
}

/// `count` distinct lower-case words.
fn words(rng: &mut Rng, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{}{i}", rng.word(4))).collect()
}

/// A mutation of `mutation`'s sort for a field of type `ty`, or none when that sort does not apply to it. Returns
/// the new value and what was done.
pub fn generic(ty: Ty, mutation: Mutation, rng: &mut Rng) -> Option<(Value, String)> {
    match (mutation, ty) {
        (Mutation::OutOfRange, Ty::Int { min, max }) => {
            let below = min.map(|m| m - rng.between(1, 1000));
            let above = max.map(|m| m + rng.between(1, 1_000_000));
            let v = match (below, above) {
                (Some(b), Some(a)) => {
                    if rng.chance(2) {
                        b
                    } else {
                        a
                    }
                }
                (Some(b), None) => b,
                (None, Some(a)) => a,
                (None, None) => return None,
            };
            Some((json!(v), format!("= {v}")))
        }
        (Mutation::OutOfRange, Ty::Num { min }) => {
            let v = min - 0.0005 - rng.between(0, 100) as f64;
            Some((json!(v), format!("= {v}")))
        }
        (Mutation::OutOfRange, Ty::Str { min, .. }) if min > 0 => Some((json!(""), "= \"\" (empty)".into())),
        (Mutation::WrongType, ty) => {
            let v = wrong_type(ty, rng);
            let what = format!("= {} (wrong type)", super::short(&v, 40));
            Some((v, what))
        }
        (Mutation::Huge, Ty::Str { max: Some(max), .. }) => {
            let len = if rng.chance(3) { 1 << 20 } else { max + 1 + rng.below(64) };
            Some((json!(long_string(len)), format!("= a string of {len} bytes (max {max})")))
        }
        (Mutation::Huge, Ty::Int { .. }) => {
            // Beyond int64: no integer field holds it.
            let v: Value = serde_json::from_str("92233720368547758070").expect("a JSON number");
            Some((v, "= 92233720368547758070 (beyond int64)".into()))
        }
        (Mutation::Huge, Ty::StrList { max: Some(max), .. }) => {
            let n = max + 1 + rng.below(8);
            Some((json!(words(rng, n)), format!("= {n} items (max {max})")))
        }
        (Mutation::Huge, Ty::StrMap { max: Some(max) }) => {
            let n = if rng.chance(4) { 10_000 } else { max + 1 + rng.below(8) };
            let map: Map<String, Value> = words(rng, n).into_iter().map(|k| (k, json!("1"))).collect();
            Some((Value::Object(map), format!("= a map of {n} keys (max {max})")))
        }
        (Mutation::Huge, Ty::ObjList { max: Some(max) }) => {
            let n = max + 1 + rng.below(4);
            Some((json!(vec![json!({}); n]), format!("= {n} items (max {max})")))
        }
        (Mutation::Unicode, Ty::Str { restricted: true, .. }) => {
            let s = unicode(rng);
            Some((json!(s), format!("= {s:?}")))
        }
        (Mutation::Unicode, Ty::Enum(values)) => {
            let s = format!("{}{}", rng.pick(values), unicode(rng));
            Some((json!(s), format!("= {s:?}")))
        }
        (Mutation::Unicode, Ty::StrList { restricted: true, .. }) => {
            let s = unicode(rng);
            Some((json!([s]), format!("= [{s:?}]")))
        }
        (Mutation::IllegalName, Ty::Str { restricted: true, .. }) => {
            let s = illegal_name(rng);
            Some((json!(s), format!("= {s:?}")))
        }
        (Mutation::IllegalName, Ty::StrList { restricted: true, .. }) => {
            let s = illegal_name(rng);
            Some((json!([s]), format!("= [{s:?}]")))
        }
        (Mutation::IllegalName, Ty::Enum(values)) => {
            // The right word in the wrong case, or a word that is not one of them.
            let v = rng.pick(values);
            let s = if rng.chance(2) { v.to_lowercase() } else { format!("{v}-{}", rng.word(3)) };
            let s = if values.contains(&s.as_str()) { v.to_uppercase() + "x" } else { s };
            Some((json!(s), format!("= {s:?} (not one of {values:?})")))
        }
        _ => None,
    }
}

/// An unknown key under one of `objects` (a path; "" is the manifest's root).
pub fn unknown_key(objects: &[&str], rng: &mut Rng) -> (String, Value, String) {
    let at = *rng.pick(objects);
    let key = match rng.below(4) {
        0 => format!("{}Extra", rng.word(6)),
        1 => "spec".to_string() + &rng.word(2).to_uppercase(),
        2 => format!("x-{}", rng.word(5)),
        _ => rng.word(8),
    };
    let value = match rng.below(3) {
        0 => json!(rng.word(3)),
        1 => json!(rng.between(0, 99)),
        _ => json!({"nested": true}),
    };
    let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
    (path.clone(), value, format!("unknown key {path}"))
}
