// SPDX-License-Identifier: GPL-2.0
//! From creators to actions: the creation tree, the order of each
//! creator's children, and every task's list of steps.
//!
//! Creation is depth first and sequential: a creator forks a child and
//! waits until the child's whole subtree is built before it goes on,
//! except after a child whose subtree is plain (live processes and their
//! threads, each forked as a normal child, that neither leave their
//! creator's session and group nor exit): nothing there changes what the
//! creator or a later branch sees, so the creator forks its next child at
//! once and waits for that subtree before its own next other step. Both
//! branches are built side by side then, on as many CPUs. So a
//! task that joins a process group must be created after the group's
//! leader (or its placeholder); at their lowest common creator, the branch
//! holding the leader goes first. A task that joins the group of one of its
//! own descendants does it as soon as that descendant's branch is built.
//! A task whose group does not exist at any point of its own creation (the
//! branches of a cycle of groups, or a leader that must keep its own group
//! until a member created later has joined it) parks: it reports built and
//! joins once the whole tree is built, released by the coordinator.
//!
//! The steps are emitted while tracking what Linux would do (sessions,
//! groups, parents, exit signals), so that a `setpgid` is only issued where
//! the group exists and every inconsistency is reported with the task it
//! concerns.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use anyhow::{bail, Result};
use ckpt_image::TASK_ROOT;

use super::planner::{describe, Creators, Mode, Node, What, COORD};
use super::table::Table;
use super::{Action, Creator, Flags, Kind, Pid, Plan, Task, OUTSIDE};

/// How many plain subtrees a creator leaves unawaited at most.
const MAX_UNAWAITED: usize = 64;

/// Builds the plan of the placed forest `f`.
pub(super) fn emit(t: &Table<'_>, f: &Creators) -> Result<Plan> {
    let mut tree = Tree::new(f)?;
    tree.order_children(f)?;
    Emitter::new(t, f, &tree).run()
}

/// The creation tree: who forks whom, and in which order.
struct Tree {
    /// Creator and mode of every created node; `None` for the coordinator
    /// and for spare placeholders nobody needs.
    up: Vec<Option<(usize, Mode)>>,
    /// Children forked before the node's `setsid`.
    session: Vec<Vec<usize>>,
    /// Children forked after it.
    normal: Vec<Vec<usize>>,
    threads: Vec<Vec<usize>>,
    depth: Vec<usize>,
    /// Pre-order entry and exit times, for ancestor tests.
    tin: Vec<usize>,
    tout: Vec<usize>,
    /// Nodes in pre-order.
    preorder: Vec<usize>,
}

impl Tree {
    fn new(f: &Creators) -> Result<Self> {
        let len = f.nodes.len();
        let mut used = vec![false; len];
        for n in &f.nodes {
            if let Some((c, _)) = n.creator {
                used[c] = true;
            }
        }
        let mut up = vec![None; len];
        for (i, n) in f.nodes.iter().enumerate().skip(1) {
            if n.what == What::Spare && !used[i] {
                continue;
            }
            match n.creator {
                Some(c) => up[i] = Some(c),
                None => bail!("internal error: {} has no creator", describe(n)),
            }
        }
        check_acyclic(f, &up)?;
        let mut tree = Self {
            session: vec![Vec::new(); len],
            normal: vec![Vec::new(); len],
            threads: vec![Vec::new(); len],
            depth: vec![0; len],
            tin: vec![0; len],
            tout: vec![0; len],
            preorder: Vec::with_capacity(len),
            up,
        };
        for i in 1..len {
            match tree.up[i] {
                Some((c, Mode::Session)) => tree.session[c].push(i),
                Some((c, Mode::Thread)) => tree.threads[c].push(i),
                Some((c, Mode::Normal | Mode::Sibling)) => tree.normal[c].push(i),
                None => {}
            }
        }
        tree.number();
        Ok(tree)
    }

    fn kids(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        self.session[n]
            .iter()
            .chain(&self.normal[n])
            .chain(&self.threads[n])
            .copied()
    }

    /// Depth, pre-order and entry/exit times (iteratively: a chain of
    /// processes can be as deep as the table is long).
    fn number(&mut self) {
        let mut clock = 0;
        let mut stack = vec![(COORD, false)];
        while let Some((n, done)) = stack.pop() {
            if done {
                self.tout[n] = clock;
                continue;
            }
            self.tin[n] = clock;
            clock += 1;
            self.preorder.push(n);
            stack.push((n, true));
            let kids: Vec<usize> = self.kids(n).collect();
            for &k in kids.iter().rev() {
                self.depth[k] = self.depth[n] + 1;
                stack.push((k, false));
            }
        }
    }

