//! Steps, their canonical serialisation, and their keys.
//!
//! Inside parameters, an input appears as a placeholder string:
//! `/imgx/steps/<input key>` for another step's output and
//! `/imgx/objects/<hash>` for an imported object (a path literal). The
//! serialisation is canonical JSON (keys sorted, no host paths, no times):
//!
//! ```text
//! {"inputs":[{"step":"…"},{"object":"…"}],"kind":"file","name":"motd","params":{…},"version":1}
//! ```
//!
//! * The **input key** hashes the serialisation as it is: it changes when
//!   anything about the step or (recursively) its inputs' descriptions
//!   changes, and is known without building or hashing anything.
//! * The **content key** hashes the serialisation after every step
//!   placeholder is replaced by the placeholder of that step's *output
//!   object*: an input that was rebuilt with identical output leaves it
//!   unchanged, so the step is not rebuilt (early cutoff).

use imgx_store::hash::ObjectHash;
use std::collections::{BTreeMap, BTreeSet};

/// Version of the serialisation format; part of every key.
pub const FORMAT_VERSION: u64 = 1;

/// Prefix of the placeholder that stands for a step's output.
pub const STEP_PLACEHOLDER: &str = "/imgx/steps/";

/// Prefix of the placeholder that stands for a store object.
pub const OBJECT_PLACEHOLDER: &str = "/imgx/objects/";

/// A step's key: a BLAKE3 hash, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct StepKey(pub [u8; 32]);

impl StepKey {
    /// The key as hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<StepKey> {
        ObjectHash::from_hex(text).map(|h| StepKey(h.0))
    }

    /// The placeholder string that stands for this step's output.
    pub fn placeholder(&self) -> String {
        format!("{STEP_PLACEHOLDER}{}", self.to_hex())
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl std::fmt::Display for StepKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The placeholder string that stands for a store object.
pub fn object_placeholder(hash: &ObjectHash) -> String {
    format!("{OBJECT_PLACEHOLDER}{}", hash.to_hex())
}

/// Something a step's output depends on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum InputRef {
    /// The output of another step.
    Step(StepKey),
    /// An object already in the store (an imported path).
    Object(ObjectHash),
}

impl InputRef {
    /// Recognises a placeholder at the start of `text` (a context element).
    pub fn parse_placeholder(text: &str) -> Option<InputRef> {
        if let Some(hex) = text.strip_prefix(STEP_PLACEHOLDER) {
            return StepKey::from_hex(hex.get(..64)?).map(InputRef::Step);
        }
        if let Some(hex) = text.strip_prefix(OBJECT_PLACEHOLDER) {
            return ObjectHash::from_hex(hex.get(..64)?).map(InputRef::Object);
        }
        None
    }

    /// The placeholder string of this input.
    pub fn placeholder(&self) -> String {
        match self {
            InputRef::Step(key) => key.placeholder(),
            InputRef::Object(hash) => object_placeholder(hash),
        }
    }

    fn to_json(self) -> serde_json::Value {
        let (tag, hex) = match self {
            InputRef::Step(key) => ("step", key.to_hex()),
            InputRef::Object(hash) => ("object", hash.to_hex()),
        };
        serde_json::Value::Object([(tag.to_string(), serde_json::Value::String(hex))].into_iter().collect())
    }
}

/// A step: what to build and from what.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The step kind, which selects the builder (`file`, `directory`, …).
    pub kind: String,
    /// A human-readable name, part of the key.
    pub name: String,
    /// The kind's parameters; inputs appear as placeholder strings.
    pub params: serde_json::Value,
    /// Every input the parameters refer to.
    pub inputs: BTreeSet<InputRef>,
    /// For a fixed-output step (a fetch, a networked run), what its output
    /// is declared to be (the declared hash and whatever else shapes the
    /// output); its keys cover only this, so a changed URL or mirror
    /// rebuilds nothing. `None` for ordinary steps.
    pub fixed: Option<serde_json::Value>,
}

impl Step {
    /// The canonical serialisation (see the module documentation).
    pub fn serialise(&self) -> String {
        let inputs: Vec<serde_json::Value> = self.inputs.iter().map(|i| i.to_json()).collect();
        let mut object = serde_json::Map::new();
        object.insert("inputs".into(), serde_json::Value::Array(inputs));
        object.insert("kind".into(), serde_json::Value::String(self.kind.clone()));
        object.insert("name".into(), serde_json::Value::String(self.name.clone()));
        object.insert("params".into(), canonical(&self.params));
        if let Some(fixed) = &self.fixed {
            object.insert("fixed".into(), canonical(fixed));
        }
        object.insert("version".into(), serde_json::Value::from(FORMAT_VERSION));
        serde_json::Value::Object(object).to_string()
    }

    /// What the keys of a fixed-output step cover: its kind and declaration.
    fn fixed_serialisation(&self) -> Option<String> {
        let fixed = self.fixed.as_ref()?;
        Some(serde_json::json!({ "fixed": canonical(fixed), "kind": self.kind, "version": FORMAT_VERSION }).to_string())
    }

