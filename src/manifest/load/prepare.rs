//! Stages 2 and 3 on worker threads: YAML to JSON, the schema, then serde into typed specs.
//! Pure: no positions (those are looked up later, on the main thread, and only for problems).
use super::*;

/// Stages 2 and 3 for one file, on a worker thread: pure, no positions (those are looked up
/// later, on the main thread, and only for problems).
pub(super) fn prepare(source: &Source, env: &EnvLookup<'_>) -> Prepared {
    let docs = yaml::load_json(&source.text, Some(env))?;
    Ok(docs
        .into_iter()
        .map(|d| PreparedDoc {
            index: d.index,
            start: d.start,
            too_deep: d.too_deep,
            outcome: structured(d),
        })
        .collect())
}

/// The schema, then serde, for one converted document.
pub(super) fn structured(json: JsonDoc) -> Result<Typed, Structural> {
    if json.too_deep {
        // Its conversion errors carry their own positions; anything else would need the
        // file's marked tree, which is not built for such a file.
        return Err(Structural {
            convert: json.errors,
            schema: Vec::new(),
        });
    }
    // Values that failed to convert became `null`; the schema's complaints about exactly those
    // values would only repeat the problem, so they are left out. The document's other
    // structural problems are still reported.
    let schema: Vec<Problem> = structure::check(&json.value)
        .into_iter()
        .filter(|p| {
            !json.errors.iter().any(|f| {
                p.pointer == f.pointer || p.pointer.starts_with(&format!("{}/", f.pointer))
            })
        })
        .collect();
    if !schema.is_empty() || !json.errors.is_empty() {
        return Err(Structural {
            convert: json.errors,
            schema,
        });
    }
    into_typed(json.value).ok_or_else(|| Structural {
        convert: Vec::new(),
        schema: vec![
            Problem::at(
                "/spec",
                "failed to read the document after it passed the schema check",
            )
            .hint("this is a bug in zkstate; please report it with the document"),
        ],
    })
}

pub(super) fn into_typed(json: Value) -> Option<Typed> {
    // Taken apart by hand: deserializing `Envelope` would copy `spec` (a `Value` field) whole.
    // The schema check has vouched for the shape.
    let Value::Object(mut doc) = json else {
        return None;
    };
    let spec = doc.remove("spec")?;
    let kind: KindName = serde_json::from_value(doc.remove("kind")?).ok()?;
    let name = doc.get("metadata")?.get("name")?.as_str()?.to_owned();
    Some(match kind {
        KindName::ConfigTree => {
            // `nodes` by hand (see `NodeValue::from_json`), in file order, the rest through
            // serde.
            let mut spec = spec;
            let nodes = spec.as_object_mut()?.remove("nodes");
            let tree: ConfigTreeSpec = serde_json::from_value(spec).ok()?;
            let nodes = match nodes {
                Some(Value::Object(map)) => {
                    let mut left = map.len();
                    let mut out = Vec::with_capacity(left.div_ceil(NODE_CHUNK));
                    let mut chunk = Vec::new();
                    for (k, v) in map {
                        if chunk.capacity() == 0 {
                            chunk.reserve_exact(left.min(NODE_CHUNK));
                        }
                        chunk.push((k, NodeValue::from_json(v)?));
                        left -= 1;
                        if chunk.len() == NODE_CHUNK {
                            out.push(std::mem::take(&mut chunk));
                        }
                    }
                    if !chunk.is_empty() {
                        out.push(chunk);
                    }
                    out
                }
                _ => Vec::new(),
            };
            Typed::ConfigTree(name, tree, nodes)
        }
        KindName::Service => Typed::Service(name, serde_json::from_value(spec).ok()?),
        KindName::Queue => Typed::Queue(name, serde_json::from_value(spec).ok()?),
        KindName::ElectionGroup => Typed::ElectionGroup(name, serde_json::from_value(spec).ok()?),
    })
}