    /// Whether `a` is an ancestor of `b` (or `b` itself).
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        self.tin[a] <= self.tin[b] && self.tout[b] <= self.tout[a]
    }

    fn parent_of(&self, n: usize) -> usize {
        self.up[n].map_or(COORD, |(c, _)| c)
    }

    /// For two nodes neither of which is an ancestor of the other: their
    /// lowest common creator and its children on the way to `a` and `b`.
    fn fork_point(&self, mut a: usize, mut b: usize) -> (usize, usize, usize) {
        while self.depth[a] > self.depth[b] {
            a = self.parent_of(a);
        }
        while self.depth[b] > self.depth[a] {
            b = self.parent_of(b);
        }
        while self.parent_of(a) != self.parent_of(b) {
            a = self.parent_of(a);
            b = self.parent_of(b);
        }
        (self.parent_of(a), a, b)
    }

    /// Orders every creator's children: group leaders before the branches
    /// of tasks that join their groups, otherwise in row order.
    fn order_children(&mut self, f: &Creators) -> Result<()> {
        let keys = self.keys(f);
        let groups: HashMap<Pid, usize> = (1..f.nodes.len())
            .filter(|&n| is_process(&f.nodes[n]) && self.up[n].is_some())
            .map(|n| (f.nodes[n].pid, n))
            .collect();
        let mut edges: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        for x in 1..f.nodes.len() {
            let Some(g) = f.nodes[x].pgid.filter(|&g| g != OUTSIDE) else {
                continue;
            };
            let Some(&leader) = groups.get(&g) else {
                continue;
            };
            if self.up[x].is_none() || self.is_ancestor(leader, x) || self.is_ancestor(x, leader) {
                continue;
            }
            let (l, before, after) = self.fork_point(leader, x);
            edges.entry(l).or_default().push((before, after));
        }
        for l in 0..f.nodes.len() {
            let e = edges.remove(&l).unwrap_or_default();
            self.session[l] = sort(&self.session[l], &e, &keys);
            self.normal[l] = sort(&self.normal[l], &e, &keys);
        }
        Ok(())
    }

    /// Sort key of each node: its row index, or for a placeholder the
    /// smallest row index it creates (so it comes where its first member
    /// would).
    fn keys(&self, f: &Creators) -> Vec<usize> {
        let mut keys: Vec<usize> = f
            .nodes
            .iter()
            .map(|n| match n.what {
                What::Row(i) => i,
                _ => usize::MAX,
            })
            .collect();
        for &n in self.preorder.iter().rev() {
            if let Some((c, _)) = self.up[n] {
                keys[c] = keys[c].min(keys[n]);
            }
        }
        keys
    }
}

fn is_process(n: &Node) -> bool {
    match n.what {
        What::Ghost => true,
        What::Row(_) => n.pgid.is_some(),
        What::Coordinator | What::Spare => false,
    }
}

/// Every creator chain ends at the coordinator.
fn check_acyclic(f: &Creators, up: &[Option<(usize, Mode)>]) -> Result<()> {
    // 0: not seen, 1: on the current chain, 2: reaches the coordinator.
    let mut state = vec![0u8; up.len()];
    state[COORD] = 2;
    for start in 1..up.len() {
        let mut chain = Vec::new();
        let mut n = start;
        while state[n] == 0 {
            state[n] = 1;
            chain.push(n);
            match up[n] {
                Some((c, _)) => n = c,
                None => break,
            }
        }
        if state[n] == 1 && up[n].is_some() {
            let who: Vec<String> = chain
                .iter()
                .skip_while(|&&c| c != n)
                .map(|&c| describe(&f.nodes[c]))
                .collect();
            bail!(
                "cannot recreate the tree: {} would each have to be forked by the next \
                 (process group leaders that moved into each other's groups?)",
                who.join(", ")
            );
        }
        for c in chain {
            state[c] = 2;
        }
    }
    Ok(())
}

