//! Model-based property test of the ownership server.
//!
//! Random sequences of operations (actors created and dropped, direct and lazy
//! allowances, updates, lookups, mode switches, manual cleanup) run against a real
//! `Ownership` and, step by step, against `Model`: a small, obviously-correct restatement
//! of the rules written here from the documentation. Every answer and the whole state
//! after every step must agree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use ownership_runtime::{Actor, ActorId, Found, Mode, Ownership, OwnershipError, ToAllow};
use proptest::prelude::*;

/// Actors live in a few numbered slots; an operation names slots, not actors.
const SLOTS: usize = 5;
/// Keys are small numbers, so operations meet on the same keys often.
const KEYS: u8 = 3;

#[derive(Debug, Clone)]
enum Op {
    /// Drops the slot's actor, if alive, and puts a new one there.
    Spawn(usize),
    /// Drops the slot's actor (it goes down); the slot remembers its id.
    Down(usize),
    GetAndUpdate(usize, u8, u32),
    Allow(usize, usize, u8),
    /// A lazy allowance whose resolver names the live actors of these slots.
    AllowLazy(usize, Vec<usize>, u8),
    Fetch(Vec<usize>, u8),
    SetShared(usize),
    SetPrivate,
    Manual(usize),
    Cleanup(usize),
    GetOwned(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..SLOTS;
    let key = 0..KEYS;
    prop_oneof![
        3 => slot.clone().prop_map(Op::Spawn),
        1 => slot.clone().prop_map(Op::Down),
        4 => (slot.clone(), key.clone(), any::<u32>()).prop_map(|(s, k, v)| Op::GetAndUpdate(s, k, v)),
        4 => (slot.clone(), slot.clone(), key.clone()).prop_map(|(a, b, k)| Op::Allow(a, b, k)),
        2 => (slot.clone(), prop::collection::vec(slot.clone(), 0..3), key.clone())
            .prop_map(|(a, targets, k)| Op::AllowLazy(a, targets, k)),
        4 => (prop::collection::vec(slot.clone(), 0..4), key.clone()).prop_map(|(c, k)| Op::Fetch(c, k)),
        1 => slot.clone().prop_map(Op::SetShared),
        1 => Just(Op::SetPrivate),
        1 => slot.clone().prop_map(Op::Manual),
        1 => slot.clone().prop_map(Op::Cleanup),
        1 => slot.prop_map(Op::GetOwned),
    ]
}

/// The actors of the slots, shared with lazy resolvers (which read it when they run).
#[derive(Default)]
struct Slots {
    guards: Vec<Option<Actor>>,
    ids: Vec<Option<ActorId>>,
}

impl Slots {
    fn live(&self, slot: usize) -> Option<ActorId> {
        self.guards[slot].as_ref().map(Actor::id)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Unit,
    Updated(Option<u32>),
    Fetched(Option<Found>),
    Owned(BTreeMap<u8, u32>),
    Error(String),
}

fn error_kind(error: &OwnershipError<u8>) -> String {
    // The variant and its fields, e.g. "AlreadyAllowed { key: 1, actor: .., owner: .. }".
    format!("{error:?}")
}

/// A lazy allowance as the model sees it.
#[derive(Debug, Clone)]
struct LazyModel {
    key: u8,
    owner: ActorId,
    targets: Vec<usize>,
}

/// The rules, restated as plainly as possible.
#[derive(Default)]
struct Model {
    alive: BTreeSet<ActorId>,
    owned: BTreeMap<ActorId, BTreeMap<u8, u32>>,
    /// actor -> key -> root owner
    allowed: BTreeMap<ActorId, BTreeMap<u8, ActorId>>,
    manual: BTreeSet<ActorId>,
    lazy: Vec<LazyModel>,
    shared: Option<ActorId>,
}

impl Model {
    fn owns(&self, actor: ActorId, key: u8) -> bool {
        self.owned
            .get(&actor)
            .is_some_and(|keys| keys.contains_key(&key))
    }

