//! The bad-input corpus: invalid manifests of every Tributary kind, generated from a seed, one mutated field per
//! case, each recording the field it targets; and random valid specs for the idempotence check. Pure: no I/O, so a
//! seed printed by a test gives the same corpus again.
//!
//! Every case starts from a valid manifest of its kind ([`kinds`]) and changes one field in one way: a number out of
//! range, a value of the wrong type, a key the schema does not declare, a name Kafka refuses, a huge value, Unicode
//! where only ASCII is allowed, fields that contradict each other, or a reference to an object that does not exist.
//! A user applying it must be told which field is wrong: by `kubectl apply` refusing it, or by a `Ready=False`
//! condition. [`Case::names_field`] is that check.

mod fields;
mod kinds;
mod mutate;
pub mod valid;

use serde_json::Value;

pub use kinds::Kind;

/// A small, seeded generator (SplitMix64): reproducible across platforms and releases, no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo) as u64 + 1)) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    /// A lower-case ASCII word of `len` letters.
    pub fn word(&mut self, len: usize) -> String {
        (0..len).map(|_| (b'a' + self.below(26) as u8) as char).collect()
    }
}

/// What was done to the valid manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mutation {
    OutOfRange,
    WrongType,
    UnknownKey,
    IllegalName,
    Huge,
    Unicode,
    Conflict,
    MissingReference,
}

impl Mutation {
    pub const ALL: [Mutation; 8] = [
        Mutation::OutOfRange,
        Mutation::WrongType,
        Mutation::UnknownKey,
        Mutation::IllegalName,
        Mutation::Huge,
        Mutation::Unicode,
        Mutation::Conflict,
        Mutation::MissingReference,
    ];
}

/// One invalid manifest and the field it gets wrong.
#[derive(Clone, Debug)]
pub struct Case {
    pub kind: Kind,
    /// `metadata.name` (the manifest's, unless the case targets it).
    pub name: String,
    pub manifest: Value,
    /// The field at fault, as Kubernetes spells paths: `spec.partitions`, `spec.produces[1]`,
    /// `spec.config[retention.ms]` (a map key; the dotted `spec.config.retention.ms` is accepted too).
    pub field: String,
    pub mutation: Mutation,
    /// What was done, for a person reading a failure (values cut short).
    pub what: String,
}

impl Case {
    /// The spellings of [`Case::field`] a message may use: Kubernetes' own (`a.b[k]`, `a.b[0]`) and the dotted one
    /// the operator's messages and structured-merge-diff use for map keys (`a.b.k`).
    pub fn field_spellings(&self) -> Vec<String> {
        let mut out = vec![self.field.clone()];
        let mut dotted = String::new();
        let mut rest = self.field.as_str();
        while let Some(open) = rest.find('[') {
            let close = rest[open..].find(']').map(|c| open + c).unwrap_or(rest.len() - 1);
            let inner = &rest[open + 1..close];
            dotted.push_str(&rest[..open]);
            if inner.parse::<usize>().is_ok() {
                dotted.push_str(&rest[open..=close]);
            } else {
                dotted.push('.');
                dotted.push_str(inner);
            }
            rest = &rest[close + 1..];
        }
        dotted.push_str(rest);
        if dotted != self.field {
            out.push(dotted);
        }
        out
    }

    /// Whether `message` names the field at fault. A list index may also be named by the item's key, as
    /// server-side apply names an item of a keyed list (`spec.transactionalIds[name="a",patternType="Literal"]`)
    /// and the operator an import (`spec.references["dev.tributary.Address"]`): `[0]` matches `[<key>]`, never
    /// another index.
    pub fn names_field(&self, message: &str) -> bool {
        self.field_spellings().iter().any(|f| message.contains(f.as_str()) || keyed_match(message, f))
    }
}

/// Whether `message` holds `field` with each `[<index>]` of it spelled as some `[<key>]` that is not a number.
fn keyed_match(message: &str, field: &str) -> bool {
    let Some(open) = field.find('[') else { return false };
    let close = match field[open..].find(']') {
        Some(c) => open + c,
        None => return false,
    };
    if field[open + 1..close].parse::<usize>().is_err() {
        return false;
    }
    let (head, tail) = (&field[..=open], &field[close + 1..]);
    let mut from = 0;
    while let Some(at) = message[from..].find(head) {
        let start = from + at + head.len();
        // The key runs to the `]` that closes it (keys may hold `]` inside quotes: take the first `]` followed by
        // what the field continues with).
        let rest = &message[start..];
        let mut search = 0;
        while let Some(c) = rest[search..].find(']') {
            let key = &rest[..search + c];
            let after = &rest[search + c + 1..];
            if !key.is_empty() && key.parse::<usize>().is_err() && (after.starts_with(tail) || keyed_match(after, tail))
            {
                return true;
            }
            search += c + 1;
        }
        from = start;
    }
    false
}

/// Where the corpus's references point: objects the test makes before applying it.
#[derive(Clone, Debug)]
pub struct Env {
    /// Prefix of every generated name (unique per run, so no Kafka name repeats across runs).
    pub tag: String,
    /// A Ready KafkaConnection in the namespace, with the stack's schema registry.
    pub connection: String,
    /// The connection's bootstrap servers (loopback only: nothing generated points anywhere else).
    pub bootstrap: Vec<String>,
    /// The schema registry URL of the stack (loopback).
    pub registry_url: String,
    /// A Ready Topic resource in the namespace.
    pub topic: String,
    /// Its Kafka name.
    pub kafka_topic: String,
    /// A ConsumerGroup resource in the namespace (reading `topic`).
    pub group: String,
    /// A registered Schema resource in the namespace.
    pub schema: String,
}