/// `list` sorted by `keys`, except that `(a, b)` in `edges` puts a before b
/// (as far as the edges allow: the tasks of a cycle join their groups once
/// the tree is built).
fn sort(list: &[usize], edges: &[(usize, usize)], keys: &[usize]) -> Vec<usize> {
    let pos: HashMap<usize, usize> = list.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); list.len()];
    let mut before = vec![0usize; list.len()];
    for (a, b) in edges {
        if let (Some(&i), Some(&j)) = (pos.get(a), pos.get(b)) {
            after[i].push(j);
            before[j] += 1;
        }
    }
    let mut out = Vec::with_capacity(list.len());
    let mut done = vec![false; list.len()];
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = (0..list.len())
        .filter(|&i| before[i] == 0)
        .map(|i| Reverse((keys[list[i]], i)))
        .collect();
    while out.len() < list.len() {
        let next = ready.pop().map(|Reverse((_, i))| i).or_else(|| {
            // A cycle: take the first task left.
            (0..list.len())
                .filter(|&i| !done[i])
                .min_by_key(|&i| keys[list[i]])
        });
        let Some(i) = next else {
            break;
        };
        if done[i] {
            continue;
        }
        done[i] = true;
        out.push(list[i]);
        for &j in &after[i] {
            before[j] = before[j].saturating_sub(1);
            if before[j] == 0 && !done[j] {
                ready.push(Reverse((keys[list[j]], j)));
            }
        }
    }
    out
}

/// What Linux would know about a node while the plan runs.
#[derive(Clone, Copy, Debug, Default)]
struct State {
    sid: Pid,
    pgid: Pid,
    /// The parent; `None`: outside the tree (reparented to init).
    parent: Option<usize>,
    exit_signal: i32,
}

/// Where the emission of one node stands.
#[derive(Clone, Copy, Debug)]
enum Stage {
    Session(usize),
    Normal(usize),
    End,
}

struct Emitter<'a> {
    t: &'a Table<'a>,
    f: &'a Creators,
    tree: &'a Tree,
    st: Vec<State>,
    actions: Vec<Vec<Action>>,
    /// A group the node still has to join.
    pending: Vec<Option<Pid>>,
    /// Exited placeholders by the node that has to reap them.
    to_reap: HashMap<usize, Vec<usize>>,
    /// Live children of each node (for reparenting at a placeholder's exit).
    children: HashMap<usize, Vec<usize>>,
    /// Members (not counting threads) of each existing group, and its session.
    groups: HashMap<Pid, (Pid, usize)>,
    /// Groups some other task joins: their leader creates them first.
    led: HashSet<Pid>,
    /// Whether a node's creation subtree holds a task of the group outside
    /// the pid namespace, which can only be inherited.
    needs_outside: Vec<bool>,
    /// How many of its normal children each node has forked.
    cursor: Vec<usize>,
    /// Tasks waiting, built, for the whole tree to join their group.
    parked: Vec<usize>,
    /// Children of each node with a plain subtree, forked and not awaited
    /// yet (see the module doc).
    unawaited: Vec<Vec<usize>>,
    /// Whether each built node's subtree is plain.
    plain: Vec<bool>,
    created: Vec<usize>,
}

impl<'a> Emitter<'a> {
    fn new(t: &'a Table<'a>, f: &'a Creators, tree: &'a Tree) -> Self {
        let len = f.nodes.len();
        let led = f
            .nodes
            .iter()
            .filter(|n| is_process(n))
            .filter_map(|n| n.pgid.filter(|&g| g != n.pid))
            .collect();
        let mut groups = HashMap::new();
        groups.insert(OUTSIDE, (OUTSIDE, 1));
        let mut st = vec![State::default(); len];
        st[COORD] = State {
            sid: OUTSIDE,
            pgid: OUTSIDE,
            parent: None,
            exit_signal: 0,
        };
        let mut needs_outside: Vec<bool> = f
            .nodes
            .iter()
            .map(|n| !n.leader && n.pgid == Some(OUTSIDE))
            .collect();
        needs_outside[COORD] = false;
        for &n in tree.preorder.iter().rev() {
            if let Some((c, _)) = tree.up[n] {
                needs_outside[c] |= needs_outside[n];
            }
        }
        Self {
            t,
            f,
            tree,
            st,
            actions: vec![Vec::new(); len],
            pending: vec![None; len],
            to_reap: HashMap::new(),
            children: HashMap::new(),
            groups,
            led,
            needs_outside,
            cursor: vec![0; len],
            parked: Vec::new(),
            unawaited: vec![Vec::new(); len],
            plain: vec![false; len],
            created: Vec::with_capacity(len),
        }
    }