    fn allowed_through(&self, actor: ActorId, key: u8) -> Option<ActorId> {
        self.allowed
            .get(&actor)
            .and_then(|keys| keys.get(&key).copied())
    }

    fn access_root(&self, actor: ActorId, key: u8) -> Option<ActorId> {
        self.allowed_through(actor, key)
            .or_else(|| self.owns(actor, key).then_some(actor))
    }

    fn lookup(&self, chain: &[ActorId], key: u8) -> Option<ActorId> {
        chain.iter().find_map(|&actor| self.access_root(actor, key))
    }

    fn add_allowance(&mut self, actor: ActorId, key: u8, owner: ActorId) {
        self.allowed.entry(actor).or_default().insert(key, owner);
    }

    /// Resolves the lazy allowances of `key`, in order; true if any resolved.
    fn resolve(&mut self, key: u8, slots: &Slots) -> bool {
        let mut resolved = false;
        let mut index = 0;
        while index < self.lazy.len() {
            let lazy = self.lazy[index].clone();
            if lazy.key != key {
                index += 1;
                continue;
            }
            let named: Vec<ActorId> = lazy.targets.iter().filter_map(|&s| slots.live(s)).collect();
            for &actor in &named {
                if !self.owns(actor, key) && self.allowed_through(actor, key).is_none() {
                    self.add_allowance(actor, key, lazy.owner);
                }
            }
            if named.is_empty() {
                index += 1;
            } else {
                self.lazy.remove(index);
                resolved = true;
            }
        }
        resolved
    }

    fn remove_owner(&mut self, owner: ActorId) {
        self.owned.remove(&owner);
        for keys in self.allowed.values_mut() {
            keys.retain(|_, root| *root != owner);
        }
        self.allowed.retain(|_, keys| !keys.is_empty());
        self.lazy.retain(|lazy| lazy.owner != owner);
    }

    fn down(&mut self, actor: ActorId) {
        self.alive.remove(&actor);
        if self.shared == Some(actor) {
            self.shared = None;
        }
        self.allowed.remove(&actor);
        if !self.manual.contains(&actor) {
            self.remove_owner(actor);
        }
    }

    fn get_and_update(&mut self, owner: ActorId, key: u8, value: u32, slots: &Slots) -> Answer {
        if let Some(shared) = self.shared
            && shared != owner
        {
            return Answer::Error(error_kind(&OwnershipError::NotSharedOwner {
                key,
                actor: owner,
                shared_owner: shared,
            }));
        }
        let owns = self.owns(owner, key);
        if !owns && self.lazy.iter().any(|lazy| lazy.key == key) {
            self.resolve(key, slots);
        }
        if let Some(other) = self.allowed_through(owner, key) {
            return Answer::Error(error_kind(&OwnershipError::AlreadyAllowed {
                key,
                actor: owner,
                owner: other,
            }));
        }
        if !owns && !self.alive.contains(&owner) {
            return Answer::Error(error_kind(&OwnershipError::ActorDown { key, actor: owner }));
        }
        Answer::Updated(self.owned.entry(owner).or_default().insert(key, value))
    }

    fn allow(&mut self, with: ActorId, target: ActorId, key: u8) -> Answer {
        if let Some(shared) = self.shared {
            return Answer::Error(error_kind(&OwnershipError::CantAllowInSharedMode {
                key,
                shared_owner: shared,
            }));
        }
        if self.owns(target, key) {
            return Answer::Error(error_kind(&OwnershipError::AlreadyAnOwner {
                key,
                actor: target,
            }));
        }
        let Some(root) = self.access_root(with, key) else {
            return Answer::Error(error_kind(&OwnershipError::NotAllowed { key, actor: with }));
        };
        match self.allowed_through(target, key) {
            Some(other) if other != root => {
                Answer::Error(error_kind(&OwnershipError::AlreadyAllowed {
                    key,
                    actor: target,
                    owner: other,
                }))
            }
            Some(_) => Answer::Unit,
            None if !self.alive.contains(&target) => {
                Answer::Error(error_kind(&OwnershipError::ActorDown {
                    key,
                    actor: target,
                }))
            }
            None => {
                self.add_allowance(target, key, root);
                Answer::Unit
            }
        }
    }