    /// Parses a serialisation written by [`Step::serialise`].
    pub fn parse(serialisation: &str) -> Option<Step> {
        let value: serde_json::Value = serde_json::from_str(serialisation).ok()?;
        let mut inputs = BTreeSet::new();
        for input in value.get("inputs")?.as_array()? {
            if let Some(hex) = input.get("step").and_then(|v| v.as_str()) {
                inputs.insert(InputRef::Step(StepKey::from_hex(hex)?));
            } else {
                inputs.insert(InputRef::Object(ObjectHash::from_hex(input.get("object")?.as_str()?)?));
            }
        }
        Some(Step {
            kind: value.get("kind")?.as_str()?.to_string(),
            name: value.get("name")?.as_str()?.to_string(),
            params: value.get("params")?.clone(),
            inputs,
            fixed: value.get("fixed").cloned(),
        })
    }

    /// The input-addressed key.
    pub fn input_key(&self) -> StepKey {
        if let Some(fixed) = self.fixed_serialisation() {
            return StepKey(keyed_hash("imgx fixed-output key", &fixed));
        }
        StepKey(keyed_hash("imgx input key", &self.serialise()))
    }

    /// The content key, given the output object of every input step.
    /// Returns `None` if an input step's output is not known.
    pub fn content_key(&self, outputs: &BTreeMap<StepKey, ObjectHash>) -> Option<StepKey> {
        if self.fixed.is_some() {
            // The output is declared: nothing about the inputs can change it.
            return Some(self.input_key());
        }
        let mut serialisation = self.serialise();
        for input in &self.inputs {
            if let InputRef::Step(key) = input {
                let output = outputs.get(key)?;
                serialisation = serialisation.replace(&key.placeholder(), &object_placeholder(output));
                serialisation = serialisation.replace(
                    &format!("{{\"step\":\"{}\"}}", key.to_hex()),
                    &format!("{{\"object\":\"{}\"}}", output.to_hex()),
                );
            }
        }
        Some(StepKey(keyed_hash("imgx content key", &serialisation)))
    }

    /// The steps this step depends on.
    pub fn input_steps(&self) -> impl Iterator<Item = StepKey> + '_ {
        self.inputs.iter().filter_map(|i| match i {
            InputRef::Step(key) => Some(*key),
            InputRef::Object(_) => None,
        })
    }
}

/// BLAKE3 in key-derivation mode, so that the two kinds of keys can never
/// collide with each other or with object hashes.
fn keyed_hash(context: &str, data: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(context);
    hasher.update(data.as_bytes());
    *hasher.finalize().as_bytes()
}

/// JSON with object keys sorted at every level.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, serde_json::Value> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
            serde_json::Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_step(text: &str) -> Step {
        Step {
            kind: "file".into(),
            name: "motd".into(),
            params: serde_json::json!({ "text": text, "executable": false }),
            inputs: BTreeSet::new(),
            fixed: None,
        }
    }

    #[test]
    fn serialisation_is_canonical_and_round_trips() {
        let step = file_step("hello");
        let text = step.serialise();
        assert_eq!(
            text,
            r#"{"inputs":[],"kind":"file","name":"motd","params":{"executable":false,"text":"hello"},"version":1}"#
        );
        assert_eq!(Step::parse(&text), Some(step));
    }

    #[test]
    fn keys_change_with_content_and_differ_by_kind() {
        let a = file_step("a");
        let b = file_step("b");
        assert_ne!(a.input_key(), b.input_key());
        assert_ne!(Some(a.input_key()), a.content_key(&BTreeMap::new()));
    }

    #[test]
    fn content_key_depends_on_input_outputs_not_input_keys() {
        let input_one = file_step("one").input_key();
        let input_two = file_step("two").input_key();
        let dependent = |input: StepKey| Step {
            kind: "directory".into(),
            name: "tree".into(),
            params: serde_json::json!({ "entries": { "etc/motd": input.placeholder() } }),
            inputs: [InputRef::Step(input)].into_iter().collect(),
            fixed: None,
        };
        let same_output = ObjectHash([7; 32]);
        let outputs_one: BTreeMap<_, _> = [(input_one, same_output)].into_iter().collect();
        let outputs_two: BTreeMap<_, _> = [(input_two, same_output)].into_iter().collect();
        assert_ne!(dependent(input_one).input_key(), dependent(input_two).input_key());
        assert_eq!(dependent(input_one).content_key(&outputs_one), dependent(input_two).content_key(&outputs_two));
    }

    #[test]
    fn fixed_output_keys_ignore_everything_but_the_declaration() {
        let fetch = |url: &str| Step {
            kind: "fetch".into(),
            name: "base".into(),
            params: serde_json::json!({ "url": url, "hash": "sha256-abc" }),
            inputs: BTreeSet::new(),
            fixed: Some(serde_json::json!({ "hash": "sha256-abc" })),
        };
        assert_eq!(fetch("http://one/base.img").input_key(), fetch("http://two/base.img").input_key());
        assert_ne!(fetch("http://one/base.img").serialise(), fetch("http://two/base.img").serialise());
        let mut other = fetch("http://one/base.img");
        other.fixed = Some(serde_json::json!({ "hash": "sha256-def" }));
        assert_ne!(other.input_key(), fetch("http://one/base.img").input_key());
    }

    #[test]
    fn placeholders_parse() {
        let key = file_step("x").input_key();
        assert_eq!(InputRef::parse_placeholder(&key.placeholder()), Some(InputRef::Step(key)));
        assert_eq!(InputRef::parse_placeholder("/somewhere/else"), None);
    }
}
