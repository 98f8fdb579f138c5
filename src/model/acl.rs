use std::fmt;

/// ZooKeeper permission bits (`ZooDefs.Perms`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Perms(pub u32);

impl Perms {
    pub const READ: Perms = Perms(1);
    pub const WRITE: Perms = Perms(2);
    pub const CREATE: Perms = Perms(4);
    pub const DELETE: Perms = Perms(8);
    pub const ADMIN: Perms = Perms(16);
    pub const ALL: Perms = Perms(31);

    /// Parses one permission word: `read`, `write`, `create`, `delete`, `admin`, `all`.
    pub fn from_word(w: &str) -> Option<Perms> {
        Some(match w {
            "read" => Self::READ,
            "write" => Self::WRITE,
            "create" => Self::CREATE,
            "delete" => Self::DELETE,
            "admin" => Self::ADMIN,
            "all" => Self::ALL,
            _ => return None,
        })
    }

    /// The permission words, `[all]` when every bit is set.
    pub fn words(self) -> Vec<&'static str> {
        if self == Self::ALL {
            return vec!["all"];
        }
        let mut v = Vec::new();
        for (p, w) in [
            (Self::READ, "read"),
            (Self::WRITE, "write"),
            (Self::CREATE, "create"),
            (Self::DELETE, "delete"),
            (Self::ADMIN, "admin"),
        ] {
            if self.0 & p.0 != 0 {
                v.push(w);
            }
        }
        v
    }
}

/// One ACL entry: scheme, id, permissions.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct AclEntry {
    pub scheme: String,
    pub id: String,
    pub perms: Perms,
}

impl AclEntry {
    /// `world:anyone` with every permission: ZooKeeper's `OPEN_ACL_UNSAFE`, used when none is declared.
    pub fn open() -> Self {
        AclEntry {
            scheme: "world".into(),
            id: "anyone".into(),
            perms: Perms::ALL,
        }
    }
}

impl fmt::Display for AclEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.scheme,
            self.id,
            self.perms.words().join(",")
        )
    }
}