    fn allow_lazy(&mut self, with: ActorId, targets: Vec<usize>, key: u8) -> Answer {
        if let Some(shared) = self.shared {
            return Answer::Error(error_kind(&OwnershipError::CantAllowInSharedMode {
                key,
                shared_owner: shared,
            }));
        }
        let Some(owner) = self.access_root(with, key) else {
            return Answer::Error(error_kind(&OwnershipError::NotAllowed { key, actor: with }));
        };
        self.lazy.push(LazyModel {
            key,
            owner,
            targets,
        });
        Answer::Unit
    }

    fn fetch(&mut self, chain: &[ActorId], key: u8, slots: &Slots) -> Answer {
        if let Some(shared) = self.shared {
            return Answer::Fetched(Some(Found::SharedOwner(shared)));
        }
        if let Some(owner) = self.lookup(chain, key) {
            return Answer::Fetched(Some(Found::Owner(owner)));
        }
        if self.resolve(key, slots) {
            return Answer::Fetched(self.lookup(chain, key).map(Found::Owner));
        }
        Answer::Fetched(None)
    }

    fn cleanup(&mut self, owner: ActorId) {
        self.manual.remove(&owner);
        self.remove_owner(owner);
    }
}

/// Runs `ops` against both, comparing after every step.
fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let server: Ownership<u8, u32> = Ownership::new();
    let slots = Arc::new(Mutex::new(Slots {
        guards: (0..SLOTS).map(|_| None).collect(),
        ids: vec![None; SLOTS],
    }));
    let mut model = Model::default();

