// SPDX-License-Identifier: GPL-2.0
//! Creators and flags: who forks each task, and how (the paper's
//! DumpForest, rules in the parent module's doc).
//!
//! Works on nodes: the coordinator (node 0), one node per row (processes
//! and threads, in row order), then placeholders: ghosts (a dead session
//! or process group leader, with that pid) and spares (a dying parent for
//! an orphan, with any free pid).

use std::collections::HashMap;

use anyhow::{bail, Result};
use ckpt_image::TASK_ROOT;

use super::table::Table;
use super::{Pid, OUTSIDE};

/// The coordinator's node.
pub(super) const COORD: usize = 0;

/// Exit signal of placeholders that nothing constrains.
const SIGCHLD: i32 = nix::libc::SIGCHLD;

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum What {
    Coordinator,
    /// The row with this index.
    Row(usize),
    /// A placeholder for a dead session or group leader.
    Ghost,
    /// A placeholder parent for an orphan.
    Spare,
}

/// The parent a node must end up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Parent {
    Node(usize),
    /// Outside the tree (an orphan), or anything (a placeholder).
    Outside,
}

/// How a node is forked by its creator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// A plain fork, after the creator's `setsid`.
    Normal,
    /// With `CLONE_PARENT`.
    Sibling,
    /// A plain fork before the creator's `setsid`.
    Session,
    /// A thread of the creator.
    Thread,
}

/// One task to create (or the coordinator).
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub pid: Pid,
    pub what: What,
    /// The session it is in once created (after its `setsid`).
    pub sid: Pid,
    /// The process group it must end in; `None`: whatever it inherits.
    pub pgid: Option<Pid>,
    /// A session leader: calls `setsid`.
    pub leader: bool,
    pub parent: Parent,
    /// For a session leader: the session it must be born in, because it
    /// forks tasks of that session before its `setsid`.
    pub birth: Option<Pid>,
    /// Exit signal to fork it with; `None`: not decided yet.
    pub exit_signal: Option<i32>,
    pub creator: Option<(usize, Mode)>,
}

/// The planner's result: every node with its creator (the paper's DumpForest output).
pub(super) struct Creators {
    pub nodes: Vec<Node>,
    /// Node of the root row.
    pub root: usize,
}

impl Creators {
    /// Node of row `i`.
    pub fn row_node(i: usize) -> usize {
        i + 1
    }
}

pub(super) struct Planner<'t> {
    t: &'t Table<'t>,
    nodes: Vec<Node>,
    /// Node of every process and ghost pid.
    by_pid: HashMap<Pid, usize>,
    next_spare: Pid,
    policy: Policy,
}

/// How to choose where the table alone does not tell how the forest came
/// about, and a choice can rule out another one elsewhere: the planner
/// tries the policies in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Policy {
    /// When a task's children can get into their session both ways.
    pub session: SessionChoice,
    /// Whether an orphan's dying parent is forked by the leader of the
    /// orphan's process group (so it inherits the group), rather than by
    /// its session's leader.
    pub orphan_in_group: bool,
}

/// See [`Policy::session`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SessionChoice {
    /// SESSION when the parent's own parent is in the session (nothing
    /// propagates), else SIBLING.
    Nearest,
    /// SESSION whenever possible.
    Session,
    /// SIBLING whenever possible.
    Sibling,
}

impl Policy {
    /// Every policy, the most likely to succeed first.
    pub fn all() -> impl Iterator<Item = Self> {
        [true, false].into_iter().flat_map(|orphan_in_group| {
            [
                SessionChoice::Nearest,
                SessionChoice::Session,
                SessionChoice::Sibling,
            ]
            .into_iter()
            .map(move |session| Self {
                session,
                orphan_in_group,
            })
        })
    }
}

/// Children of `parent` that must be born in session `sid`, which
/// `parent` is not in at the end.
struct Pair {
    parent: usize,
    sid: Pid,
    /// Their exit signals.
    signals: Vec<i32>,
    decided: bool,
}

/// How the children of a [`Pair`] get into their session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    /// The parent forks them before its setsid().
    Session,
    /// The session's leader, a child of the parent, forks them.
    Sibling,
    /// Impossible: reported when the creators are assigned.
    Neither,
}

