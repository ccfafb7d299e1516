//! How far setting up has come, for the dashboard's checklist on a fresh install: group →
//! people → team → rotation → channel → route → test alert. Each step is "done" when one such
//! thing exists in the groups the viewer sees, and carries the id the next step links to.

use super::sql::vals;
use super::{Read, Result, placeholders};

/// The first thing of each step that exists, by id (`None`: the step is still to do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub group: Option<i64>,
    /// A group that has a member.
    pub people: Option<i64>,
    pub team: Option<i64>,
    /// A rotation with at least one member.
    pub rotation: Option<i64>,
    pub channel: Option<i64>,
    pub route: Option<i64>,
    /// Any alert, a test alert included.
    pub alert: Option<i64>,
}

/// The first id `sql` finds in the given groups (`None` = all); `sql` ends with a `WHERE`
/// condition and names the group column `{group}`.
fn first(c: &Read<'_>, sql: &str, group_column: &str, groups: Option<&[i64]>) -> Result<Option<i64>> {
    let (filter, args) = match groups {
        Some(g) => (format!(" AND {group_column} IN {}", placeholders(g.len())), vals(g)),
        None => (String::new(), Vec::new()),
    };
    c.opt(&format!("{sql}{filter} LIMIT 1"), &args, |r| r.get(0))
}

pub fn progress(c: &Read<'_>, groups: Option<&[i64]>) -> Result<Progress> {
    let owned = |table: &str| format!("SELECT x.id FROM {table} x JOIN teams t ON t.id = x.team_id WHERE 1 = 1");
    Ok(Progress {
        group: first(c, "SELECT id FROM groups WHERE 1 = 1", "id", groups)?,
        people: first(c, "SELECT group_id FROM group_memberships WHERE 1 = 1", "group_id", groups)?,
        team: first(c, "SELECT id FROM teams WHERE 1 = 1", "group_id", groups)?,
        rotation: first(
            c,
            "SELECT x.id FROM rotations x JOIN teams t ON t.id = x.team_id \
             WHERE EXISTS (SELECT 1 FROM rotation_members m WHERE m.rotation_id = x.id)",
            "t.group_id",
            groups,
        )?,
        channel: first(c, &owned("channels"), "t.group_id", groups)?,
        route: first(c, &owned("routes"), "t.group_id", groups)?,
        alert: first(c, &owned("alerts"), "t.group_id", groups)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::db;

    #[test]
    fn a_fresh_install_has_done_nothing() {
        let (db, _dir) = db();
        let p = db.read_blocking(|c| progress(c, None)).unwrap();
        assert_eq!(p, Progress::default());
        let p = db.read_blocking(|c| progress(c, Some(&[1, 2]))).unwrap();
        assert_eq!(p, Progress::default());
    }
}
