//! Positions: a document's JSON pointer to `file:line:column`, parsing the marked YAML only
//! when a diagnostic needs it.
use super::*;

impl<'c, 'i> Ctx<'c, 'i> {
    pub(super) fn source(&self, doc: usize) -> &'i Source {
        let src = self.docs.borrow()[doc].src;
        &self.sources[src]
    }

    pub(super) fn file(&self, doc: usize) -> &'i Path {
        &self.source(doc).path
    }

    pub(super) fn pos(&self, doc: usize, pointer: &str, target: Target) -> Pos {
        let (src, index, start) = {
            let docs = self.docs.borrow();
            if docs[doc].too_deep {
                return docs[doc].start;
            }
            (docs[doc].src, docs[doc].index, docs[doc].start)
        };
        let file_trees: &'c [OnceCell<Option<Vec<MarkedYaml<'i>>>>] = self.file_trees;
        let sources: &'i [Source] = self.sources;
        let mut locators = self.locators.borrow_mut();
        let locator = locators.entry(doc).or_insert_with(|| {
            let trees =
                file_trees[src].get_or_init(|| locate::parse_documents(&sources[src].text).ok());
            trees.as_ref()?.get(index).map(Locator::new)
        });
        match locator {
            Some(l) => l.locate(pointer, target),
            None => start,
        }
    }

    pub(super) fn diag(&self, doc: usize, p: &Problem) -> Diagnostic {
        let mut d = Diagnostic::invalid(
            self.file(doc),
            self.pos(doc, &p.pointer, p.target),
            &p.message,
        );
        if let Some(h) = &p.hint {
            d = d.hint(h);
        }
        d
    }

    /// `file:line:column` of a pointer, for messages that name another place.
    pub(super) fn place(&self, doc: usize, pointer: &str, target: Target) -> String {
        let p = self.pos(doc, pointer, target);
        format!("{}:{}:{}", self.file(doc).display(), p.line, p.column)
    }
}
