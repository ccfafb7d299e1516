//! Who may do what: group roles, global admins, and personal API token scopes.
//!
//! Groups are the access boundary. A caller sees an object only when the object's group is one
//! they are an active member of (or they are a global admin); an invisible object is reported as
//! "not found", never "forbidden", so the existence of other groups' objects does not leak.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A role in a group. Ordered: each role includes the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything in the group.
    Viewer,
    /// Read, acknowledge/resolve alerts, manage silences.
    Responder,
    /// Manage everything in the group.
    Editor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Editor => "editor",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "responder" => Some(Role::Responder),
            "editor" => Some(Role::Editor),
            _ => None,
        }
    }
}

/// Why an access check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The object's group is invisible to the caller: answer 404.
    Invisible,
    /// Visible, but the role is too low: answer 403.
    Forbidden,
}

/// The effective rights of one request (user rights narrowed by the token, if any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    admin: bool,
    roles: BTreeMap<i64, Role>,
}

impl Access {
    pub fn new(admin: bool, roles: impl IntoIterator<Item = (i64, Role)>) -> Access {
        Access { admin, roles: roles.into_iter().collect() }
    }

    /// Narrows to one group, as a group-restricted API token does. An admin's restricted token
    /// acts as an editor of that group only.
    pub fn restricted_to(self, group_id: i64) -> Access {
        let role = if self.admin { Some(Role::Editor) } else { self.roles.get(&group_id).copied() };
        Access { admin: false, roles: role.map(|r| (group_id, r)).into_iter().collect() }
    }

    pub fn is_admin(&self) -> bool {
        self.admin
    }

    pub fn role_in(&self, group_id: i64) -> Option<Role> {
        if self.admin { Some(Role::Editor) } else { self.roles.get(&group_id).copied() }
    }

    pub fn check(&self, group_id: i64, needed: Role) -> Result<(), Denied> {
        match self.role_in(group_id) {
            None => Err(Denied::Invisible),
            Some(r) if r >= needed => Ok(()),
            Some(_) => Err(Denied::Forbidden),
        }
    }

    /// Groups the caller can see; `None` means all (admin).
    pub fn visible_groups(&self) -> Option<Vec<i64>> {
        if self.admin { None } else { Some(self.roles.keys().copied().collect()) }
    }

    /// Groups where the caller holds at least `role`; `None` means all (admin).
    pub fn groups_with(&self, role: Role) -> Option<Vec<i64>> {
        if self.admin { None } else { Some(self.roles.iter().filter(|(_, r)| **r >= role).map(|(g, _)| *g).collect()) }
    }
}

/// Personal API token scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Scope {
    #[serde(rename = "alerts:read")]
    AlertsRead,
    #[serde(rename = "alerts:write")]
    AlertsWrite,
    #[serde(rename = "resources:read")]
    ResourcesRead,
    #[serde(rename = "resources:write")]
    ResourcesWrite,
    #[serde(rename = "profile:read")]
    ProfileRead,
    #[serde(rename = "profile:write")]
    ProfileWrite,
    /// Everything; only admins may create such a token.
    #[serde(rename = "*")]
    All,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::AlertsRead,
        Scope::AlertsWrite,
        Scope::ResourcesRead,
        Scope::ResourcesWrite,
        Scope::ProfileRead,
        Scope::ProfileWrite,
        Scope::All,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AlertsRead => "alerts:read",
            Scope::AlertsWrite => "alerts:write",
            Scope::ResourcesRead => "resources:read",
            Scope::ResourcesWrite => "resources:write",
            Scope::ProfileRead => "profile:read",
            Scope::ProfileWrite => "profile:write",
            Scope::All => "*",
        }
    }
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The scope a token needs for a request, or `None` when tokens may not call the path at all
/// (the browser UI, unmapped paths).
pub fn required_scope(method: &str, path: &str) -> Option<Scope> {
    let read = matches!(method, "GET" | "HEAD");
    let area = if path.starts_with("/api/alerts")
        || path.starts_with("/api/integrations/")
        || path.starts_with("/api/events/")
        || path == "/v2/enqueue"
    {
        "alerts"
    } else if path.starts_with("/api/profile") || path.starts_with("/api/auth") {
        "profile"
    } else if path.starts_with("/api/") {
        "resources"
    } else {
        return None;
    };
    Some(match (area, read) {
        ("alerts", true) => Scope::AlertsRead,
        ("alerts", false) => Scope::AlertsWrite,
        ("profile", true) => Scope::ProfileRead,
        ("profile", false) => Scope::ProfileWrite,
        (_, true) => Scope::ResourcesRead,
        (_, false) => Scope::ResourcesWrite,
    })
}

