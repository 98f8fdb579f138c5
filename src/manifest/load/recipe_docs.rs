//! Service, Queue and ElectionGroup documents: what the loader checks itself (paths, ACLs,
//! health-check addresses, durations) before the recipes expand them.
use super::*;

impl Expander<'_, '_, '_> {
    pub(super) fn service(
        &mut self,
        doc: usize,
        owner: &Owner,
        spec: &ServiceSpec,
    ) -> Option<ZPath> {
        let before = self.diags.len();
        let base = self.managed_path(doc, "/spec/basePath", &spec.base_path, "basePath");
        let acl = self.acl(doc, spec.acl.as_ref(), "/spec/acl");
        for (i, inst) in spec.instances.iter().enumerate() {
            if let Some(check) = &inst.check {
                let at = ptr(&["spec", "instances", &i.to_string(), "check"]);
                if crate::model::HostPort::parse(&check.tcp).is_none() {
                    self.problem(
                        doc,
                        Problem::at(
                            format!("{at}/tcp"),
                            format!("`{}` is not `host:port`", printable(&check.tcp)),
                        )
                        .hint("e.g. `127.0.0.1:8080` or `[::1]:8080`, port 1-65535"),
                    );
                }
                if let Some(iv) = &check.interval {
                    self.duration(doc, &format!("{at}/interval"), iv);
                }
            }
        }
        let (base, acl) = (base?, acl.ok()?);
        if self.diags.len() != before {
            return None;
        }
        let r = recipes::expand_service(&owner.name, spec, &base, acl);
        self.expansion(doc, r, "/spec/basePath")
    }

    pub(super) fn queue(&mut self, doc: usize, owner: &Owner, spec: &QueueSpec) -> Option<ZPath> {
        let path = self.managed_path(doc, "/spec/path", &spec.path, "path");
        let acl = self.acl(doc, spec.acl.as_ref(), "/spec/acl");
        let (path, acl) = (path?, acl.ok()?);
        let r = recipes::expand_queue(&owner.name, spec, &path, acl);
        self.expansion(doc, r, "/spec/path")
    }

    pub(super) fn election(
        &mut self,
        doc: usize,
        owner: &Owner,
        spec: &ElectionGroupSpec,
    ) -> Option<ZPath> {
        let path = self.managed_path(doc, "/spec/path", &spec.path, "path");
        let acl = self.acl(doc, spec.acl.as_ref(), "/spec/acl");
        let (path, acl) = (path?, acl.ok()?);
        let r = recipes::expand_election(&owner.name, spec, &path, acl);
        self.expansion(doc, r, "/spec/path")
    }

    pub(super) fn duration(&mut self, doc: usize, pointer: &str, text: &str) {
        match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => {}
            Ok(_) => self.problem(
                doc,
                Problem::at(pointer, "duration must be greater than zero"),
            ),
            Err(e) => self.problem(
                doc,
                Problem::at(
                    pointer,
                    format!("invalid duration `{}`: {e}", printable(text)),
                )
                .hint("e.g. `500ms`, `5s`, `1m 30s`"),
            ),
        }
    }
}