    fn run(mut self) -> Result<Plan> {
        let mut stack = vec![(COORD, Stage::Normal(0))];
        while let Some((n, stage)) = stack.pop() {
            match stage {
                Stage::Session(i) => match self.tree.session[n].get(i) {
                    Some(&k) => {
                        self.fork(n, k)?;
                        stack.push((n, Stage::Session(i + 1)));
                        stack.push((k, Stage::Session(0)));
                    }
                    None => {
                        self.settle(n)?;
                        stack.push((n, Stage::Normal(0)));
                    }
                },
                Stage::Normal(i) => match self.tree.normal[n].get(i) {
                    Some(&k) => {
                        self.cursor[n] = i + 1;
                        self.fork(n, k)?;
                        stack.push((n, Stage::Normal(i + 1)));
                        stack.push((k, Stage::Session(0)));
                    }
                    None => stack.push((n, Stage::End)),
                },
                Stage::End => {
                    self.finish(n)?;
                    if let Some(&(c, _)) = stack.last() {
                        self.built(c, n);
                    }
                }
            }
        }
        self.into_plan()
    }

    /// `c` forks `k`: `k` starts with what Linux gives it.
    fn fork(&mut self, c: usize, k: usize) -> Result<()> {
        let (_, mode) = self.tree.up[k].unwrap_or((c, Mode::Normal));
        let node = &self.f.nodes[k];
        let creator = self.st[c];
        let clone_parent = mode == Mode::Sibling;
        let (parent, exit_signal) = if clone_parent {
            (creator.parent, creator.exit_signal)
        } else {
            (Some(c), node.exit_signal.unwrap_or(nix::libc::SIGCHLD))
        };
        if let What::Row(i) = node.what {
            let want = self.t.rows[i].exit_signal;
            if exit_signal != want {
                bail!(
                    "cannot recreate {}: it must be forked with CLONE_PARENT by {}, which gives \
                     it exit signal {exit_signal}, but it was saved with {want}",
                    describe(node),
                    describe(&self.f.nodes[c])
                );
            }
        }
        self.st[k] = State {
            sid: creator.sid,
            pgid: creator.pgid,
            parent,
            exit_signal,
        };
        self.join(creator.pgid, creator.sid);
        if let Some(p) = parent {
            self.children.entry(p).or_default().push(k);
        }
        self.actions[c].push(Action::Fork {
            pid: node.pid,
            clone_parent,
            exit_signal: if clone_parent { 0 } else { exit_signal },
            spare: node.what == What::Spare,
        });
        self.created.push(k);
        for &th in &self.tree.threads[k] {
            self.st[th] = self.st[k];
        }
        Ok(())
    }

    /// After the session children: `setsid`, then the process group.
    fn settle(&mut self, n: usize) -> Result<()> {
        self.await_plain(n);
        let node = &self.f.nodes[n];
        if node.leader {
            if self.groups.contains_key(&node.pid) {
                bail!(
                    "cannot recreate session leader {}: process group {} exists before it calls \
                     setsid()",
                    node.pid,
                    node.pid
                );
            }
            self.actions[n].push(Action::Setsid);
            self.leave(n);
            self.st[n].sid = node.pid;
            self.st[n].pgid = node.pid;
            self.join(node.pid, node.pid);
            return Ok(());
        }
        if self.st[n].sid != node.sid && node.what != What::Spare {
            bail!(
                "internal error: {} would be born in session {} instead of {}",
                describe(node),
                self.st[n].sid,
                node.sid
            );
        }
        let Some(g) = node.pgid else {
            return Ok(());
        };
        let leads = g == node.pid || self.led.contains(&node.pid);
        if g != self.st[n].pgid || leads {
            self.pending[n] = Some(g);
            self.try_join(n);
        }
        Ok(())
    }

    /// Sets the process group as soon as possible: first its own group if
    /// it leads one (members may join it later, even when it moves on to
    /// another group itself), then the group it ends in if that exists. A
    /// leader that moves away waits until another member keeps its group
    /// alive; a task in the group outside the pid namespace stays there
    /// while children that must inherit that group are still to be forked.
    fn try_join(&mut self, n: usize) {
        let Some(g) = self.pending[n] else {
            return;
        };
        let pid = self.f.nodes[n].pid;
        if self.st[n].pgid == OUTSIDE {
            let rest = self.tree.normal[n]
                .get(self.cursor[n]..)
                .unwrap_or_default();
            if rest.iter().any(|&k| self.needs_outside[k]) {
                return;
            }
        }
        let leads = g == pid || self.led.contains(&pid);
        if leads && self.st[n].pgid != pid {
            self.setpgid(n, pid);
        }
        if g == self.st[n].pgid {
            self.pending[n] = None;
            return;
        }
        let exists = self
            .groups
            .get(&g)
            .is_some_and(|&(s, _)| s == self.st[n].sid);
        let own_held =
            self.st[n].pgid != pid || self.groups.get(&pid).is_some_and(|&(_, c)| c >= 2);
        if g != OUTSIDE && exists && own_held {
            self.setpgid(n, g);
            self.pending[n] = None;
        }
    }