    for (step, op) in ops.into_iter().enumerate() {
        let id_of = |slot: usize| slots.lock().unwrap().ids[slot];
        let answers = match op.clone() {
            Op::Spawn(slot) => {
                let old = slots.lock().unwrap().guards[slot].take();
                if let Some(old) = old {
                    model.down(old.id());
                    drop(old);
                }
                let actor = Actor::named(format!("slot{slot}"));
                model.alive.insert(actor.id());
                let mut slots = slots.lock().unwrap();
                slots.ids[slot] = Some(actor.id());
                slots.guards[slot] = Some(actor);
                None
            }
            Op::Down(slot) => {
                let old = slots.lock().unwrap().guards[slot].take();
                if let Some(old) = old {
                    model.down(old.id());
                    drop(old);
                }
                None
            }
            Op::GetAndUpdate(slot, key, value) => id_of(slot).map(|owner| {
                let real = match server.get_and_update(owner, key, |old| (old.copied(), value)) {
                    Ok(old) => Answer::Updated(old),
                    Err(error) => Answer::Error(error_kind(&error)),
                };
                let model = model.get_and_update(owner, key, value, &slots.lock().unwrap());
                (real, model)
            }),
            Op::Allow(with, target, key) => id_of(with).zip(id_of(target)).map(|(with, target)| {
                let real = match server.allow(with, target, key) {
                    Ok(()) => Answer::Unit,
                    Err(error) => Answer::Error(error_kind(&error)),
                };
                (real, model.allow(with, target, key))
            }),
            Op::AllowLazy(with, targets, key) => id_of(with).map(|with| {
                let (resolver_slots, resolver_targets) = (slots.clone(), targets.clone());
                let resolver = ToAllow::lazy(move || {
                    let slots = resolver_slots.lock().unwrap();
                    resolver_targets
                        .iter()
                        .filter_map(|&s| slots.live(s))
                        .collect::<Vec<_>>()
                });
                let real = match server.allow(with, resolver, key) {
                    Ok(()) => Answer::Unit,
                    Err(error) => Answer::Error(error_kind(&error)),
                };
                (real, model.allow_lazy(with, targets, key))
            }),
            Op::Fetch(chain, key) => {
                let chain: Vec<ActorId> = chain.into_iter().filter_map(id_of).collect();
                let real = Answer::Fetched(server.fetch_owner(&chain, &key));
                let model = model.fetch(&chain, key, &slots.lock().unwrap());
                Some((real, model))
            }
            Op::SetShared(slot) => id_of(slot).map(|owner| {
                let real = match server.set_mode(Mode::Shared(owner)) {
                    Ok(()) => Answer::Unit,
                    Err(error) => Answer::Error(error.to_string()),
                };
                let model = if model.alive.contains(&owner) {
                    model.shared = Some(owner);
                    Answer::Unit
                } else {
                    Answer::Error(ownership_runtime::SharedOwnerDown { actor: owner }.to_string())
                };
                (real, model)
            }),
            Op::SetPrivate => {
                server.set_mode(Mode::Private).unwrap();
                model.shared = None;
                None
            }
            Op::Manual(slot) => {
                if let Some(owner) = id_of(slot) {
                    server.set_owner_to_manual_cleanup(owner);
                    if model.alive.contains(&owner) {
                        model.manual.insert(owner);
                    }
                }
                None
            }
            Op::Cleanup(slot) => {
                if let Some(owner) = id_of(slot) {
                    server.cleanup_owner(owner);
                    model.cleanup(owner);
                }
                None
            }
            Op::GetOwned(slot) => id_of(slot).map(|owner| {
                let real = Answer::Owned(server.get_owned(owner).into_iter().collect());
                let model = Answer::Owned(model.owned.get(&owner).cloned().unwrap_or_default());
                (real, model)
            }),
        };
        if let Some((real, expected)) = answers {
            prop_assert_eq!(real, expected, "answer of step {} ({:?})", step, op);
        }
        compare_state(&server, &model, step, &op)?;
    }
    Ok(())
}

fn compare_state(
    server: &Ownership<u8, u32>,
    model: &Model,
    step: usize,
    op: &Op,
) -> Result<(), TestCaseError> {
    let snapshot = server.snapshot();
    let mode = model.shared.map_or(Mode::Private, Mode::Shared);
    prop_assert_eq!(snapshot.mode, mode, "mode after step {} ({:?})", step, op);
    let owned: BTreeMap<ActorId, Vec<u8>> = snapshot
        .owned
        .into_iter()
        .map(|(actor, mut keys)| {
            keys.sort();
            (actor, keys)
        })
        .collect();
    let expected_owned: BTreeMap<ActorId, Vec<u8>> = model
        .owned
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(actor, keys)| (*actor, keys.keys().copied().collect()))
        .collect();
    prop_assert_eq!(
        owned,
        expected_owned,
        "owners after step {} ({:?})",
        step,
        op
    );
    let allowed: BTreeMap<ActorId, BTreeMap<u8, ActorId>> = snapshot
        .allowed
        .into_iter()
        .map(|(actor, keys)| (actor, keys.into_iter().collect()))
        .collect();
    let expected_allowed: BTreeMap<ActorId, BTreeMap<u8, ActorId>> = model
        .allowed
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(actor, keys)| (*actor, keys.clone()))
        .collect();
    prop_assert_eq!(
        allowed,
        expected_allowed,
        "allowances after step {} ({:?})",
        step,
        op
    );
    prop_assert_eq!(
        &snapshot.manual_cleanup,
        &model.manual,
        "manual cleanup after step {} ({:?})",
        step,
        op
    );
    let lazy: Vec<(u8, ActorId)> = model
        .lazy
        .iter()
        .map(|lazy| (lazy.key, lazy.owner))
        .collect();
    prop_assert_eq!(
        snapshot.lazy,
        lazy,
        "lazy allowances after step {} ({:?})",
        step,
        op
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_server_follows_the_model(ops in prop::collection::vec(op(), 1..60)) {
        check(ops)?;
    }
}
