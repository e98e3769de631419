//! Playing a suite on several players at once, results in suite order; optionally (certification)
//! in an order drawn from the seed, with the scenarios' worlds built ahead on a thread of their own,
//! so a player whose taps wait on another process (a reader program, pcscd) never waits for keys
//! and certificates.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use mynatap_sim::world::{Profiles, World, WorldError};

use super::{Entry, ScenarioResult, Suite, TapPlayer, build_world, play_in_world};

/// Runs the loaded scenarios on `jobs` threads; results come back in suite order. `on_done` is
/// called as each scenario finishes (for progress bars).
pub fn run_suite(
    suite: &Suite,
    seed: u64,
    jobs: usize,
    make_player: &(dyn Fn() -> Box<dyn TapPlayer> + Sync),
    on_done: &(dyn Fn(&ScenarioResult) + Sync),
) -> Vec<ScenarioResult> {
    run(suite, seed, jobs, false, make_player, on_done)
}

/// As [`run_suite`], with each world built ahead while the players play (certification: the
/// players mostly wait for a reader program, and a world takes milliseconds of CPU to build),
/// and the scenarios played in the order `play_order` draws from the seed, so a reader cannot
/// count its way through a suite it has read. Results still come back in suite order.
pub fn run_suite_prebuilt(
    suite: &Suite,
    seed: u64,
    jobs: usize,
    make_player: &(dyn Fn() -> Box<dyn TapPlayer> + Sync),
    on_done: &(dyn Fn(&ScenarioResult) + Sync),
) -> Vec<ScenarioResult> {
    run(suite, seed, jobs, true, make_player, on_done)
}

/// The order certification plays `count` scenarios in: a permutation drawn from the seed (so the
/// same seed replays the same run), the steps of each scenario kept in their order.
pub fn play_order(count: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(&mut mynatap_sim::pki::derive_rng(seed, "certify:play-order"));
    order
}

/// A world on its way to a player.
enum Slot {
    /// Nobody has started it.
    Waiting,
    /// The builder is at it.
    Building,
    Built(Box<Result<World, WorldError>>),
    /// A player has it (or builds it itself).
    Taken,
}

/// Worlds built ahead, in play order, at most `ahead` beyond the last one taken; slots are
/// indexed by play position.
struct Ahead {
    slots: Mutex<(Vec<Slot>, usize)>,
    changed: Condvar,
    ahead: usize,
}

impl Ahead {
    /// The world of play position `index`: built ahead, waited for while it is being built, or `None`
    /// (the builder has not reached it: the player builds it itself).
    fn take(&self, index: usize) -> Option<Result<World, WorldError>> {
        let mut guard = self.slots.lock().ok()?;
        guard.1 = guard.1.max(index + 1);
        self.changed.notify_all();
        loop {
            let slot = guard.0.get_mut(index)?;
            match std::mem::replace(slot, Slot::Taken) {
                Slot::Built(world) => return Some(*world),
                Slot::Waiting | Slot::Taken => return None,
                Slot::Building => {
                    *slot = Slot::Building;
                    guard = self.changed.wait(guard).ok()?;
                }
            }
        }
    }

    /// Builds every world in order, staying at most `ahead` entries in front of the players.
    fn build_all(&self, suite: &Suite, order: &[usize], seed: u64, profiles: &Profiles) {
        for (index, entry) in order.iter().map(|at| suite.entries.get(*at)).enumerate() {
            let Some(Entry::Loaded(scenario)) = entry else { continue };
            {
                let Ok(mut guard) = self.slots.lock() else { return };
                while index >= guard.1 + self.ahead {
                    let Ok(next) = self.changed.wait(guard) else { return };
                    guard = next;
                }
                match guard.0.get_mut(index) {
                    Some(slot @ Slot::Waiting) => *slot = Slot::Building,
                    _ => continue,
                }
            }
            let world = build_world(scenario, seed, profiles);
            if let Ok(mut guard) = self.slots.lock()
                && let Some(slot) = guard.0.get_mut(index)
            {
                *slot = Slot::Built(Box::new(world));
            }
            self.changed.notify_all();
        }
    }
}

fn run(
    suite: &Suite,
    seed: u64,
    jobs: usize,
    prebuild: bool,
    make_player: &(dyn Fn() -> Box<dyn TapPlayer> + Sync),
    on_done: &(dyn Fn(&ScenarioResult) + Sync),
) -> Vec<ScenarioResult> {
    let profiles = Profiles::default();
    let results: Vec<Mutex<Option<ScenarioResult>>> = suite.entries.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let order = if prebuild { play_order(suite.entries.len(), seed) } else { (0..suite.entries.len()).collect() };
    let jobs = jobs.max(1).min(suite.entries.len().max(1));
    let ahead = Ahead { slots: Mutex::new((suite.entries.iter().map(|_| Slot::Waiting).collect(), 0)), changed: Condvar::new(), ahead: jobs + 1 };
    std::thread::scope(|scope| {
        if prebuild {
            scope.spawn(|| ahead.build_all(suite, &order, seed, &profiles));
        }
        for _ in 0..jobs {
            scope.spawn(|| {
                let mut player = make_player();
                loop {
                    let position = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = order.get(position) else { break };
                    let Some(entry) = suite.entries.get(index) else { break };
                    let result = match entry {
                        Entry::Loaded(scenario) => {
                            let world = ahead.take(position).unwrap_or_else(|| build_world(scenario, seed, &profiles));
                            play_in_world(scenario, world, player.as_mut())
                        }
                        Entry::Broken(error) => ScenarioResult::broken(error),
                    };
                    on_done(&result);
                    if let Some(slot) = results.get(index)
                        && let Ok(mut slot) = slot.lock()
                    {
                        *slot = Some(result);
                    }
                }
                // The builder may wait for players that are done: let it finish.
                if let Ok(mut guard) = ahead.slots.lock() {
                    guard.1 = usize::MAX / 2;
                }
                ahead.changed.notify_all();
            });
        }
    });
    results.into_iter().filter_map(|slot| slot.into_inner().ok().flatten()).collect()
}

#[cfg(test)]
mod tests {
    use super::play_order;

    #[test]
    fn the_play_order_is_a_permutation_fixed_by_the_seed() {
        let order = play_order(60, 20250919);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..60).collect::<Vec<_>>());
        assert_ne!(order, sorted, "shuffled");
        assert_eq!(order, play_order(60, 20250919), "replayable");
        assert_ne!(order, play_order(60, 20250920));
    }
}
