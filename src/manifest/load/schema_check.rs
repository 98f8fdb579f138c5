//! `schema:` checks: compiling a referenced JSON Schema once, and checking data against it.
use super::data::ref_class;
use super::*;

impl Expander<'_, '_, '_> {
    pub(super) fn load_schema(&mut self, path: &Path) -> SchemaEntry {
        if let Some(s) = self.schemas.get(path) {
            return s.clone();
        }
        let entry = Rc::new(compile_schema(path));
        self.schemas.insert(path.to_path_buf(), entry.clone());
        entry
    }

    pub(super) fn check_schema(
        &mut self,
        doc: usize,
        schema: &str,
        data: &Rendered<'_>,
        n: &NodeRef<'_>,
        secret: bool,
    ) {
        let schema_at = format!("{}/schema", n.ptr());
        let path = self.ctx.source(doc).dir.join(schema);
        if self.ctx.options.confine_references
            && let Some(real) =
                super::data::escapes(schema, &path, &self.ctx.source(doc).root, true)
        {
            let d = self
                .ctx
                .diag(
                    doc,
                    &super::data::escape_problem(schema_at, "schema", schema, &real),
                )
                .znode(n.znode());
            self.diags.push(d);
            return;
        }
        let entry = self.load_schema(&path);
        let validator = match entry.as_ref() {
            Ok(v) => v,
            Err((class, why)) => {
                let d = self
                    .ctx
                    .diag(doc, &Problem::at(&schema_at, format!("cannot use schema `{schema}`: {why}")).hint(format!(
                        "`schema:` paths are relative to the manifest's directory; this one resolves to {}",
                        path.display()
                    )))
                    .znode(n.znode())
                    .class(*class);
                self.diags.push(d);
                return;
            }
        };
        let data_at = data
            .field
            .map_or_else(|| n.ptr().to_owned(), |f| format!("{}/{f}", n.ptr()));
        let parsed;
        let instance: &Value = match &data.inline {
            Some((_, v)) => v,
            None => {
                let value = if data.yaml_file {
                    std::str::from_utf8(&data.bytes).ok().and_then(|t| {
                        let doc = yaml::load_json(t, None).ok()?.into_iter().next()?;
                        doc.errors.is_empty().then_some(doc.value)
                    })
                } else {
                    serde_json::from_slice::<Value>(&data.bytes).ok()
                };
                match value {
                    Some(v) => {
                        parsed = v;
                        &parsed
                    }
                    None => {
                        let what = if data.yaml_file { "YAML" } else { "JSON" };
                        self.problem_on(
                            doc,
                            Problem::at(&data_at, format!("data is not {what}, so it cannot be checked against `{schema}`"))
                                .hint("`schema:` checks structured data: use `json:`, `yaml:` or a JSON/YAML file"),
                            &n.znode(),
                        );
                        return;
                    }
                }
            }
        };
        let mut found = Vec::new();
        for e in validator.iter_errors(instance) {
            let inner = e.instance_path().as_str().to_owned();
            let text = if secret {
                e.masked_with("(sensitive)").to_string()
            } else {
                e.to_string()
            };
            let (at, message) = match &data.inline {
                Some((field, _)) => (
                    format!("{}/{field}{inner}", n.ptr()),
                    format!("data does not match schema `{schema}`: {text}"),
                ),
                None if inner.is_empty() => (
                    data_at.clone(),
                    format!("data does not match schema `{schema}`: {text}"),
                ),
                None => (
                    data_at.clone(),
                    format!("data does not match schema `{schema}` at `{inner}`: {text}"),
                ),
            };
            found.push(Problem::at(at, message));
        }
        for p in found {
            self.problem_on(doc, p, &n.znode());
        }
    }
}

pub(super) fn compile_schema(path: &Path) -> Result<jsonschema::Validator, (Class, String)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| (ref_class(&e), files::io_message("read it", &e)))?;
    let is_yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yaml" || e == "yml");
    let value: Value = if is_yaml {
        let doc = yaml::load_json(&text, None)
            .map_err(|e| (Class::Invalid, format!("invalid YAML: {e}")))?
            .into_iter()
            .next();
        match doc {
            Some(d) if d.errors.is_empty() => d.value,
            Some(d) => {
                let e = &d.errors[0];
                return Err((
                    Class::Invalid,
                    format!("invalid YAML at line {}: {}", e.pos.line, e.message),
                ));
            }
            None => Value::Null,
        }
    } else {
        serde_json::from_str(&text).map_err(|e| (Class::Invalid, format!("invalid JSON: {e}")))?
    };
    jsonschema::validator_for(&value).map_err(|e| {
        (
            Class::Invalid,
            format!("not a usable JSON Schema: {e} (schemas must be self-contained: no references to other files or URLs)"),
        )
    })
}