impl<'t> Planner<'t> {
    pub fn new(t: &'t Table<'t>, policy: Policy) -> Self {
        let coordinator = Node {
            pid: OUTSIDE,
            what: What::Coordinator,
            sid: OUTSIDE,
            pgid: Some(OUTSIDE),
            leader: false,
            parent: Parent::Outside,
            birth: None,
            exit_signal: None,
            creator: None,
        };
        let mut p = Self {
            t,
            nodes: vec![coordinator],
            by_pid: HashMap::new(),
            next_spare: 1,
            policy,
        };
        for (i, r) in t.rows.iter().enumerate() {
            let node = Creators::row_node(i);
            p.by_pid.insert(r.pid, node);
            let parent = if r.flags & TASK_ROOT != 0 {
                Parent::Node(COORD)
            } else if r.is_thread() {
                Parent::Outside
            } else {
                match t.process(r.ppid).and_then(|_| t.index(r.ppid)) {
                    Some(pi) => Parent::Node(Creators::row_node(pi)),
                    None => Parent::Outside,
                }
            };
            p.nodes.push(Node {
                pid: r.pid,
                what: What::Row(i),
                sid: r.sid,
                pgid: (!r.is_thread()).then_some(r.pgid),
                leader: !r.is_thread() && r.sid == r.pid,
                parent,
                birth: None,
                exit_signal: Some(r.exit_signal),
                creator: None,
            });
            let top = [r.pid, r.ppid, r.sid, r.pgid]
                .into_iter()
                .max()
                .unwrap_or(0);
            p.next_spare = p.next_spare.max(top.saturating_add(1));
        }
        p
    }

    /// Places every node under its creator.
    pub fn run(mut self) -> Result<Creators> {
        self.add_ghosts();
        self.place_group_ghosts();
        self.resolve_sessions();
        for i in 0..self.t.rows.len() {
            let n = Creators::row_node(i);
            if self.t.rows[i].is_thread() {
                let tgid = self.t.rows[i].tgid;
                let Some(&leader) = self.by_pid.get(&tgid) else {
                    bail!(
                        "internal error: no leader {tgid} for thread {}",
                        self.t.rows[i].pid
                    );
                };
                self.nodes[n].creator = Some((leader, Mode::Thread));
            } else {
                self.assign(n)?;
            }
        }
        for n in 0..self.nodes.len() {
            if self.nodes[n].what == What::Ghost && self.nodes[n].creator.is_none() {
                self.assign(n)?;
            }
        }
        Ok(Creators {
            nodes: self.nodes,
            root: Creators::row_node(0),
        })
    }

    /// A ghost for every session or process group id that is not a row.
    fn add_ghosts(&mut self) {
        let rows = self.t.rows.iter().filter(|r| !r.is_thread());
        for r in rows.clone() {
            if r.sid != OUTSIDE && !self.by_pid.contains_key(&r.sid) {
                self.add_ghost(r.sid, r.sid, true);
            }
        }
        for r in rows {
            if r.pgid != OUTSIDE && !self.by_pid.contains_key(&r.pgid) {
                self.add_ghost(r.pgid, r.sid, false);
            }
        }
    }

    fn add_ghost(&mut self, pid: Pid, sid: Pid, leader: bool) {
        self.by_pid.insert(pid, self.nodes.len());
        self.nodes.push(Node {
            pid,
            what: What::Ghost,
            sid,
            pgid: Some(pid),
            leader,
            parent: Parent::Outside,
            birth: None,
            exit_signal: None,
            creator: None,
        });
    }

    /// Chooses the parent of each group ghost. With an orphan member, the
    /// ghost is that member's dying parent and its own parent does not
    /// matter. Else it goes under the parent of the first member whose
    /// parent is not in the group, to fork that member with CLONE_PARENT.
    fn place_group_ghosts(&mut self) {
        let mut members: HashMap<Pid, Vec<usize>> = HashMap::new();
        for n in self.process_nodes() {
            if let Some(g) = self.nodes[n].pgid.filter(|&g| g != self.nodes[n].pid) {
                members.entry(g).or_default().push(n);
            }
        }
        for g in self.ghosts() {
            let pgid = self.nodes[g].pid;
            let Some(members) = members.get(&pgid).filter(|_| !self.nodes[g].leader) else {
                continue;
            };
            let orphan = members
                .iter()
                .any(|&m| self.nodes[m].parent == Parent::Outside);
            if orphan {
                continue;
            }
            let outside_group = |m: &&usize| match self.nodes[**m].parent {
                Parent::Node(p) => self.nodes[p].pgid != Some(pgid),
                Parent::Outside => false,
            };
            let first = members.iter().find(outside_group).or(members.first());
            if let Some(&m) = first {
                self.nodes[g].parent = self.nodes[m].parent;
            }
        }
    }