/// `per_kind` cases of every kind from `seed`. The same seed and env give the same corpus.
pub fn corpus(seed: u64, per_kind: usize, env: &Env) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let mut out = vec![];
    for kind in Kind::ALL {
        for i in 0..per_kind {
            out.push(kinds::case(kind, i, &mut rng, env));
        }
    }
    out
}

/// A value's text for [`Case::what`], cut to `max` characters.
pub(crate) fn short(v: &Value, max: usize) -> String {
    let s = v.to_string();
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…({} bytes)", &s[..cut], s.len()),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn env() -> Env {
        Env {
            tag: "bi1".into(),
            connection: "main".into(),
            bootstrap: vec!["127.0.0.1:9092".into()],
            registry_url: "http://127.0.0.1:8081/apis/ccompat/v7".into(),
            topic: "base".into(),
            kafka_topic: "bi1-base".into(),
            group: "base-group".into(),
            schema: "base-schema".into(),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_corpus_and_another_seed_another() {
        let a = corpus(7, 60, &env());
        let b = corpus(7, 60, &env());
        let c = corpus(8, 60, &env());
        assert_eq!(a.len(), 6 * 60);
        let text = |cs: &[Case]| cs.iter().map(|c| c.manifest.to_string()).collect::<Vec<_>>();
        assert_eq!(text(&a), text(&b));
        assert_ne!(text(&a), text(&c));
    }

    #[test]
    fn every_kind_gets_every_mutation_and_distinct_names() {
        let cases = corpus(42, 220, &env());
        for kind in Kind::ALL {
            let of_kind: Vec<&Case> = cases.iter().filter(|c| c.kind == kind).collect();
            assert_eq!(of_kind.len(), 220);
            for m in Mutation::ALL {
                let n = of_kind.iter().filter(|c| c.mutation == m).count();
                assert!(n >= 3, "{kind:?} has {n} {m:?} cases");
            }
        }
        let mut names: Vec<(&str, &str)> = cases.iter().map(|c| (c.kind.as_str(), c.name.as_str())).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "two cases share a kind and name");
    }

    #[test]
    fn every_case_keeps_its_kind_and_only_loopback_addresses() {
        for c in corpus(3, 60, &env()) {
            assert_eq!(c.manifest["kind"], c.kind.as_str(), "{c:?}");
            assert!(!c.field.is_empty());
            // Nothing the operator could connect to lies outside 127.0.0.1.
            if c.kind == Kind::KafkaConnection
                && let Some(servers) = c.manifest["spec"]["bootstrapServers"].as_array()
            {
                for s in servers.iter().filter_map(Value::as_str) {
                    let host_ok = s.starts_with("127.0.0.1:") || !s.contains(':') || s.len() > 300;
                    let shape_ok = regex_like_bootstrap(s);
                    assert!(host_ok || !shape_ok, "{s} could be dialled");
                }
            }
            if let Some(url) = c.manifest["spec"]["schemaRegistry"]["url"].as_str() {
                let dialable = url.starts_with("http://") || url.starts_with("https://");
                assert!(!dialable || url.contains("127.0.0.1") || url.contains('@'), "{url} could be dialled");
            }
        }
    }

    /// The CRD's pattern for a bootstrap server (host:port), without the regex crate.
    fn regex_like_bootstrap(s: &str) -> bool {
        let Some((host, port)) = s.rsplit_once(':') else { return false };
        !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c))
            && (1..=5).contains(&port.len())
            && port.chars().all(|c| c.is_ascii_digit())
    }

    #[test]
    fn field_spellings_cover_map_keys_and_indexes() {
        let case = |field: &str| Case {
            kind: Kind::Topic,
            name: "t".into(),
            manifest: Value::Null,
            field: field.into(),
            mutation: Mutation::Conflict,
            what: String::new(),
        };
        let c = case("spec.config[retention.ms]");
        assert_eq!(c.field_spellings(), ["spec.config[retention.ms]", "spec.config.retention.ms"]);
        assert!(c.names_field("spec.config.retention.ms: \"-2\" is not an integer in [-1, …]"));
        assert!(!c.names_field("spec.config: unknown topic config key"));
        let c = case("spec.produces[1]");
        assert_eq!(c.field_spellings(), ["spec.produces[1]"]);
        assert!(c.names_field("spec.produces[1] (Topic \"payments\") not found"));
        assert!(!c.names_field("spec.produces[0] (Topic \"payments\") not found"));
        let c = case("spec.transactionalIds[0].name");
        let ssa = ".spec.transactionalIds[name=value=\"larx\",patternType=\"Prefixed\"].name: expected string";
        assert!(c.names_field(ssa));
        assert!(!c.names_field(".spec.transactionalIds[name=\"a\"].patternType: expected string"));
        assert!(!c.names_field("spec.transactionalIds[1].name: Invalid value"));
        let c = case("spec.references[0]");
        assert!(c.names_field("spec.references[\"dev.tributary.Address\"]: Schema \"x\" does not exist"));
    }
}