    fn setpgid(&mut self, n: usize, g: Pid) {
        self.await_plain(n);
        self.actions[n].push(Action::Setpgid { pgid: g });
        self.leave(n);
        self.st[n].pgid = g;
        let sid = self.st[n].sid;
        self.join(g, sid);
    }

    fn join(&mut self, g: Pid, sid: Pid) {
        self.groups.entry(g).or_insert((sid, 0)).1 += 1;
    }

    fn leave(&mut self, n: usize) {
        let g = self.st[n].pgid;
        if let Some(entry) = self.groups.get_mut(&g) {
            entry.1 -= 1;
            if entry.1 == 0 {
                self.groups.remove(&g);
            }
        }
    }

    /// `c` has waited for `k` to report built: reap the placeholders that
    /// exited meanwhile, join a group that now exists. After a plain
    /// subtree it waits later (see the module doc).
    fn built(&mut self, c: usize, k: usize) {
        self.plain[k] = self.is_plain(k);
        if self.plain[k] {
            // A bounded number at a time: each keeps its report pipe open
            // in `c`, and its descriptors are copied into every later
            // child of `c`.
            if self.unawaited[c].len() >= MAX_UNAWAITED {
                let oldest = self.unawaited[c].remove(0);
                self.await_child(c, oldest);
            }
            self.unawaited[c].push(k);
            // A member forked now may keep `c`'s own group alive, as it
            // would once awaited.
            self.try_join(c);
            return;
        }
        self.await_plain(c);
        self.await_child(c, k);
        for p in self.to_reap.remove(&c).unwrap_or_default() {
            self.actions[c].push(Action::Reap {
                pid: self.f.nodes[p].pid,
            });
            self.leave(p);
        }
        self.try_join(c);
    }

    /// Whether the creation subtree of `k`, all emitted, is plain: only
    /// live processes forked as normal children and their threads, whose
    /// steps are forks of such children, threads, waits and the last one.
    /// Its built children's subtrees were judged when they were built.
    fn is_plain(&self, k: usize) -> bool {
        self.plain_itself(k)
            && self.tree.kids(k).all(|j| match self.tree.up[j] {
                Some((_, Mode::Thread)) => self.plain_itself(j),
                _ => self.plain[j],
            })
    }

    /// Whether `x` itself is plain (see [`Self::is_plain`]).
    fn plain_itself(&self, x: usize) -> bool {
        let live = match self.f.nodes[x].what {
            What::Row(i) => !self.t.rows[i].is_zombie(),
            _ => false,
        };
        live && matches!(self.tree.up[x], Some((_, Mode::Normal | Mode::Thread)))
            && self.actions[x].iter().all(|a| {
                matches!(
                    a,
                    Action::Fork {
                        clone_parent: false,
                        spare: false,
                        ..
                    } | Action::Thread { .. }
                        | Action::AwaitBuilt { .. }
                        | Action::Restore
                )
            })
    }

    /// `n` waits for the plain subtrees it has not waited for yet, before
    /// a step of its own other than a fork.
    fn await_plain(&mut self, n: usize) {
        for k in std::mem::take(&mut self.unawaited[n]) {
            self.await_child(n, k);
        }
    }

    /// `c` waits until its child `k` reports built.
    fn await_child(&mut self, c: usize, k: usize) {
        self.actions[c].push(Action::AwaitBuilt {
            pid: self.f.nodes[k].pid,
        });
    }

    /// Threads, then the final step.
    fn finish(&mut self, n: usize) -> Result<()> {
        self.await_plain(n);
        if n == COORD {
            return Ok(());
        }
        for &th in &self.tree.threads[n] {
            self.actions[n].push(Action::Thread {
                tid: self.f.nodes[th].pid,
            });
            self.created.push(th);
        }
        let node = &self.f.nodes[n];
        if self.pending[n] == Some(OUTSIDE) {
            bail!(
                "cannot recreate {}: it is in the process group outside the pid namespace, \
                 which a task can only inherit, and its creator is not in that group",
                describe(node)
            );
        }
        if self.pending[n].is_some() && matches!(node.what, What::Row(_)) {
            // Joins once the whole tree is built.
            self.actions[n].push(Action::Park);
            self.parked.push(n);
            return Ok(());
        }
        self.end(n)
    }

