//! A node's data: rendering each data source (with file reads) and the size limits.
use super::*;

impl Expander<'_, '_, '_> {
    /// Renders a node's data and runs its checks (one source, size, `schema:`).
    pub(super) fn node_data(
        &mut self,
        doc: usize,
        spec: &NodeSpec,
        n: &NodeRef<'_>,
    ) -> Option<Vec<u8>> {
        let sources: Vec<&'static str> = [
            ("json", spec.json.is_some()),
            ("yaml", spec.yaml.is_some()),
            ("file", spec.file.is_some()),
            ("env", spec.env.is_some()),
            ("base64", spec.base64.is_some()),
            ("value", spec.value.is_some()),
            ("int32", spec.int32.is_some()),
            ("int64", spec.int64.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, set)| set.then_some(n))
        .collect();
        if sources.len() > 1 {
            self.problem_on(
                doc,
                Problem::at_key(
                    format!("{}/{}", n.ptr(), sources[1]),
                    format!(
                        "`{}` conflicts with `{}`: a node has at most one data source",
                        sources[1], sources[0]
                    ),
                )
                .hint("keep one of them"),
                &n.znode(),
            );
            return None;
        }
        let rendered = self.render(doc, spec, n)?;
        if let Some(schema) = &spec.schema {
            self.check_schema(doc, schema, &rendered, n, spec.secret);
        }
        self.size_ok(doc, rendered.bytes, rendered.field, n)
    }

    /// `Some(bytes)` unless they are over the znode limit (reported at `field` of the node).
    pub(super) fn size_ok(
        &mut self,
        doc: usize,
        bytes: Vec<u8>,
        field: Option<&str>,
        n: &NodeRef<'_>,
    ) -> Option<Vec<u8>> {
        if bytes.len() > MAX_NODE_DATA {
            let pointer = match field {
                Some(f) => format!("{}/{f}", n.ptr()),
                None => n.ptr().to_owned(),
            };
            self.problem_on(
                doc,
                Problem {
                    pointer,
                    target: Target::Value,
                    message: format!(
                        "data is {} bytes, over the {MAX_NODE_DATA}-byte limit of a znode",
                        bytes.len()
                    ),
                    hint: Some(
                        "ZooKeeper refuses requests over jute.maxbuffer (1 MiB by default); split \
                         the data over several nodes or store a reference to it"
                            .into(),
                    ),
                },
                &n.znode(),
            );
            return None;
        }
        Some(bytes)
    }

    pub(super) fn render<'v>(
        &mut self,
        doc: usize,
        spec: &'v NodeSpec,
        n: &NodeRef<'_>,
    ) -> Option<Rendered<'v>> {
        let plain = |bytes: Vec<u8>, field: &'static str| Rendered {
            bytes,
            inline: None,
            field: Some(field),
            yaml_file: false,
        };
        if let Some(v) = &spec.json {
            return Some(Rendered {
                bytes: render::json_sorted(v).into_bytes(),
                inline: Some(("json", v)),
                field: Some("json"),
                yaml_file: false,
            });
        }
        if let Some(v) = &spec.yaml {
            return Some(Rendered {
                bytes: render::yaml_sorted(v).into_bytes(),
                inline: Some(("yaml", v)),
                field: Some("yaml"),
                yaml_file: false,
            });
        }
        if let Some(f) = &spec.file {
            let at = format!("{}/file", n.ptr());
            let path = self.ctx.source(doc).dir.join(f);
            let confine = self.ctx.options.confine_references;
            if let Some(real) = escapes(f, &path, &self.ctx.source(doc).root, confine) {
                self.problem_on(doc, escape_problem(at, "file", f, &real), &n.znode());
                return None;
            }
            let bytes = match std::fs::metadata(&path).and_then(|m| {
                if m.is_dir() {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::IsADirectory,
                        "is a directory",
                    ))
                } else {
                    Ok(m.len())
                }
            }) {
                Ok(len) if len > MAX_NODE_DATA as u64 => {
                    self.problem_on(
                        doc,
                        Problem::at(&at, format!("file `{f}` is {len} bytes, over the {MAX_NODE_DATA}-byte limit of a znode"))
                            .hint("ZooKeeper refuses requests over jute.maxbuffer (1 MiB by default)"),
                        &n.znode(),
                    );
                    return None;
                }
                Ok(_) => std::fs::read(&path),
                Err(e) => Err(e),
            };
            return match bytes {
                Ok(b) => Some(Rendered {
                    yaml_file: f.ends_with(".yaml") || f.ends_with(".yml"),
                    ..plain(b, "file")
                }),
                Err(e) => {
                    let class = ref_class(&e);
                    let d = self
                        .ctx
                        .diag(
                            doc,
                            &Problem::at(&at, format!("cannot use file `{f}`: {}", files::io_message("read it", &e)))
                                .hint(format!(
                                    "`file:` paths are relative to the manifest's directory; this one resolves to {}",
                                    path.display()
                                )),
                        )
                        .znode(n.znode())
                        .class(class);
                    self.diags.push(d);
                    None
                }
            };
        }
        if let Some(name) = &spec.env {
            return match (self.ctx.env)(name) {
                Some(v) => Some(plain(v.into_bytes(), "env")),
                None => {
                    self.problem_on(
                        doc,
                        Problem::at(format!("{}/env", n.ptr()), format!("environment variable `{name}` is not set"))
                            .hint(format!(
                                "set `{name}`, or use `value: \"${{{name}:-default}}\"` to fall back to a default"
                            )),
                        &n.znode(),
                    );
                    None
                }
            };
        }
        if let Some(b) = &spec.base64 {
            return match render::base64_decode(b) {
                Ok(bytes) => Some(plain(bytes, "base64")),
                Err(e) => {
                    self.problem_on(
                        doc,
                        Problem::at(format!("{}/base64", n.ptr()), e.to_string())
                            .hint("standard alphabet (`+/`) with `=` padding, as `base64` prints"),
                        &n.znode(),
                    );
                    None
                }
            };
        }
        if let Some(v) = &spec.value {
            return Some(plain(v.clone().into_bytes(), "value"));
        }
        if let Some(i) = spec.int32 {
            return Some(plain(i.to_be_bytes().to_vec(), "int32"));
        }
        if let Some(i) = spec.int64 {
            return Some(plain(i.to_be_bytes().to_vec(), "int64"));
        }
        Some(Rendered {
            bytes: Vec::new(),
            inline: None,
            field: None,
            yaml_file: false,
        })
    }
}

/// Where a relative `file:` reference really resolves (symlinks followed), when
/// that is outside the `-f` root `root`. Absolute references are the operator's explicit choice,
/// unless `confine` (a set from a Git commit).
pub(super) fn escapes(
    reference: &str,
    resolved: &Path,
    root: &Path,
    confine: bool,
) -> Option<PathBuf> {
    if Path::new(reference).is_absolute() && !confine {
        return None;
    }
    let real = std::fs::canonicalize(resolved).ok()?;
    (!real.starts_with(root)).then_some(real)
}

pub(super) fn escape_problem(at: String, field: &str, reference: &str, real: &Path) -> Problem {
    Problem::at(
        at,
        format!(
            "`{field}: {reference}` resolves to {}, outside the manifest directory",
            real.display()
        ),
    )
    .hint(format!(
        "relative `{field}:` paths must stay inside the directory given with -f (for a file: its directory), symlinks followed; move the file inside, or write an absolute path to use it on purpose"
    ))
}

/// A referenced file that does not exist is a manifest mistake (exit 1); one that exists but
/// cannot be read is trouble (exit 2).
pub(super) fn ref_class(e: &std::io::Error) -> Class {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory => Class::Invalid,
        _ => Class::Unreadable,
    }
}
