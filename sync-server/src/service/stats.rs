//! Statistics of the closed loop, from server timestamps only (the change log's `at`), over a
//! date range and per grid, community, department and category.
//!
//! Definitions (docs/console.md has the long form):
//! - *received*: incidents whose report reached the server in `[from, to)`;
//! - *response rate*: of received incidents that were dispatched and whose response is decided
//!   (accepted, or the response deadline has passed), the share whose first dispatch was
//!   accepted within the category's response hours of that dispatch;
//! - *resolution rate*: received incidents now resolved, verified or closed after a `resolved`
//!   event, ÷ received;
//! - *time to resolve*: from receipt to the last `resolved` event; median (mean of the two middle
//!   values for an even count) and p90 (nearest rank);
//! - *overdue*: received incidents overdue now (`incident_flow::overdue`, deadlines from server
//!   times: resolve days from receipt or the dispatch's explicit deadline, response hours from the
//!   last dispatch);
//! - *patrol coverage*: distinct households visited (visits received in the range) ÷ households
//!   in the register, for grids and communities.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use gridline_core::access::{Principal, ScopeKeys};
use gridline_core::incident_flow::{self, CategoryDeadline, EventKind, IncidentStatus};
use gridline_core::record::Row;
use gridline_core::EntityKind;

use super::{area_path, Service};
use crate::error::AppError;
use crate::storage::console::{IncidentFact, StatsFacts};
use crate::storage::AreaParents;

/// The figures of one group (or of everything in scope).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Incidents received.
    pub received: u64,
    /// Dispatched incidents whose response is decided.
    pub dispatched: u64,
    /// Of those, accepted within the response deadline.
    pub responded_in_time: u64,
    /// Resolved (resolved, verified or closed after a resolution).
    pub resolved: u64,
    /// Overdue now.
    pub overdue: u64,
    /// Median time to resolve (ms).
    pub median_resolve_ms: Option<i64>,
    /// 90th percentile time to resolve (ms).
    pub p90_resolve_ms: Option<i64>,
    /// Households in the register (grids and communities only).
    pub households: u64,
    /// Distinct households visited in the range.
    pub visited_households: u64,
}

impl Stats {
    /// `responded_in_time ÷ dispatched`.
    pub fn response_rate(&self) -> Option<f64> {
        ratio(self.responded_in_time, self.dispatched)
    }
    /// `resolved ÷ received`.
    pub fn resolution_rate(&self) -> Option<f64> {
        ratio(self.resolved, self.received)
    }
    /// `visited_households ÷ households`.
    pub fn coverage(&self) -> Option<f64> {
        ratio(self.visited_households, self.households)
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// One group of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// Grid, community, department or category id.
    pub key: String,
    /// Its name.
    pub label: String,
    /// Its figures.
    pub stats: Stats,
}

/// Statistics over a range: totals, breakdowns, and the received count per day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Range start (server ms, inclusive).
    pub from: i64,
    /// Range end (server ms, exclusive).
    pub to: i64,
    /// Everything in the caller's scope.
    pub total: Stats,
    /// Per grid.
    pub by_grid: Vec<Group>,
    /// Per community.
    pub by_community: Vec<Group>,
    /// Per department (current department of dispatched incidents).
    pub by_department: Vec<Group>,
    /// Per category.
    pub by_category: Vec<Group>,
    /// Per day (UTC+8 calendar days): (day start ms, received, resolved among them).
    pub per_day: Vec<(i64, u64, u64)>,
}

/// What one incident contributes.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    decided: bool,
    in_time: bool,
    resolved_after: Option<i64>,
    overdue: bool,
}

fn outcome(i: &IncidentFact, deadline: &CategoryDeadline, now: i64) -> Outcome {
    let kind = |k: &str| EventKind::parse(k);
    let mut o = Outcome::default();
    if let Some(first) = i.events.iter().position(|e| kind(&e.kind) == Some(EventKind::Dispatched)) {
        let due = incident_flow::response_due(i.events[first].at, deadline);
        let accepted = i.events[first + 1..].iter().find(|e| kind(&e.kind) == Some(EventKind::Accepted));
        match accepted {
            Some(a) => {
                o.decided = true;
                o.in_time = a.at <= due;
            }
            None => o.decided = now > due,
        }
    }
    let status = IncidentStatus::parse(&i.status).unwrap_or(IncidentStatus::Reported);
    let last_resolved = i.events.iter().rev().find(|e| kind(&e.kind) == Some(EventKind::Resolved));
    if !incident_flow::is_open(status) {
        if let Some(r) = last_resolved {
            o.resolved_after = Some(r.at - i.received_at);
        }
    }
    let last_dispatch = i.events.iter().rev().find(|e| kind(&e.kind) == Some(EventKind::Dispatched));
    let response_due = last_dispatch.map(|d| incident_flow::response_due(d.at, deadline));
    let resolve_due = last_dispatch
        .and_then(|d| d.deadline_at)
        .unwrap_or_else(|| incident_flow::resolve_due(i.received_at, deadline));
    o.overdue = incident_flow::overdue(status, now, response_due, Some(resolve_due));
    o
}