/// Whether a token holding `granted` may make a request needing `needed`.
pub fn scope_allows(granted: &[Scope], needed: Scope) -> bool {
    granted.iter().any(|g| *g == Scope::All || *g == needed)
}

/// The most a token created with another token may have: a token never mints more than it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLimits {
    pub scopes: Vec<Scope>,
    /// The group the creating token is restricted to.
    pub group_id: Option<i64>,
    pub expires_at: Option<crate::domain::time::Ts>,
}

impl TokenLimits {
    /// Whether `wanted` is within the creating token's scopes (`*` only from `*`).
    pub fn allows_scope(&self, wanted: Scope) -> bool {
        self.scopes.contains(&Scope::All) || self.scopes.contains(&wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_invisible_groups_are_404() {
        let a = Access::new(false, [(1, Role::Viewer), (2, Role::Editor)]);
        assert_eq!(a.check(1, Role::Viewer), Ok(()));
        assert_eq!(a.check(1, Role::Responder), Err(Denied::Forbidden));
        assert_eq!(a.check(2, Role::Responder), Ok(()));
        assert_eq!(a.check(3, Role::Viewer), Err(Denied::Invisible));
        assert_eq!(a.groups_with(Role::Editor), Some(vec![2]));
    }

    #[test]
    fn restriction_never_widens() {
        let admin = Access::new(true, []);
        assert_eq!(admin.check(9, Role::Editor), Ok(()));
        let r = admin.restricted_to(9);
        assert!(!r.is_admin());
        assert_eq!(r.check(9, Role::Editor), Ok(()));
        assert_eq!(r.check(8, Role::Viewer), Err(Denied::Invisible));
        let viewer = Access::new(false, [(1, Role::Viewer)]).restricted_to(2);
        assert_eq!(viewer.check(2, Role::Viewer), Err(Denied::Invisible));
        assert_eq!(viewer.check(1, Role::Viewer), Err(Denied::Invisible));
    }

    #[test]
    fn token_limits_cover_only_their_own_scopes() {
        let l = TokenLimits { scopes: vec![Scope::ProfileWrite], group_id: Some(1), expires_at: None };
        assert!(l.allows_scope(Scope::ProfileWrite));
        assert!(!l.allows_scope(Scope::All));
        assert!(!l.allows_scope(Scope::ResourcesWrite));
        let all = TokenLimits { scopes: vec![Scope::All], group_id: None, expires_at: None };
        assert!(Scope::ALL.iter().all(|s| all.allows_scope(*s)));
    }

    #[test]
    fn scopes_map_paths() {
        assert_eq!(required_scope("GET", "/api/alerts/3"), Some(Scope::AlertsRead));
        assert_eq!(required_scope("POST", "/api/alerts/3/ack"), Some(Scope::AlertsWrite));
        assert_eq!(required_scope("POST", "/api/integrations/webhook"), Some(Scope::AlertsWrite));
        assert_eq!(required_scope("GET", "/api/teams"), Some(Scope::ResourcesRead));
        assert_eq!(required_scope("DELETE", "/api/teams/1"), Some(Scope::ResourcesWrite));
        assert_eq!(required_scope("PUT", "/api/profile"), Some(Scope::ProfileWrite));
        assert_eq!(required_scope("GET", "/alerts"), None);
        assert!(scope_allows(&[Scope::All], Scope::ResourcesWrite));
        assert!(!scope_allows(&[Scope::ResourcesRead], Scope::ResourcesWrite));
        assert_eq!(Scope::parse("alerts:read"), Some(Scope::AlertsRead));
        assert_eq!(Scope::parse("nope"), None);
    }
}