    /// The final step.
    fn end(&mut self, n: usize) -> Result<()> {
        let node = &self.f.nodes[n];
        if let Some(g) = self.pending[n] {
            bail!(
                "cannot recreate {}: it must join process group {g}, which does not exist at \
                 any point of its creation (its leader is created later, in another branch), \
                 or leave its own group, which no other member would keep alive",
                describe(node)
            );
        }
        let last = match node.what {
            What::Row(i) if self.t.rows[i].is_zombie() => Action::ExitZombie {
                status: self.t.rows[i].exit_code,
                comm: self.t.rows[i].comm,
            },
            What::Row(_) => Action::Restore,
            _ => Action::ExitPlaceholder,
        };
        self.actions[n].push(last);
        if last == Action::ExitPlaceholder {
            self.exit_placeholder(n)?;
        }
        Ok(())
    }

    fn exit_placeholder(&mut self, n: usize) -> Result<()> {
        for k in self.children.remove(&n).unwrap_or_default() {
            if self.st[k].parent == Some(n) {
                self.st[k].parent = None;
            }
        }
        match self.st[n].parent {
            Some(p) => self.to_reap.entry(p).or_default().push(n),
            None => bail!(
                "cannot recreate the tree: {} would have no parent to reap it",
                describe(&self.f.nodes[n])
            ),
        }
        Ok(())
    }

    /// The parked tasks join their groups, released one by one by the
    /// coordinator: tasks joining others' groups first, then leaders that
    /// move away from theirs, each as soon as it can.
    fn release_parked(&mut self) -> Result<()> {
        let mut parked = std::mem::take(&mut self.parked);
        parked.sort_by_key(|&n| self.led.contains(&self.f.nodes[n].pid));
        while !parked.is_empty() {
            let ready = parked.iter().position(|&n| {
                self.try_join(n);
                self.pending[n].is_none()
            });
            let Some(i) = ready else {
                // Reports the first one that cannot join.
                return parked.first().map_or(Ok(()), |&n| self.end(n));
            };
            let n = parked.remove(i);
            self.actions[COORD].push(Action::Release {
                pid: self.f.nodes[n].pid,
            });
            self.end(n)?;
        }
        Ok(())
    }

    fn into_plan(mut self) -> Result<Plan> {
        self.release_parked()?;
        let f = self.f;
        let root_pid = f.nodes[f.root].pid;
        let mut actions = self.actions;
        let coordinator = std::mem::take(&mut actions[COORD]);
        let mut tasks = Vec::with_capacity(self.created.len());
        for &n in &self.created {
            let node = &f.nodes[n];
            let Some((c, mode)) = self.tree.up[n] else {
                bail!("internal error: {} has no creator", describe(node));
            };
            tasks.push(Task {
                pid: node.pid,
                creator: if c == COORD {
                    Creator::Coordinator
                } else {
                    Creator::Task(f.nodes[c].pid)
                },
                flags: flags(self.t, node, mode),
                kind: kind(self.t, node),
                actions: std::mem::take(&mut actions[n]),
            });
        }
        Ok(Plan::new(root_pid, coordinator, tasks))
    }
}

fn flags(t: &Table<'_>, node: &Node, mode: Mode) -> Flags {
    let mut flags = match mode {
        Mode::Normal => Flags::empty(),
        Mode::Sibling => Flags::SIBLING,
        Mode::Session => Flags::SESSION,
        Mode::Thread => Flags::THREAD,
    };
    match node.what {
        What::Row(i) if t.rows[i].flags & TASK_ROOT != 0 => flags |= Flags::ROOT,
        What::Ghost => flags |= Flags::DEAD | Flags::GHOST,
        What::Spare => flags |= Flags::DEAD,
        _ => {}
    }
    flags
}

fn kind(t: &Table<'_>, node: &Node) -> Kind {
    match node.what {
        What::Row(i) if t.rows[i].is_thread() => Kind::Thread,
        What::Row(i) if t.rows[i].is_zombie() => Kind::Zombie {
            status: t.rows[i].exit_code,
        },
        What::Row(_) => Kind::Live,
        _ => Kind::Placeholder,
    }
}