/// Median (mean of the middle two for an even count) and p90 (nearest rank) of `v`.
pub fn median_p90(v: &mut [i64]) -> (Option<i64>, Option<i64>) {
    if v.is_empty() {
        return (None, None);
    }
    v.sort_unstable();
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 };
    let rank = (n * 9).div_ceil(10).max(1);
    (Some(median), Some(v[rank - 1]))
}

#[derive(Default)]
struct Acc {
    stats: Stats,
    times: Vec<i64>,
}

impl Acc {
    fn add(&mut self, o: &Outcome) {
        let s = &mut self.stats;
        s.received += 1;
        s.dispatched += o.decided as u64;
        s.responded_in_time += (o.decided && o.in_time) as u64;
        s.overdue += o.overdue as u64;
        if let Some(t) = o.resolved_after {
            s.resolved += 1;
            self.times.push(t);
        }
    }
    fn finish(mut self) -> Stats {
        let (m, p) = median_p90(&mut self.times);
        self.stats.median_resolve_ms = m;
        self.stats.p90_resolve_ms = p;
        self.stats
    }
}

/// Names for labels.
pub struct Names {
    /// Area id → (name, parent id, kind).
    pub areas: HashMap<String, (String, Option<String>, String)>,
    /// Department id → name.
    pub departments: HashMap<String, String>,
    /// Category code → (name, deadline).
    pub categories: HashMap<String, (String, CategoryDeadline)>,
}

impl Names {
    /// From the reference rows.
    pub fn from_rows(areas: &[Row], departments: &[Row], categories: &[Row]) -> Names {
        let s = |r: &Row, k: &str| r.fields.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let n = |r: &Row, k: &str| r.fields.get(k).and_then(|v| v.as_i64()).unwrap_or(0).clamp(0, u32::MAX as i64) as u32;
        Names {
            areas: areas
                .iter()
                .map(|r| {
                    let parent = r.fields.get("parent_id").and_then(|v| v.as_str()).map(str::to_owned);
                    (r.id.clone(), (s(r, "name"), parent, s(r, "kind")))
                })
                .collect(),
            departments: departments.iter().map(|r| (r.id.clone(), s(r, "name"))).collect(),
            categories: categories
                .iter()
                .map(|r| (r.id.clone(), (s(r, "name"), CategoryDeadline { response_hours: n(r, "response_hours"), resolve_days: n(r, "resolve_days") })))
                .collect(),
        }
    }

    /// The jurisdiction tree.
    pub fn parents(&self) -> AreaParents {
        self.areas.iter().map(|(k, (_, p, _))| (k.clone(), p.clone())).collect()
    }

    /// An area's name (its id when unknown).
    pub fn area(&self, id: &str) -> String {
        self.areas.get(id).map(|a| a.0.clone()).unwrap_or_else(|| id.to_owned())
    }

    /// The community (nearest ancestor of kind community/village) of a grid.
    pub fn community_of(&self, grid: &str) -> Option<String> {
        let mut cur = self.areas.get(grid)?.1.clone();
        for _ in 0..16 {
            let id = cur?;
            let (_, parent, kind) = self.areas.get(&id)?;
            if kind == "community" || kind == "village" {
                return Some(id);
            }
            cur = parent.clone();
        }
        None
    }
}