    /// Decides, for every task P with children born in a session S that P
    /// is not in at the end, how those children get into S: P was born in
    /// S and forked them before its setsid() (SESSION), or S's leader is a
    /// child of P and forked them with CLONE_PARENT (SIBLING). Forced
    /// choices first (P is no session leader, S's leader is alive, the
    /// children have different exit signals), then the others; a SESSION
    /// choice makes P itself a child born in S.
    fn resolve_sessions(&mut self) {
        let mut pairs: Vec<Pair> = Vec::new();
        let mut index: HashMap<(usize, Pid), usize> = HashMap::new();
        let nodes: Vec<usize> = self.process_nodes().collect();
        for n in nodes {
            if !self.nodes[n].leader {
                self.add_pair(&mut pairs, &mut index, n, self.nodes[n].sid);
            }
        }
        loop {
            let mut progress = false;
            for i in 0..pairs.len() {
                if pairs[i].decided {
                    continue;
                }
                if let Some(choice) = self.forced(&pairs[i]) {
                    self.apply(&mut pairs, &mut index, i, choice);
                    progress = true;
                }
            }
            if progress {
                continue;
            }
            let Some(i) = pairs.iter().position(|p| !p.decided) else {
                break;
            };
            let choice = self.preferred(&pairs[i]);
            self.apply(&mut pairs, &mut index, i, choice);
        }
    }

    /// Records that `n` must be born in `s` as a child of its parent.
    fn add_pair(
        &self,
        pairs: &mut Vec<Pair>,
        index: &mut HashMap<(usize, Pid), usize>,
        n: usize,
        s: Pid,
    ) {
        let Parent::Node(p) = self.nodes[n].parent else {
            return;
        };
        if self.nodes[p].sid == s {
            return;
        }
        let i = *index.entry((p, s)).or_insert_with(|| {
            pairs.push(Pair {
                parent: p,
                sid: s,
                signals: Vec::new(),
                decided: false,
            });
            pairs.len() - 1
        });
        if let Some(sig) = self.nodes[n].exit_signal {
            if !pairs[i].signals.contains(&sig) {
                pairs[i].signals.push(sig);
            }
        }
    }

    /// The only possible choice for a pair, if there is just one.
    fn forced(&self, pair: &Pair) -> Option<Choice> {
        let p = &self.nodes[pair.parent];
        let can_session = pair.parent != COORD && p.leader && p.birth.is_none_or(|b| b == pair.sid);
        let leader = self.session_node(pair.sid);
        let can_sibling = leader.is_some_and(|l| {
            let ln = &self.nodes[l];
            let signal_ok = match ln.exit_signal {
                Some(sig) => pair.signals.iter().all(|&s| s == sig),
                None => pair.signals.len() <= 1,
            };
            let parent_ok = match ln.what {
                What::Ghost => {
                    ln.parent == Parent::Outside || ln.parent == Parent::Node(pair.parent)
                }
                _ => ln.parent == Parent::Node(pair.parent),
            };
            signal_ok && parent_ok
        });
        let ghost_free = leader.is_some_and(|l| {
            self.nodes[l].what == What::Ghost && self.nodes[l].parent == Parent::Outside
        });
        match (can_session, can_sibling) {
            (true, false) => Some(Choice::Session),
            (false, true) => Some(Choice::Sibling),
            (false, false) => Some(Choice::Neither),
            // Already decided the same way elsewhere: nothing to choose.
            (true, true) if !ghost_free => Some(Choice::Sibling),
            (true, true) if p.birth == Some(pair.sid) => Some(Choice::Session),
            (true, true) => None,
        }
    }

    /// The choice for a pair with two possible ones, after the policy.
    fn preferred(&self, pair: &Pair) -> Choice {
        match self.policy.session {
            SessionChoice::Sibling => Choice::Sibling,
            SessionChoice::Session => Choice::Session,
            SessionChoice::Nearest => match self.nodes[pair.parent].parent {
                Parent::Node(pp) if self.nodes[pp].sid == pair.sid => Choice::Session,
                _ => Choice::Sibling,
            },
        }
    }