/// Beijing time offset, for calendar days.
pub const CST_OFFSET_MS: i64 = 8 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Start (ms) of the UTC+8 calendar day holding `t`.
pub fn day_start(t: i64) -> i64 {
    (t + CST_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - CST_OFFSET_MS
}

/// Computes the report from facts, for `who`'s scope, at `now`.
pub fn compute(who: &Principal, facts: &StatsFacts, names: &Names, from: i64, to: i64, now: i64) -> Report {
    let parents = names.parents();
    let mut paths: HashMap<String, Vec<String>> = HashMap::new();
    let mut path_of = |grid: &str| paths.entry(grid.to_owned()).or_insert_with(|| area_path(&parents, grid)).clone();
    let default_deadline = CategoryDeadline { response_hours: 24, resolve_days: 15 };
    let mut total = Acc::default();
    let mut groups: [BTreeMap<String, Acc>; 4] = Default::default();
    let mut days: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let mut d = day_start(from);
    while d < to && days.len() < 400 {
        days.insert(d, (0, 0));
        d += DAY_MS;
    }
    for i in &facts.incidents {
        let keys = ScopeKeys {
            area_id: Some(i.grid_id.clone()),
            building_id: i.building_id.clone(),
            department_id: i.department_id.clone(),
            owner_id: None,
        };
        let path = path_of(&i.grid_id);
        if !who.can_read(EntityKind::Incident, &keys.target(&path)) {
            continue;
        }
        let deadline = names.categories.get(&i.category).map(|c| c.1).unwrap_or(default_deadline);
        let o = outcome(i, &deadline, now);
        total.add(&o);
        groups[0].entry(i.grid_id.clone()).or_default().add(&o);
        if let Some(c) = names.community_of(&i.grid_id) {
            groups[1].entry(c).or_default().add(&o);
        }
        if let Some(dep) = &i.department_id {
            groups[2].entry(dep.clone()).or_default().add(&o);
        }
        groups[3].entry(i.category.clone()).or_default().add(&o);
        let day = days.entry(day_start(i.received_at)).or_default();
        day.0 += 1;
        day.1 += o.resolved_after.is_some() as u64;
    }
    // Coverage: grids in scope (supervisors, grid workers, admins see whole grids).
    let mut coverage: [BTreeMap<String, (u64, u64)>; 2] = Default::default();
    for (grid, &n) in &facts.households_per_grid {
        let path = path_of(grid);
        let t = ScopeKeys { area_id: Some(grid.clone()), ..ScopeKeys::default() };
        if !who.can_read(EntityKind::Visit, &t.target(&path)) {
            continue;
        }
        let visited = facts.visited_per_grid.get(grid).copied().unwrap_or(0).min(n) as u64;
        let put = |m: &mut BTreeMap<String, (u64, u64)>, k: String| {
            let e = m.entry(k).or_default();
            e.0 += n as u64;
            e.1 += visited;
        };
        put(&mut coverage[0], grid.clone());
        if let Some(c) = names.community_of(grid) {
            put(&mut coverage[1], c);
        }
        total.stats.households += n as u64;
        total.stats.visited_households += visited;
    }
    for (i, cov) in coverage.iter().enumerate() {
        for (k, (h, v)) in cov {
            let acc = groups[i].entry(k.clone()).or_default();
            acc.stats.households = *h;
            acc.stats.visited_households = *v;
        }
    }
    let [g, c, dp, ct] = groups;
    let label_area = |k: &str| names.area(k);
    let finish = |m: BTreeMap<String, Acc>, label: &dyn Fn(&str) -> String| -> Vec<Group> {
        m.into_iter().map(|(k, a)| Group { label: label(&k), key: k, stats: a.finish() }).collect()
    };
    Report {
        from,
        to,
        total: total.finish(),
        by_grid: finish(g, &label_area),
        by_community: finish(c, &label_area),
        by_department: finish(dp, &|k| names.departments.get(k).cloned().unwrap_or_else(|| k.to_owned())),
        by_category: finish(ct, &|k| names.categories.get(k).map(|c| c.0.clone()).unwrap_or_else(|| k.to_owned())),
        per_day: days.into_iter().map(|(d, (a, b))| (d, a, b)).collect(),
    }
}

impl Service {
    /// Reference names and deadlines.
    pub fn names(&self) -> Result<Names, AppError> {
        let c = self.storage.console();
        Ok(Names::from_rows(&c.all(EntityKind::Area)?, &c.all(EntityKind::Department)?, &c.all(EntityKind::Category)?))
    }

    /// The statistics over `[from, to)` (server time) for `who`'s scope, as of now.
    pub fn stats(&self, who: &Principal, from: i64, to: i64) -> Result<Report, AppError> {
        if to <= from {
            return Err(AppError::bad_request("`to` must be after `from`", "结束日期须晚于开始日期"));
        }
        let facts = self.storage.console().stats_facts(from, to)?;
        Ok(compute(who, &facts, &self.names()?, from, to, self.now_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90() {
        assert_eq!(median_p90(&mut []), (None, None));
        assert_eq!(median_p90(&mut [5]), (Some(5), Some(5)));
        assert_eq!(median_p90(&mut [4, 1, 3, 2]), (Some(2), Some(4)));
        let mut v: Vec<i64> = (1..=20).collect();
        assert_eq!(median_p90(&mut v), (Some(10), Some(18)));
    }

    #[test]
    fn day_start_is_beijing_midnight() {
        // 2024-05-01 00:30 +08:00 = 2024-04-30 16:30 UTC.
        let t = 1_714_494_600_000;
        assert_eq!(day_start(t), 1_714_492_800_000);
        assert_eq!(day_start(day_start(t)), day_start(t));
    }
}