    fn apply(
        &mut self,
        pairs: &mut Vec<Pair>,
        index: &mut HashMap<(usize, Pid), usize>,
        i: usize,
        choice: Choice,
    ) {
        pairs[i].decided = true;
        let (p, s) = (pairs[i].parent, pairs[i].sid);
        match choice {
            Choice::Sibling => {
                if let Some(l) = self.session_node(s) {
                    if self.nodes[l].what == What::Ghost {
                        self.nodes[l].parent = Parent::Node(p);
                        if self.nodes[l].exit_signal.is_none() {
                            self.nodes[l].exit_signal = pairs[i].signals.first().copied();
                        }
                    }
                }
            }
            Choice::Session => {
                if self.nodes[p].birth.is_none() {
                    self.nodes[p].birth = Some(s);
                    self.add_pair(pairs, index, p, s);
                }
            }
            // Reported when the creators are assigned.
            Choice::Neither => {}
        }
    }

    fn ghosts(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| self.nodes[n].what == What::Ghost)
            .collect()
    }

    /// Process nodes of rows (in row order), then ghosts.
    fn process_nodes(&self) -> impl Iterator<Item = usize> + Clone + '_ {
        (1..self.nodes.len()).filter(|&n| {
            self.nodes[n].what == What::Ghost
                || self.row_of(n).is_some_and(|i| !self.t.rows[i].is_thread())
        })
    }

    fn row_of(&self, n: usize) -> Option<usize> {
        match self.nodes[n].what {
            What::Row(i) => Some(i),
            _ => None,
        }
    }

    /// Computes the creator of `n`.
    fn assign(&mut self, n: usize) -> Result<()> {
        let node = &self.nodes[n];
        let creator = match (node.parent, node.leader, node.birth) {
            (Parent::Node(p), true, None) => (p, Mode::Normal),
            (Parent::Node(p), true, Some(birth)) => self.in_session(n, p, birth)?,
            (Parent::Node(p), false, _) => self.in_session(n, p, node.sid)?,
            (Parent::Outside, _, _) => self.orphan_creator(n)?,
        };
        self.nodes[n].creator = Some(creator);
        Ok(())
    }

    /// How to create `n` as a child of `p`, born in session `s`.
    fn in_session(&mut self, n: usize, p: usize, s: Pid) -> Result<(usize, Mode)> {
        // The leader of n's group (a placeholder, or moved to another
        // group) is also a child of p: it forks n into the group.
        if let Some(a) = self.nodes[n].pgid.and_then(|g| self.anchor(g)) {
            let an = &self.nodes[a];
            if !self.nodes[n].leader
                && a != n
                && an.parent == Parent::Node(p)
                && an.sid == s
                && self.sibling_signal(a, n)
            {
                return Ok((a, Mode::Sibling));
            }
        }
        if self.nodes[p].sid == s {
            return Ok((p, Mode::Normal));
        }
        if let Some(l) = self.session_node(s) {
            if l != n && self.nodes[l].parent == Parent::Node(p) && self.sibling_signal(l, n) {
                return Ok((l, Mode::Sibling));
            }
        }
        if p != COORD && self.nodes[p].birth == Some(s) {
            return Ok((p, Mode::Session));
        }
        bail!(
            "cannot recreate {}: it is in session {s}, but its parent {} is not, is no session \
             leader that could have forked it before calling setsid(), and the leader of \
             session {s} is no child of {}",
            self.describe(n),
            self.describe(p),
            self.describe(p)
        )
    }

    /// How to create `n`, whose parent is outside the tree (an orphan) or
    /// does not matter (a placeholder).
    fn orphan_creator(&mut self, n: usize) -> Result<(usize, Mode)> {
        let node = &self.nodes[n];
        let (sid, leader, birth) = (node.sid, node.leader, node.birth);
        match node.what {
            What::Ghost if leader => {
                let creator = match birth {
                    Some(b) => self.holder(b)?,
                    None => Creators::row_node(0),
                };
                Ok((creator, Mode::Normal))
            }
            What::Ghost => Ok((self.holder(sid)?, Mode::Normal)),
            What::Row(_) if leader => {
                let holder = match birth {
                    Some(b) => self.holder(b)?,
                    None => Creators::row_node(0),
                };
                Ok((self.spare(holder), Mode::Normal))
            }
            What::Row(_) => {
                // A ghost of its group or session dies anyway: it is the
                // dying parent.
                let ghost = [node.pgid.unwrap_or(OUTSIDE), sid]
                    .into_iter()
                    .filter(|&id| id != OUTSIDE)
                    .filter_map(|id| self.by_pid.get(&id).copied())
                    .find(|&g| self.nodes[g].what == What::Ghost);
                if let Some(g) = ghost {
                    return Ok((g, Mode::Normal));
                }
                // Else a dying parent forked by its group's leader (in the
                // group: a leader that moves away may need the member to
                // keep the group alive) or by its session's.
                let group_leader = node
                    .pgid
                    .filter(|&g| g != OUTSIDE && self.policy.orphan_in_group)
                    .and_then(|g| self.by_pid.get(&g).copied())
                    .filter(|&l| self.row_of(l).is_some() && !self.descends_from(l, n));
                let holder = match group_leader {
                    Some(l) => l,
                    None => self.holder(sid)?,
                };
                Ok((self.spare(holder), Mode::Normal))
            }
            What::Coordinator | What::Spare => {
                bail!("internal error: no creator rule for {}", self.describe(n))
            }
        }
    }

    /// Whether `a` is `n` or one of its descendants (by saved parents).
    fn descends_from(&self, mut a: usize, n: usize) -> bool {
        loop {
            if a == n {
                return true;
            }
            match self.nodes[a].parent {
                Parent::Node(p) if p != COORD => a = p,
                _ => return false,
            }
        }
    }

    /// A new spare placeholder forked by `creator`.
    fn spare(&mut self, creator: usize) -> usize {
        let pid = self.next_spare;
        self.next_spare = self.next_spare.saturating_add(1);
        let sid = self.nodes[creator].sid;
        self.nodes.push(Node {
            pid,
            what: What::Spare,
            sid,
            pgid: None,
            leader: false,
            parent: Parent::Outside,
            birth: None,
            exit_signal: Some(SIGCHLD),
            creator: Some((creator, Mode::Normal)),
        });
        self.nodes.len() - 1
    }

    /// A task that is in session `s` once created: its leader, or for the
    /// session outside the namespace the root (if in it) or the coordinator.
    fn holder(&self, s: Pid) -> Result<usize> {
        if s == OUTSIDE {
            let root = Creators::row_node(0);
            let in_it = self.nodes[root].sid == OUTSIDE;
            return Ok(if in_it { root } else { COORD });
        }
        match self.session_node(s) {
            Some(l) => Ok(l),
            None => bail!("internal error: session {s} has no leader or placeholder"),
        }
    }

    /// The leader (or ghost) of session `s`.
    fn session_node(&self, s: Pid) -> Option<usize> {
        self.by_pid
            .get(&s)
            .copied()
            .filter(|&n| self.nodes[n].leader && s != OUTSIDE)
    }

    /// The task whose pid is group `g`, if it forks members into the group
    /// and leaves it: a ghost, or a live leader that moved to another group.
    fn anchor(&self, g: Pid) -> Option<usize> {
        let a = self.by_pid.get(&g).copied()?;
        let node = &self.nodes[a];
        let anchors = match node.what {
            What::Ghost => true,
            What::Row(i) => !self.t.rows[i].is_thread() && node.pgid != Some(g),
            What::Coordinator | What::Spare => false,
        };
        (anchors && g != OUTSIDE).then_some(a)
    }

    /// Whether `creator` can fork `n` with CLONE_PARENT, which gives `n`
    /// the creator's exit signal; fixes a placeholder's signal on first use.
    fn sibling_signal(&mut self, creator: usize, n: usize) -> bool {
        let want = self.nodes[n].exit_signal;
        match (self.nodes[creator].exit_signal, want) {
            (Some(have), Some(want)) => have == want,
            (None, Some(want)) => {
                self.nodes[creator].exit_signal = Some(want);
                true
            }
            (_, None) => true,
        }
    }

    fn describe(&self, n: usize) -> String {
        describe(&self.nodes[n])
    }
}

/// A node for messages: `process 12`, `the placeholder 7`, `the coordinator`.
pub(super) fn describe(node: &Node) -> String {
    match node.what {
        What::Coordinator => "the coordinator".to_owned(),
        What::Row(_) => format!("process {}", node.pid),
        What::Ghost if node.leader => {
            format!("the placeholder of dead session leader {}", node.pid)
        }
        What::Ghost => format!("the placeholder of dead group leader {}", node.pid),
        What::Spare => format!("the placeholder parent {}", node.pid),
    }
}
